"""Which account a command runs on: the one named, the environment's or the default; else
the built-in sandbox (an in-process Twilio-compatible API), said on stderr. The runner gets
the account chosen here, with the transport that reaches it."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

from flo_twilio.accounts import Account, flo_home, resolve_account
from flo_twilio.errors import AccountError, InvalidInputError, Problem

BUILTIN = "sandbox"  # the built-in sandbox's nickname
BUILTIN_STORE = "embedded"  # its secret_store: its secrets are the sandbox's own
RETRIES_VARIABLE = "FLO_RETRIES"
NOTICE = (
    "sandbox: no account configured, running against the built-in sandbox; "
    "no message left this machine"
)


def choose_account(nickname: str | None, *, quiet: bool = False) -> tuple[Account, Any]:
    """The named, environment or default account and no transport (the network); else the
    built-in sandbox and its in-process transport (said on stderr unless ``quiet``)."""
    account = resolve_account(nickname)
    if account is not None:
        return network_account(account)
    if not quiet:
        print(NOTICE, file=sys.stderr)
    return builtin_sandbox()


def account_of_run(record: dict[str, Any]) -> tuple[Account, Any]:
    """The account a run started on, found again from its record: by its nickname, or the
    built-in sandbox when it ran there."""
    arguments = record["arguments"]
    if arguments.get("embedded", record["account"] == BUILTIN):
        return builtin_sandbox()
    account = resolve_account(record["account"])
    if account is None:
        raise AccountError(
            f"run {record['id']} ran on account {record['account']!r}, which is gone"
        )
    return network_account(account)


def network_account(account: Account) -> tuple[Account, Any]:
    """``account`` and no transport: the client's own, over the network, this process's
    only aiohttp user (``alone_in_process``: aiohttp's TLS contexts, which it never uses,
    stay empty)."""
    from flo_twilio.client import alone_in_process

    alone_in_process()
    return account, None


def origin(account: Account, named: str | None) -> dict[str, Any]:
    """What a run keeps to find its account again: the nickname asked for, and whether it
    is the built-in sandbox."""
    return {"account": named, "embedded": account.secret_store == BUILTIN_STORE}


def builtin_sandbox() -> tuple[Account, Any]:
    """The built-in sandbox's account, and a transport that answers from it in this process
    (its messages kept in $FLO_HOME/sandbox.db, so a later process can resume a run)."""
    from flo_twilio.sandbox import embedded
    from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

    account = Account(
        BUILTIN,
        "twilio",
        values={"account_sid": DEFAULT_ACCOUNT_SID, "api_base_url": "http://127.0.0.1"},
        secret_store=BUILTIN_STORE,
        secrets={"auth_token": DEFAULT_AUTH_TOKEN},
    )
    return account, embedded.embedded_transport(flo_home() / "sandbox.db")


def with_retries(account: Account, retries: str | None) -> Account:
    """``account`` with the client's tries again set by ``--retries``, else $FLO_RETRIES,
    else as it is (for a connection type that has a ``retries`` field)."""
    text = retries if retries is not None else os.environ.get(RETRIES_VARIABLE, "").strip()
    if not text:
        return account
    from flo_twilio.accounts import connection_types

    kind = connection_types().get(account.connection)
    if kind is None or "retries" not in {f.name for f in kind.fields}:
        return account
    where = "--retries" if retries is not None else RETRIES_VARIABLE
    problems = [p for p in kind.check({"retries": text}) if "retries" in p.message]
    if problems:
        raise InvalidInputError([Problem(p.message, where, p.hint) for p in problems])
    return dataclasses.replace(account, values={**account.values, "retries": text})
