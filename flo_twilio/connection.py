"""Connection types: the kinds of account a card can use ("+Add Account" made generic)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

ClientT = TypeVar("ClientT")


@dataclass(frozen=True)
class Field:
    """One value a user gives when connecting an account."""

    name: str
    description: str
    secret: bool = False
    required: bool = True


@dataclass(frozen=True)
class ConnectionType(Generic[ClientT]):
    """A kind of account.

    ``connect`` builds a client (an async context manager) from the account's stored
    values; ``verify`` checks the credentials with one call and returns non-secret facts
    about the account to record (its display name, its type...).
    """

    name: str
    title: str
    fields: tuple[Field, ...]
    connect: Callable[[Mapping[str, str]], ClientT]
    verify: Callable[[ClientT], Awaitable[dict[str, Any]]]

    @property
    def secret_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.secret)
