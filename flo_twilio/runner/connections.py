"""Open a connection for an account: the card context every card call gets."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from flo_twilio.accounts import Account, resolve_account
from flo_twilio.card import CardContext
from flo_twilio.plugins import Registry


def choose_account(nickname: str | None, *, quiet: bool = False) -> Account:
    """The named, environment or default account; else the built-in sandbox (said on stderr)."""
    account = resolve_account(nickname)
    if account is not None:
        return account
    from flo_twilio.sandbox.embedded import NOTICE, embedded_account

    if not quiet:
        print(NOTICE, file=sys.stderr)
    return embedded_account()


@asynccontextmanager
async def connected(
    registry: Registry, account: Account, transport: Any = None
) -> AsyncIterator[CardContext]:
    """A CardContext whose client is connected as ``account`` for the block's duration."""
    connection = registry.connection(account.connection)
    if transport is None and account.secret_store == "embedded":
        from flo_twilio.sandbox.embedded import embedded_transport

        transport = embedded_transport()
    extra = {"transport": transport} if transport is not None else {}
    async with connection.connect(account.connection_values(), **extra) as client:
        facts = {"sid": account.values.get("account_sid"), "nickname": account.nickname}
        yield CardContext(client, facts)
