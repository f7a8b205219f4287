"""``flo accounts``: add, list, verify, remove and choose the default account."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

from flo_twilio.accounts import (
    ENV_NICKNAME,
    Account,
    AccountStore,
    check_nickname,
    check_twilio_values,
    from_environment,
    resolve_account,
)
from flo_twilio.errors import AccountError, InvalidInputError, Problem, TwilioApiError
from flo_twilio.plugins import load_registry


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``flo accounts`` on ``commands``."""
    accounts = commands.add_parser("accounts", help="connect Twilio accounts by nickname")
    sub = accounts.add_subparsers(title="accounts commands", metavar="COMMAND", required=True)

    add = sub.add_parser("add", help="connect an account (verifies the credentials first)")
    add.add_argument("nickname")
    add.add_argument("--account-sid", help="AC... (asked for when omitted)")
    add.add_argument("--auth-token", metavar="-", help="'-' to read the Auth Token from stdin")
    add.add_argument("--api-key", help="SK...: use an API key instead of the Auth Token")
    add.add_argument(
        "--api-secret", metavar="-", help="'-' to read the API key's secret from stdin"
    )
    add.add_argument("--region", help="e.g. ie1")
    add.add_argument("--edge", help="e.g. dublin")
    add.add_argument(
        "--api-base-url", help="a Twilio-compatible server, e.g. http://127.0.0.1:4010"
    )
    add.add_argument(
        "--max-in-flight", type=int, help="requests in flight at once for this account (default 25)"
    )
    add.add_argument("--no-verify", action="store_true", help="store without checking with Twilio")
    add.add_argument(
        "--mint-api-key",
        action="store_true",
        help="use the Auth Token once to create an API key, and store only the key",
    )
    add.add_argument("--default", action="store_true", help="make it the default account")
    add.add_argument(
        "--replace", action="store_true", help="replace the account already called NICKNAME"
    )
    add.set_defaults(handler=accounts_add)

    listing = sub.add_parser("list", help="list connected accounts (never their secrets)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=accounts_list)

    for name, handler, text in (
        ("verify", accounts_verify, "check an account's credentials with Twilio"),
        ("remove", accounts_remove, "forget an account and its secret"),
        ("default", accounts_default, "make an account the default"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("nickname")
        command.set_defaults(handler=handler)


def read_secret(flag: str, value: str | None, prompt: str) -> str | None:
    """A secret from stdin (``-``) or a hidden prompt; never from the command line."""
    if value is None:
        return None
    if value != "-":
        raise InvalidInputError(
            f"{flag} takes '-' and reads the secret from stdin: a secret on the command "
            "line is visible to other users of this machine and kept in shell history"
        )
    if sys.stdin.isatty():
        return getpass.getpass(prompt).strip()
    return sys.stdin.readline().strip()


def accounts_add(args: argparse.Namespace) -> int:
    nickname = check_nickname(args.nickname)
    if nickname == ENV_NICKNAME:
        raise InvalidInputError(
            "'env' is the account from TWILIO_* environment variables; pick another nickname"
        )
    store = AccountStore()
    if nickname in store.nicknames() and not args.replace:
        raise InvalidInputError(
            [
                Problem(
                    f"there is already an account called {nickname!r}",
                    hint="pass --replace to replace it, or pick another nickname (flo accounts list)",
                )
            ]
        )
    sid = args.account_sid
    token = read_secret("--auth-token", args.auth_token, "Auth Token: ")
    secret = read_secret("--api-secret", args.api_secret, "API key secret: ")
    if sid is None:
        if not sys.stdin.isatty():
            raise InvalidInputError("--account-sid is required when not run at a terminal")
        sid = input("Account SID: ").strip()
    if token is None and not args.api_key:
        if not sys.stdin.isatty():
            raise InvalidInputError(
                "pass --auth-token - with the token on stdin (or --api-key with --api-secret -)"
            )
        token = getpass.getpass("Auth Token: ").strip()
    values = {"account_sid": sid}
    for name in ("api_key", "region", "edge", "api_base_url", "max_in_flight"):
        if getattr(args, name) is not None:
            values[name] = str(getattr(args, name))
    secrets = {"api_secret": secret or ""} if args.api_key else {"auth_token": token or ""}
    check_twilio_values(values, secrets)
    account = Account(nickname, values=values, secrets=secrets)
    if args.mint_api_key:
        if args.api_key:
            raise InvalidInputError("--mint-api-key needs the Auth Token, not an API key")
        asyncio.run(mint_api_key(account))
    if not args.no_verify:
        account.facts = asyncio.run(verify(account))
    first = not store.default()
    store.save(account, make_default=args.default)
    facts = ", ".join(str(v) for v in account.facts.values() if v)
    print(
        f"connected {nickname} ({sid}{'; ' + facts if facts else ''}); "
        f"secret kept in {'the OS keyring' if account.secret_store == 'keyring' else store.path}",
        file=sys.stderr,
    )
    if first and not args.default:
        print(
            f"{nickname} is the default account (the first one added): flows run on it "
            "unless they name another; change it with flo accounts default NICKNAME",
            file=sys.stderr,
        )
    return 0


async def verify(account: Account) -> dict[str, Any]:
    """Check the credentials with one API call; a refusal is an AccountError."""
    connection = load_registry().connection(account.connection)
    try:
        async with connection.connect(account.connection_values()) as client:
            facts: dict[str, Any] = await connection.verify(client)
            return facts
    except TwilioApiError as exc:
        if exc.status == 401:
            raise AccountError(
                f"the credentials of {account.nickname!r} were refused: {exc}"
            ) from None
        raise


async def mint_api_key(account: Account) -> None:
    """Replace the account's Auth Token by a new API key made with it."""
    connection = load_registry().connection(account.connection)
    async with connection.connect(account.connection_values()) as client:
        key = await client.create_api_key(f"flo-twilio {account.nickname}")
    account.values["api_key"] = key["sid"]
    account.secrets = {"api_secret": key["secret"]}


def accounts_list(args: argparse.Namespace) -> int:
    store = AccountStore()
    default = store.default()
    accounts = [store.get(n) for n in store.nicknames()]
    env = from_environment()
    rows = [
        {**a.public(), "api_host": api_host(a), "default": a.nickname == default}
        for a in [*accounts, *([env] if env else [])]
    ]
    if args.json:
        from flo_twilio.cli import print_json

        print_json(rows)
        return 0
    if not rows:
        print(
            "no accounts yet: flo accounts add NICKNAME (flows run on the built-in sandbox meanwhile)"
        )
    for row in rows:
        mark = "*" if row["default"] else " "
        about = ", ".join(str(row[k]) for k in ("friendly_name", "type") if row.get(k))
        print(
            f"{mark} {row['nickname']:<16} {row['account_sid']}  {row['api_host']:<28} "
            f"{row['auth']:<10} secret in {row['secret_kept_in']:<11} {about}"
        )
    return 0


def api_host(account: Account) -> str:
    """Where the account's requests go, e.g. https://api.twilio.com."""
    from flo_twilio.client.urls import base_url

    values = account.values
    return base_url(
        region=values.get("region"),
        edge=values.get("edge"),
        api_base_url=values.get("api_base_url"),
    )


def accounts_verify(args: argparse.Namespace) -> int:
    account = resolve_account(args.nickname)
    assert account is not None
    facts = asyncio.run(verify(account))
    print(
        f"{args.nickname}: credentials accepted ({', '.join(str(v) for v in facts.values() if v)})"
    )
    return 0


def accounts_remove(args: argparse.Namespace) -> int:
    AccountStore().remove(args.nickname)
    print(f"removed {args.nickname}", file=sys.stderr)
    return 0


def accounts_default(args: argparse.Namespace) -> int:
    AccountStore().set_default(args.nickname)
    print(f"{args.nickname} is now the default account", file=sys.stderr)
    return 0
