"""``flo accounts``: add, list, verify, remove and choose the default account.

``flo accounts add`` is built from the connection type chosen with ``--type`` (Twilio by
default): one option per field of the type, secrets only from stdin or a hidden prompt,
and the type's own checks. A plugin's connection type needs no code here.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from flo_twilio.cli.output import print_json
from flo_twilio.errors import (
    CredentialsRefusedError,
    InvalidInputError,
    PluginError,
    Problem,
    ProviderError,
)

if TYPE_CHECKING:
    from flo_twilio.accounts import Account
    from flo_twilio.connection import ConnectionType, Field

DEFAULT_TYPE = "twilio"  # flo-twilio's own kind of account
# What flo accounts add names itself: a connection type's fields cannot be called so.
RESERVED = frozenset({"nickname", "type", "no_verify", "default", "replace", "mint_api_key"})


class LateOptions(argparse.ArgumentParser):
    """A parser that can add options when it runs rather than when it is built: those of
    ``flo accounts add`` come from a plugin, and no other command should load plugins."""

    late_options: Callable[[argparse.ArgumentParser, Sequence[str]], None] | None = None

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        add = self.late_options
        if add is not None:
            self.late_options = None  # added once, however often it parses
            add(self, list(sys.argv[1:] if args is None else args))
        return super().parse_known_args(args, namespace)


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``flo accounts`` on ``commands``."""
    accounts = commands.add_parser("accounts", help="connect accounts by nickname")
    sub = accounts.add_subparsers(
        title="accounts commands",
        metavar="COMMAND",
        required=True,
        # the CLI's own parser class (it answers errors in JSON too), with late options
        parser_class=type("AccountsParser", (LateOptions, type(accounts)), {}),
    )

    add = sub.add_parser(
        "add",
        help="connect an account (verifies the credentials first)",
        allow_abbrev=False,  # --type is read before the options exist: no --ty for it
    )
    add.add_argument("nickname")
    add.add_argument(
        "--no-verify", action="store_true", help="store without checking the credentials"
    )
    add.add_argument("--default", action="store_true", help="make it the default account")
    add.add_argument(
        "--replace", action="store_true", help="replace the account already called NICKNAME"
    )
    add.set_defaults(handler=accounts_add)
    add.late_options = add_type_options

    listing = sub.add_parser("list", help="list connected accounts (never their secrets)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=accounts_list)

    for name, handler, text in (
        ("verify", accounts_verify, "check an account's credentials with its API"),
        ("remove", accounts_remove, "forget an account and its secret"),
        ("default", accounts_default, "make an account the default"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("nickname")
        command.set_defaults(handler=handler)


def add_type_options(parser: argparse.ArgumentParser, args: Sequence[str]) -> None:
    """``--type``, and one option per field of the type it names (``--mint-api-key`` too
    when the type can mint keys)."""
    chosen = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    chosen.add_argument("--type", default=DEFAULT_TYPE)
    try:
        name = chosen.parse_known_args(args)[0].type
    except argparse.ArgumentError:  # --type without a value: the command's parser says so
        name = DEFAULT_TYPE
    from flo_twilio.plugins import load_registry

    registry = load_registry()
    kind = registry.connection(name)
    parser.add_argument(
        "--type",
        default=DEFAULT_TYPE,
        metavar="|".join(sorted(registry.connections)),
        help=f"the kind of account (default {DEFAULT_TYPE})",
    )
    taken = [f.name for f in kind.fields if f.name in RESERVED]
    if taken:
        raise PluginError(
            f"the connection type {kind.name!r} has fields flo accounts add uses itself: "
            + ", ".join(taken)
        )
    try:
        for f in kind.fields:
            if f.secret:
                text = f"'-' to read the {f.label} from stdin: {f.description}"
                parser.add_argument(option(f), metavar="-", dest=f.name, help=text)
            elif f.repeatable:
                parser.add_argument(option(f), dest=f.name, action="append", help=f.description)
            else:
                asked = " (asked for when omitted)" if f.required else ""
                parser.add_argument(option(f), dest=f.name, help=f.description + asked)
        if kind.mint_key is not None:
            parser.add_argument(
                "--mint-api-key",
                action="store_true",
                help="use the secret given once to create an API key, and store only the key",
            )
    except argparse.ArgumentError as exc:
        raise PluginError(
            f"the connection type {kind.name!r} has a field flo accounts add cannot offer: {exc}"
        ) from None


def option(f: Field) -> str:
    """The command-line option of a field, e.g. --account-sid."""
    return "--" + f.name.replace("_", "-")


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


def given_values(kind: ConnectionType[Any], args: argparse.Namespace) -> dict[str, str]:
    """The fields given on the command line (secrets read from stdin), then at a terminal
    those still needed, asked for; elsewhere each missing one is an error saying how."""
    values: dict[str, str] = {}
    for f in kind.fields:
        given = getattr(args, f.name)
        if f.secret:
            given = read_secret(option(f), given, f"{f.label}: ")
        if isinstance(given, list):  # a repeatable field's values
            given = ",".join(given)
        if given is not None:
            values[f.name] = str(given)
    missing = [f for f in kind.fields if f.needed(values) and f.name not in values]
    if missing and not sys.stdin.isatty():
        raise InvalidInputError([how_to_give(kind, f) for f in missing])
    for f in missing:
        if f.needed(values):  # a field asked for before may have made it unnecessary
            values[f.name] = ask(kind, f)
    return values


PROMPT_TRIES = 3


def ask(kind: ConnectionType[Any], f: Field) -> str:
    """The field typed at the terminal, checked as soon as it is entered: what is wrong is
    said and the field asked for again (``PROMPT_TRIES`` times in all)."""
    for _ in range(PROMPT_TRIES):
        value = (getpass.getpass if f.secret else input)(f"{f.label}: ").strip()
        problems = kind.check({f.name: value})
        if not problems:
            return value
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
    raise InvalidInputError(problems)


def how_to_give(kind: ConnectionType[Any], f: Field) -> Problem:
    """What to pass for a missing field when nobody can be asked."""
    hint = f"pass {option(f)} - with the {f.label} on stdin" if f.secret else ""
    if f.required_without:
        hint += f", or {option(kind.field(f.required_without))}"
    return Problem(f"{option(f)} is required when not run at a terminal", hint=hint)


def accounts_add(args: argparse.Namespace) -> int:
    import asyncio

    from flo_twilio.accounts import ENV_NICKNAME, Account, AccountStore, check_nickname
    from flo_twilio.plugins import load_registry

    kind = load_registry().connection(args.type)
    nickname = check_nickname(args.nickname)
    if nickname == ENV_NICKNAME:
        raise InvalidInputError(
            "'env' is the account from environment variables (e.g. TWILIO_*); pick another nickname"
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
    given = given_values(kind, args)
    problems = kind.problems(given)
    if problems:
        raise InvalidInputError(problems)
    if getattr(args, "mint_api_key", False) and kind.mint_key is not None:
        minted = asyncio.run(kind.mint_key(given, nickname))
        given = {k: v for k, v in given.items() if k not in kind.secret_fields} | minted
    account = Account(
        nickname,
        kind.name,
        values={k: v for k, v in given.items() if k not in kind.secret_fields},
        secrets={k: v for k, v in given.items() if k in kind.secret_fields},
    )
    if not args.no_verify:
        account.facts = asyncio.run(verify(account))
    first = not store.default()
    store.save(account, make_default=args.default)
    facts = ", ".join(str(v) for v in account.facts.values() if v)
    identity = next(iter(kind.describe(account.values).values()), kind.title)
    print(
        f"connected {nickname} ({identity}{'; ' + facts if facts else ''}); "
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
    """Check the credentials with one API call; a refusal is a CredentialsRefusedError."""
    from flo_twilio.plugins import load_registry

    connection = load_registry().connection(account.connection)
    try:
        async with connection.connect(account.connection_values()) as client:
            facts: dict[str, Any] = await connection.verify(client)
            return facts
    except ProviderError as exc:
        if exc.status == 401:
            raise CredentialsRefusedError(
                f"the credentials of {account.nickname!r} were refused: {exc}"
            ) from None
        raise


def accounts_list(args: argparse.Namespace) -> int:
    from flo_twilio.accounts import AccountStore, from_environment
    from flo_twilio.plugins import load_registry

    connections = load_registry().connections
    store = AccountStore(connections=connections)
    default = store.default()
    env = from_environment(connections=connections)
    accounts = [*(store.get(n) for n in store.nicknames()), *([env] if env else [])]
    rows = [
        {**a.public(connections[a.connection]), "default": a.nickname == default} for a in accounts
    ]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(
            "no accounts yet: flo accounts add NICKNAME (flows run on the built-in sandbox meanwhile)"
        )
    for account, row in zip(accounts, rows, strict=True):
        mark = "*" if row["default"] else " "
        shown = "  ".join(connections[account.connection].describe(account.values).values())
        about = ", ".join(str(v) for v in account.facts.values() if v)
        print(
            f"{mark} {account.nickname:<16} {shown}  secret in {account.secret_store:<11} {about}"
        )
    return 0


def accounts_verify(args: argparse.Namespace) -> int:
    import asyncio

    from flo_twilio.accounts import resolve_account

    account = resolve_account(args.nickname)
    assert account is not None
    facts = asyncio.run(verify(account))
    print(
        f"{args.nickname}: credentials accepted ({', '.join(str(v) for v in facts.values() if v)})"
    )
    return 0


def accounts_remove(args: argparse.Namespace) -> int:
    from flo_twilio.accounts import AccountStore

    AccountStore().remove(args.nickname)
    print(f"removed {args.nickname}", file=sys.stderr)
    return 0


def accounts_default(args: argparse.Namespace) -> int:
    from flo_twilio.accounts import AccountStore

    AccountStore().set_default(args.nickname)
    print(f"{args.nickname} is now the default account", file=sys.stderr)
    return 0
