"""The Card base class and the one way to call a card safely."""

from __future__ import annotations

from collections.abc import Collection, Container, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from flo_twilio.errors import BadOutputsError, InvalidInputError, Problem
from flo_twilio.manifests import Manifest


@dataclass
class CardContext:
    """What a card gets besides its options and inputs.

    ``client`` is the connection's client (for Twilio: a ``TwilioClient``); ``account``
    holds the non-secret facts a flow reads as ``${{ account.* }}`` (its ``nickname``, and
    for Twilio its ``sid``); ``account_id`` names the account at its provider (results are
    claimed per account, and a run is bound to it); ``provider`` is the provider's name
    for messages (the connection type's title, e.g. "Twilio").
    """

    client: Any
    account: Mapping[str, Any] = field(default_factory=dict)
    account_id: str = ""
    provider: str = ""


@dataclass(frozen=True)
class Audience:
    """Who a call messages (``recipient``) and from which ``senders`` (a phone number, a
    messaging service...): what a recipient's opt-out is kept against."""

    recipient: str
    senders: tuple[str, ...]


class Card:
    """A step a flow can run. Subclasses declare:

    - ``name``: unique, dotted, e.g. ``"twilio.send_sms"``;
    - ``manifest``: a ``Manifest`` describing options, inputs and outputs;

    and implement ``async run(ctx, options, inputs) -> outputs``. Rules the manifest's
    per-field schemas cannot say (one field needs another) go in ``check``, which runs
    before anything is sent; ``preview`` only shows a dry run's request. A card whose call does
    something that must not happen twice (a send) says so in ``changes_world``, so the
    runner journals the intent first, and may implement ``reconcile`` to find what an
    interrupted call did; ``result_id`` names what it made (by default the output the
    manifest's ``resultId`` names), so one result is never claimed by two calls. An option
    marked ``x-flo-choices`` gets its dropdown from ``choices``. A card that messages a
    person names them in ``audience``, so that one who opted out is not sent to;
    ``opt_out_codes`` are the provider's error codes saying the recipient opted out.
    """

    name: ClassVar[str]
    manifest: ClassVar[Manifest]
    opt_out_codes: ClassVar[frozenset[int]] = frozenset()

    def changes_world(self, options: Mapping[str, Any]) -> bool:
        """True when calling the card twice with these options would act twice."""
        return False

    def audience(self, options: Mapping[str, Any], inputs: Mapping[str, Any]) -> Audience | None:
        """The person this call messages and its senders; None for a call that messages no one."""
        return None

    def check(self, options: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
        """Raise ``InvalidInputError`` when ``options`` and ``inputs`` break a rule that spans
        several fields, each ``Problem`` naming the field (``"inputs.sendAt needs ..."``)
        and how to fix it; return None when the call may be made. Called only once both
        sections pass the manifest, and before anything is sent: by the pre-pass for every
        call known before the run, by a dry run, by a host's check of its work and by
        ``call_card`` right before ``run``. Nothing here may touch the network."""

    def preview(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        """What calling the card would send, for a dry run (called after ``check`` passed);
        never a secret."""
        return {"card": self.name, "options": dict(options), "inputs": dict(inputs)}

    def result_id(self, outputs: Mapping[str, Any]) -> str | None:
        """The provider's identifier of what the call made (a message's sid), or None when
        the card's results have none."""
        name = self.manifest.result_id
        value = outputs.get(name) if name and isinstance(outputs, Mapping) else None
        return None if value in (None, "") else str(value)

    async def choices(self, ctx: CardContext, option: str) -> list[dict[str, Any]]:
        """The values an option may take, each ``{"value", "label", ...}``."""
        return []

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        raise NotImplementedError

    async def reconcile(
        self,
        ctx: CardContext,
        options: Mapping[str, Any],
        inputs: Mapping[str, Any],
        since: float,
        exclude: Container[str] = frozenset(),
    ) -> dict[str, Any] | None:
        """Look for the result of a call made at or after ``since`` (epoch seconds on this
        machine's clock; convert it to the API's).

        Return its outputs when found, None when it is not there. Skip results whose id is
        ``in exclude``: they belong to other items, of this run or any other. Raise when the
        look-up itself fails; the default cannot look anything up.
        """
        raise NotImplementedError(f"{self.name} cannot reconcile an interrupted call")


Fixed = tuple[Collection[str], Collection[str]]
NOTHING_FIXED: Fixed = (frozenset(), frozenset())


def checks_itself(card: Card) -> bool:
    """True when the card has its own ``check``; a card written before ``check`` existed
    checked its cross-field rules in ``preview``."""
    return type(card).check is not Card.check or type(card).preview is Card.preview


def call_problems(
    card: Card,
    options: Any,
    inputs: Any,
    *,
    fixed: Fixed = NOTHING_FIXED,
    unjudged: Fixed = NOTHING_FIXED,
    ctx: CardContext | None = None,
) -> list[tuple[str, Problem]]:
    """Every problem of one call, each with its section ("options" or "inputs"), nothing
    sent: both sections against the manifest (``fixed`` as ``check_call`` says; problems of
    the ``unjudged`` fields, a dry run's placeholders, left out), then, when they pass, the
    card's ``check``. Given ``ctx``, a card without its own ``check`` has its ``preview``
    build the call instead, as its check."""
    problems = [
        (section, problem)
        for section, values, kept, skipped in (
            ("options", options, fixed[0], unjudged[0]),
            ("inputs", inputs, fixed[1], unjudged[1]),
        )
        for problem in card.manifest.problems(section, values, kept)
        if not (problem.path and problem.path[0] in skipped)
    ]
    if problems:
        return problems
    try:
        if checks_itself(card):
            card.check(options, inputs)
        elif ctx is not None:
            card.preview(ctx, options, inputs)
    except InvalidInputError as exc:
        return [("inputs", problem) for problem in exc.problems]
    return []


def check_call(card: Card, options: Any, inputs: Any, fixed: Fixed = NOTHING_FIXED) -> None:
    """Raise ``InvalidInputError`` naming every problem of ``options`` and ``inputs``
    (``call_problems``). ``fixed`` names the options and the inputs whose values are the
    same in every call (a host's literals): once they pass, later calls check only the rest."""
    problems = call_problems(card, options, inputs, fixed=fixed)
    if problems:
        raise InvalidInputError([problem for _, problem in problems])


def check_outputs(card: Card, outputs: Any) -> Any:
    """``outputs`` when they follow the manifest; else ``BadOutputsError`` (the call happened)."""
    problems = card.manifest.problems("outputs", outputs)
    if problems:
        raise BadOutputsError(card.name, outputs, problems)
    return outputs


async def call_card(
    card: Card,
    ctx: CardContext,
    options: Mapping[str, Any],
    inputs: Mapping[str, Any],
    *,
    fixed: Fixed = NOTHING_FIXED,
) -> dict[str, Any]:
    """Check options and inputs against the manifest and the card's ``check`` (``fixed`` as
    ``check_call`` says), run the card, check its outputs: ``InvalidInputError`` before the call,
    ``BadOutputsError`` after it."""
    check_call(card, options, inputs, fixed)
    outputs = await card.run(ctx, options, inputs)
    return check_outputs(card, outputs)
