"""Triggers: cards that start a flow when something happens at the provider (a message
comes in, a message's status changes) instead of being called as a step.

A host receives the provider's webhook and hands it over as a ``Webhook``; the trigger
checks that the provider sent it (its signature, with the connection's webhook secret) and
makes it an ``Event``: the outputs a flow reads as ``${{ trigger.<name> }}``, and the keys
that identify it, so one event delivered twice runs once. A trigger may also attach itself
to the account (point the provider's webhook at the host), detach itself on exit, and list
events since a cursor for hosts without a public URL. The host knows nothing else of the
provider: what it answers the provider is the trigger's ``answer``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from flo_twilio.card import Audience, Card, CardContext
from flo_twilio.errors import FloError, InvalidInputError


@dataclass(frozen=True)
class Webhook:
    """A request as the host received it. ``url`` is the public URL it was sent to (what
    the provider signed: behind a tunnel or proxy it is not the host's own), its query
    exactly as sent; ``headers`` have lower-case names; ``form`` is the POST body's form
    fields, in order; ``body`` the body as received."""

    url: str
    method: str
    headers: Mapping[str, str]
    form: Sequence[tuple[str, str]] = ()
    body: bytes = b""


@dataclass(frozen=True)
class Event:
    """What happened: the trigger's ``outputs``, and ``keys`` that identify it (a delivery
    whose keys include one already seen is the same event again). ``supersedes`` are the
    keys of events this one makes stale (a message's earlier statuses): accepted, it marks
    them seen, so they are dropped if they arrive after it."""

    outputs: dict[str, Any]
    keys: tuple[str, ...] = field(default=())
    supersedes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Consent:
    """An event's change of consent: ``audience``'s recipient opted out of its senders
    (``opted_out``), or back in."""

    audience: Audience
    opted_out: bool


class Rejected(FloError):
    """A webhook the provider did not send (a missing or wrong signature): refuse it."""


class AttachConflict(InvalidInputError):
    """The provider's webhook setting points somewhere else; attaching would replace it."""


class Trigger(Card):
    """A card that starts a flow. Besides ``name`` and ``manifest`` (whose ``kind`` is
    ``"trigger"`` and whose outputs are the event), subclasses implement ``parse`` and may
    implement ``attach``, ``detach`` and ``poll``; ``answer`` is the body and content type
    the provider expects back."""

    answer: ClassVar[tuple[str, str]] = ("", "text/plain")

    def reply(self, options: Mapping[str, Any]) -> tuple[str, str]:
        """What to answer the provider for a webhook under ``options``: ``answer`` unless
        the options say what (an incoming call's TwiML)."""
        return self.answer

    def parse(self, options: Mapping[str, Any], webhook: Webhook, secret: str) -> Event | None:
        """The event ``webhook`` carries; None when it is not for this trigger's options
        (another number's). Raise ``Rejected`` when ``secret`` shows the provider did not
        send it."""
        raise NotImplementedError

    def consent(self, event: Event) -> Consent | None:
        """The change of consent ``event`` carries (a STOP, a START), if any."""
        return None

    async def attach(
        self,
        ctx: CardContext,
        options: Mapping[str, Any],
        url: str,
        replace: bool,
        ours: Collection[str] = (),
    ) -> dict[str, Any] | None:
        """Point the provider at ``url``; what ``detach`` needs to put back the setting found
        (None: nothing to attach). Raise ``AttachConflict`` when the setting points
        elsewhere, unless ``replace``; the URLs in ``ours`` (where this host attached before
        and never put back: a server killed, then started at another URL) are not
        elsewhere."""
        return None

    async def detach(
        self, ctx: CardContext, options: Mapping[str, Any], url: str, attached: dict[str, Any]
    ) -> None:
        """Put back what ``attach`` found, if the setting still points at ``url``."""

    async def poll(
        self, ctx: CardContext, options: Mapping[str, Any], cursor: Any
    ) -> tuple[list[Event], Any]:
        """The events since ``cursor`` (None: from now on), oldest first, and the next
        cursor (JSON data the host keeps)."""
        raise NotImplementedError(f"{self.name} cannot be polled")

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        raise InvalidInputError(f"{self.name} is a trigger: it starts a flow, it is not a step")
