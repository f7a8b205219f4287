"""Connection types: the kinds of account a card can use ("+Add Account" made generic).

A host builds its Add Account form from a type's ``fields`` alone: each field's label and
description, whether it is a secret (read only from stdin or a hidden prompt, never
shown), whether it must be given, and the environment variable that can give it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from flo_twilio.errors import Problem

ClientT = TypeVar("ClientT")


@dataclass(frozen=True)
class Field:
    """One value a user gives when connecting an account.

    ``required`` fields are always needed; a field that is needed only alongside another
    says which in ``required_with`` (an API key's secret, with the key) or
    ``required_without`` (a token, unless a key is given). ``env`` names the environment
    variable that gives it for the account called ``env``. A ``repeatable`` field may be
    given several times; its values are kept joined by commas.
    """

    name: str
    label: str
    description: str
    secret: bool = False
    required: bool = True
    required_with: str = ""
    required_without: str = ""
    env: str = ""
    repeatable: bool = False

    def needed(self, values: Mapping[str, Any]) -> bool:
        """Whether an account with ``values`` must have this field too."""
        if self.required_with:
            return bool(values.get(self.required_with))
        if self.required_without:
            return not values.get(self.required_without)
        return self.required


class Gate(Protocol):
    """An account's limits shared with other processes, for one client: its calls wait
    here for their turn under the rate and hold one of the in-flight slots while on the
    wire, whichever process they are in."""

    async def start(self, weight: float = 1.0) -> None:
        """Wait until this call may start (at most the rate, across processes); a call of
        ``weight`` (a message's segments) holds the next one back ``weight / rate`` seconds."""

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Hold one of the account's in-flight slots (across processes) for the block."""

    async def aclose(self) -> None:
        """Give back what this process holds."""


class SharedLimits(Protocol):
    """Where an account's limits are shared (a database every process reaches): a
    connection type's ``connect`` given ``limits=`` asks it for its client's gate."""

    def gate(self, account: str, max_in_flight: int | None, per_second: float | None) -> Gate:
        """The gate of ``account`` (the provider's id of it, prefixed by the type's name):
        ``max_in_flight`` calls at once and ``per_second`` starts a second (None: no
        such limit)."""


def _no_problems(values: Mapping[str, str]) -> list[Problem]:
    return []


def _nothing_to_show(values: Mapping[str, str]) -> dict[str, str]:
    return {}


def _nowhere_in_particular(values: Mapping[str, str]) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class ConnectionType(Generic[ClientT]):
    """A kind of account.

    - ``fields``: what Add Account asks for (see ``Field``);
    - ``connect``: a client (an async context manager) from the account's values; when
      the host shares the account's limits with other processes, it is called with
      ``limits=`` a ``SharedLimits``, whose gate the client then waits at;
    - ``verify``: checks the credentials with one call and returns non-secret facts about
      the account to record (its display name, its type...);
    - ``check``: what is wrong with values beyond a missing field (formats, hosts they lead
      to), each a ``Problem``; run on every way in (Add Account, the environment, the
      stored file) before anything connects;
    - ``describe``: what a list of accounts shows about one (its id, its API host...),
      never a secret;
    - ``mint_key``: optional; trades the credentials given for a new API key, returning
      the fields to store instead (the secrets given are then forgotten);
    - ``webhook_secret``: the field whose value signs the provider's webhooks (checked by
      triggers), if any.
    - ``account_id``: the field that names the account at its provider (a result is
      claimed per account, a run is bound to it);
    - ``account_facts``: what a flow reads as ``${{ account.NAME }}``, NAME to field
      (besides ``nickname``), never a secret;
    - ``location``: where the account's records live, by what a person calls each part
      (for Twilio, the API host its region and edge lead to), never a secret. A run is
      bound to it as to ``account_id``: a resume looks its calls up there, and would find
      nothing anywhere else.
    """

    name: str
    title: str
    fields: tuple[Field, ...]
    connect: Callable[[Mapping[str, str]], ClientT]
    verify: Callable[[ClientT], Awaitable[dict[str, Any]]]
    check: Callable[[Mapping[str, str]], list[Problem]] = _no_problems
    describe: Callable[[Mapping[str, str]], dict[str, str]] = _nothing_to_show
    mint_key: Callable[[Mapping[str, str], str], Coroutine[Any, Any, dict[str, str]]] | None = None
    webhook_secret: str = ""
    account_id: str = ""
    account_facts: Mapping[str, str] = dataclasses.field(default_factory=dict)
    location: Callable[[Mapping[str, str]], dict[str, str]] = _nowhere_in_particular

    @property
    def secret_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.secret)

    def facts(self, nickname: str, values: Mapping[str, str]) -> dict[str, str]:
        """What a flow reads as ``${{ account.* }}`` for the account ``nickname``."""
        secret = self.secret_fields
        named = {k: values.get(f, "") for k, f in self.account_facts.items() if f not in secret}
        return {"nickname": nickname, **named}

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def problems(self, values: Mapping[str, Any]) -> list[Problem]:
        """Everything wrong with an account's ``values`` (its secrets included): fields that
        are not text or are missing, then the type's own ``check``."""
        problems = [
            Problem(f"{k} must be text") for k, v in values.items() if not isinstance(v, str)
        ]
        text = {k: v for k, v in values.items() if isinstance(v, str)}
        for f in self.fields:
            if f.needed(text) and not text.get(f.name):
                problems.append(Problem(f"the {f.label} is required" + _condition(self, f)))
        return problems + self.check(text)


def _condition(kind: ConnectionType[Any], field: Field) -> str:
    if field.required_with:
        return f" with the {kind.field(field.required_with).label}"
    if field.required_without:
        return f" (or the {kind.field(field.required_without).label})"
    return ""
