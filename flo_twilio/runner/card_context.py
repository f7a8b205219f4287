"""Open an account's connection: the card context every card call of a run gets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from flo_twilio.accounts import Account
from flo_twilio.card import CardContext
from flo_twilio.connection import SharedLimits
from flo_twilio.plugins import Registry


@asynccontextmanager
async def open_context(
    registry: Registry,
    account: Account,
    transport: Any = None,
    *,
    limits: SharedLimits | None = None,
) -> AsyncIterator[CardContext]:
    """A CardContext whose client is connected as ``account`` for the block's duration;
    ``transport``, when given, carries its requests (an in-process sandbox, a test's);
    ``limits``, when given, holds the account's caps across the processes sharing them."""
    kind = registry.connection(account.connection)
    extra: dict[str, Any] = {"transport": transport} if transport is not None else {}
    if limits is not None:
        extra["limits"] = limits
    async with kind.connect(account.connection_values(), **extra) as client:
        yield CardContext(
            client,
            kind.facts(account.nickname, account.values),
            account_id=account_id(registry, account),
            provider=kind.title,
        )


def account_id(registry: Registry, account: Account) -> str:
    """The account's id at its provider (what its connection type names so), or ""."""
    kind = registry.connection(account.connection)
    return account.values.get(kind.account_id, "") if kind.account_id else ""


def account_location(registry: Registry, account: Account) -> dict[str, str]:
    """Where the account's records live (what its connection type says), e.g. its API host."""
    return registry.connection(account.connection).location(account.values)
