"""One item of a run, from its rendered call to its journalled outcome: the intent
committed before a call that changes the world leaves, the call through ``call_card``, its
result claimed for this item alone, a lost answer reconciled, and the outcome recorded.

An item ends *done*, *failed* (it did not happen; a resume tries it again), *unknown* (it
may have happened) or *skipped* (its step's ``if:`` does not hold for it: nothing is sent,
no intent journalled, its output is null). Unknown is not failed and never stops a step. An
item whose outcome is unknown is looked up (reconciled) at once; not found, it is looked up
again once the settle window has passed since its intent (by then the API has either
created it or never got it), and still absent then, it is sent again, once, under a new
intent. Only an item whose look-up keeps failing stays unknown. A call the API refused to
take (429, no connection) is sent again after a pause. Whatever goes wrong inside one item
stays in that item. What must wait goes in the step's ``later`` queue, which the engine
(``runner/engine.py``) works through.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flo_twilio.card import Card, CardContext, Fixed, call_card, call_problems, check_outputs
from flo_twilio.errors import (
    BadOutputsError,
    FloError,
    InvalidInputError,
    NotSentError,
    OutcomeUnknownError,
    ProviderError,
    UnreachableError,
)
from flo_twilio.runner import refs
from flo_twilio.runner.calls import holds, placeholder_keys, render_call
from flo_twilio.runner.flow import Step
from flo_twilio.runner.journal import Item, Journal
from flo_twilio.runner.optouts import OPTED_OUT, OptOutCheck

CLAIM_RACES = 5  # look-ups in a row whose result another process claimed first
NOT_FOUND_YET = "; not found yet"


class RunChanged(InvalidInputError):
    """An item is not what it was when the run started."""


class CannotLookUp(Exception):
    """The card has no way to look a call up."""


class LookUpFailed(Exception):
    """Looking a call up failed: whether it happened is still unknown."""


@dataclass
class Tally:
    """What happened to the items of a run, for the progress line, the summary and the exit
    code: the same counts for all three."""

    done: int = 0
    failed: int = 0
    unknown: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    opted_out: int = 0  # of the skipped: their recipient opted out

    def __str__(self) -> str:
        """ "N done, F failed, U unknown", with "M skipped" after done when items were (and
        how many of them opted out)."""
        opted_out = f" ({self.opted_out} opted out)" if self.opted_out else ""
        skipped = f", {self.skipped} skipped{opted_out}" if self.skipped else ""
        return f"{self.done} done{skipped}, {self.failed} failed, {self.unknown} unknown"

    def count(self, state: str, reason: str = "") -> None:
        setattr(self, state, getattr(self, state) + 1)
        if reason:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unknown

    def as_dict(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "skipped": self.skipped,
            "opted_out": self.opted_out,
            "failed": self.failed,
            "unknown": self.unknown,
            "reasons": self.reasons,
        }


def item_key(options: Any, inputs: Any) -> str:
    """What identifies an item's call: a resumed run refuses items that changed."""
    text = json.dumps([options, inputs], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def error_record(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ProviderError):
        return {
            "type": type(exc).__name__,
            "provider": exc.provider,
            "status": exc.status,
            "code": exc.code,
            "message": exc.message,
            "more_info": exc.more_info,
        }
    return {"type": type(exc).__name__, "message": str(exc)}


def reason_of(error: dict[str, Any]) -> str:
    """What went wrong, the same for every item that failed the same way: a provider's
    message may end with the item's own detail (often the phone number) after a colon, which
    is left out."""
    code = error.get("code")
    if code:
        provider = error.get("provider") or "error"
        return f"{provider} {code}: {str(error.get('message')).split(': ')[0]}"
    return str(error.get("message"))


def not_taken(exc: FloError) -> bool:
    """The API surely did not act on the call: it may simply be sent again later."""
    if isinstance(exc, UnreachableError):  # nothing listens: failed at once, with the reason
        return False
    return isinstance(exc, NotSentError) or (isinstance(exc, ProviderError) and exc.status == 429)


def may_have_happened(prior: Item) -> bool:
    """An earlier try of the item was (or may have been) made."""
    happened = prior.state == "failed" and (prior.error or {}).get("happened")
    return prior.state in ("intent", "unknown", "done") or bool(happened)


def held_back(prior: Item) -> bool:
    """The item was skipped because its recipient opted out: nothing was sent."""
    return prior.state == "skipped" and (prior.error or {}).get("type") == OPTED_OUT


@dataclass
class Call:
    """One item's call: what it renders to, and how far it has come."""

    step: Step
    card: Card
    index: int
    options: Any
    inputs: Any
    key: str
    mutating: bool
    started: float = 0.0  # when its latest intent was committed
    sent_again: bool = False  # sent again after it was not found: once is all
    tries: int = 0  # sent again after the API did not take it

    @property
    def kept_inputs(self) -> Any:
        """The inputs as the journal keeps them: secret (writeOnly) fields masked."""
        return self.card.manifest.masked("inputs", self.inputs)


@dataclass(order=True)
class Later:
    """A call to finish later: look it up again (its outcome is unknown) or send it again
    (the API did not take it), at ``due``."""

    due: float
    index: int
    call: Call = field(compare=False)
    look_up: bool = field(compare=False)
    error: dict[str, Any] = field(compare=False)


class ItemLifecycle:
    """The lifecycle of each item of one run: ``item`` takes one as far as it can go now
    (rendered, its intent journalled, sent through ``call_card``, its result claimed and
    recorded; in a dry run, checked and previewed), ``look_again`` finishes one whose
    settle window has passed. Each end is counted in ``tally`` and told to
    ``on_item(step, state)``; a dry run's requests go to ``on_preview``. With ``opt_outs``,
    a call to a recipient who opted out is not made: skipped, with the reason."""

    def __init__(
        self,
        ctx: CardContext,
        journal: Journal | None,
        run_id: str,
        fixed: dict[str, Fixed],
        tally: Tally,
        *,
        resend_unknown: bool,
        dry_run: bool,
        settle: float,
        retry_pauses: Sequence[float],
        on_item: Callable[[Step, str], None],
        on_preview: Callable[[dict[str, Any]], None],
        opt_outs: OptOutCheck | None = None,
    ) -> None:
        self.ctx, self.journal, self.run_id = ctx, journal, run_id
        self.fixed, self.tally = fixed, tally  # fixed: once per step, not per item
        self.resend_unknown, self.dry_run, self.settle = resend_unknown, dry_run, settle
        self.retry_pauses = retry_pauses
        self.on_item, self.on_preview = on_item, on_preview
        self.provider = ctx.provider or "the provider"
        self.claimed = journal.claimed(ctx.account_id) if journal else frozenset[str]()
        self.opt_outs = opt_outs

    async def item(
        self,
        step: Step,
        card: Card,
        index: int,
        item: Any,
        scope: dict[str, Any],
        prior: Item | None,
        later: list[Later],
    ) -> str:
        """Take one item as far as it can go now: its state (done, failed, unknown), or
        "later" when it waits in ``later``. Raises only what ends the run."""
        try:
            item_scope = {**scope, "item": item} if step.for_each is not None else scope
            if not holds(step, item_scope, dry_run=self.dry_run):
                return self.skip(step, index, prior)
            options, inputs = render_call(step, item_scope)
            mutating = card.changes_world(options)
        except RunChanged:
            raise
        except refs.RefError as exc:
            return self.fail_item(step, index, {"type": "InvalidInput", "message": str(exc)})
        except Exception as exc:
            return self.fail_item(step, index, error_record(exc))
        fresh = prior is None or held_back(prior)
        if fresh and self.opt_outs and (why := self.opt_outs.reason(step, card, options, inputs)):
            return self.hold_back(step, index, {"type": OPTED_OUT, "message": why})
        if self.dry_run:
            return self.preview(step, card, index, options, inputs)
        kept = card.manifest.masked("inputs", inputs)  # a secret is never journalled
        call = Call(step, card, index, options, inputs, item_key(options, kept), mutating)
        if prior is None or fresh:
            return await self.send(call, later)
        if prior.key and prior.key != call.key:
            raise RunChanged(
                f"step {step.id} item {index} is not what it was when the run started; "
                "resume with the same flow and inputs, or start a new run"
            )
        if prior.state == "done":
            return self.count(step, "done")
        if prior.state == "failed" and (prior.error or {}).get("happened"):
            return self.count(step, "failed", reason_of(prior.error or {}))
        if prior.state == "failed" or not mutating:  # it did not happen: try it again
            return await self.send(call, later)
        call.started = prior.started  # intent or unknown: it may have happened
        return await self.recover(call, later, prior.error or {})

    def skip(self, step: Step, index: int, prior: Item | None) -> str:
        """The item's ``if:`` does not hold: journalled skipped, nothing sent."""
        if prior is not None and may_have_happened(prior):
            raise RunChanged(
                f"step {step.id} item {index}: its if: no longer holds, but it was sent when "
                "the run started; resume with the same flow and inputs, or start a new run"
            )
        if self.journal is not None:
            self.journal.finish(self.run_id, step.id, index, "skipped")
        return self.count(step, "skipped")

    def hold_back(self, step: Step, index: int, error: dict[str, Any]) -> str:
        """The item's recipient opted out: journalled skipped with why, nothing sent."""
        if self.journal is not None:
            self.journal.finish(self.run_id, step.id, index, "skipped", error=error)
        self.tally.opted_out += 1
        return self.count(step, "skipped", error["message"])

    def preview(self, step: Step, card: Card, index: int, options: Any, inputs: Any) -> str:
        """A dry run's item: checked as the pre-pass checks it (but for the fields that read
        earlier steps' outputs, placeholders then), built by the card's ``preview`` and
        handed to ``on_preview`` instead of the card."""
        try:
            problems = call_problems(card, options, inputs, unjudged=placeholder_keys(step))
            if problems:
                raise InvalidInputError([problem for _, problem in problems])
            request = card.preview(self.ctx, options, inputs)
        except InvalidInputError as exc:
            return self.fail_item(step, index, {"type": "InvalidInput", "message": str(exc)})
        except Exception as exc:
            return self.fail_item(step, index, error_record(exc))
        self.on_preview({"step": step.id, "item": index, **request})
        return "done"

    async def recover(self, call: Call, later: list[Later], error: dict[str, Any]) -> str:
        """An earlier try's outcome is unknown: find it, or send again once it is safe."""
        try:
            state = await self.look_up(call)
        except CannotLookUp as exc:
            if self.resend_unknown:
                return await self.send(call, later)
            return self.unknown(call, str(exc))
        except LookUpFailed as exc:
            return self.wait(call, later, {"type": "OutcomeUnknown", "message": str(exc)})
        if state:
            return state
        if self.resend_unknown or time.time() >= call.started + self.settle:
            call.sent_again = True
            return await self.send(call, later)
        interrupted = {"type": "OutcomeUnknown", "message": "interrupted during its call"}
        return self.wait(call, later, error or interrupted)

    async def send(self, call: Call, later: list[Later]) -> str:
        """Call the card through ``call_card`` (its intent committed first when it changes
        the world)."""
        assert self.journal is not None
        if call.mutating:
            call.started = self.journal.intent(
                self.run_id, call.step.id, call.index, call.key, call.kept_inputs
            )
            await self.journal.durable()
        try:
            outputs = await call_card(
                call.card, self.ctx, call.options, call.inputs, fixed=self.fixed[call.step.id]
            )
        except BadOutputsError as exc:
            return self.bad_outputs(call, exc, exclusive=False)
        except OutcomeUnknownError as exc:
            return await self.after_unknown(call, later, error_record(exc))
        except FloError as exc:  # invalid options or inputs, the provider's refusal...
            if not_taken(exc) and call.tries < len(self.retry_pauses):
                return self.retry(call, later, error_record(exc))
            if self.opt_outs:  # a 21610: the next runs do not try them
                self.opt_outs.learn(call.card, call.options, call.inputs, exc)
            return self.fail(call, error_record(exc))
        except Exception as exc:  # a card's own failure
            record = {"type": type(exc).__name__, "message": f"{call.card.name}: {exc}"}
            if call.mutating:  # whether it acted before failing, nobody knows
                return await self.after_unknown(call, later, record)
            return self.fail(call, record)
        return self.succeed(call, outputs, exclusive=False)

    async def after_unknown(self, call: Call, later: list[Later], error: dict[str, Any]) -> str:
        """The call may or may not have happened: look it up now, and again later."""
        try:
            state = await self.look_up(call)
        except CannotLookUp as exc:
            return self.unknown(call, f"{error['message']}; {exc}")
        except LookUpFailed:
            state = None
        return state or self.wait(call, later, error)

    async def look_up(self, call: Call) -> str | None:
        """Reconcile the call: None when not found; else the result is claimed for this item
        and recorded, and its state returned."""
        for _ in range(CLAIM_RACES):
            try:
                found = await call.card.reconcile(
                    self.ctx, call.options, call.inputs, call.started, self.claimed
                )
            except NotImplementedError:
                raise CannotLookUp(
                    f"{call.card.name} cannot look a call up: check on {self.provider}, then "
                    f"flo resume {self.run_id} --resend-unknown sends it again"
                ) from None
            except Exception as exc:
                raise LookUpFailed(f"could not look it up ({exc})") from None
            if found is None:
                return None
            try:
                state = self.succeed(call, check_outputs(call.card, found), exclusive=True)
            except BadOutputsError as exc:
                state = self.bad_outputs(call, exc, exclusive=True)
            if state != "taken":
                return state
        raise LookUpFailed("every result found was claimed by another run first")

    def claim(self, call: Call, outputs: Any) -> tuple[str, str] | None:
        """The account and result id a call that changes the world claims, if it has one."""
        result = call.card.result_id(outputs) if call.mutating else None
        return (self.ctx.account_id, result) if result else None

    def succeed(self, call: Call, outputs: Any, *, exclusive: bool) -> str:
        """Record the call done, claiming its result; "taken" when ``exclusive`` and another
        item claimed that result first."""
        claim = self.claim(call, outputs)
        if not self.record(call, "done", outputs=outputs, claim=claim, exclusive=exclusive):
            return "taken"
        return self.count(call.step, "done")

    def bad_outputs(self, call: Call, exc: BadOutputsError, *, exclusive: bool) -> str:
        """Record the call failed: it happened (when it changes the world, it is never made
        again), but its outputs break the manifest."""
        error = {
            "type": "BadOutputs",
            "message": str(exc) + ("; it was not sent again" if call.mutating else ""),
            "happened": call.mutating,
        }
        claim = self.claim(call, exc.outputs)
        outputs = exc.outputs
        if not self.record(
            call, "failed", error, outputs=outputs, claim=claim, exclusive=exclusive
        ):
            return "taken"
        return self.count(call.step, "failed", reason_of(error))

    # Waiting.

    def wait(self, call: Call, later: list[Later], error: dict[str, Any]) -> str:
        """Record the item unknown and look it up again once the settle window has passed
        since its intent."""
        error = {**error, "message": str(error.get("message")).removesuffix(NOT_FOUND_YET)}
        self.record(call, "unknown", {**error, "message": error["message"] + NOT_FOUND_YET})
        heapq.heappush(later, Later(call.started + self.settle, call.index, call, True, error))
        return "later"

    def retry(self, call: Call, later: list[Later], error: dict[str, Any]) -> str:
        """Record the item failed (it did not happen) and send it again after a pause."""
        self.record(call, "failed", error)
        due = time.time() + self.retry_pauses[call.tries]
        call.tries += 1
        heapq.heappush(later, Later(due, call.index, call, False, error))
        return "later"

    async def look_again(self, call: Call, later: list[Later], error: dict[str, Any]) -> None:
        """A call's settle window has passed: found now, or surely never made."""
        try:
            if await self.look_up(call):
                return
        except (CannotLookUp, LookUpFailed) as exc:
            self.unknown(call, f"{error['message']}; {exc}")
            return
        if call.sent_again:
            self.unknown(
                call,
                f"{error['message']}; it was sent again after it was not found, and that is "
                f"not found either: flo resume {self.run_id} looks it up again",
            )
            return
        call.sent_again = True
        await self.send(call, later)

    # Outcomes.

    def record(
        self,
        call: Call,
        state: str,
        error: dict[str, Any] | None = None,
        *,
        outputs: Any = None,
        claim: tuple[str, str] | None = None,
        exclusive: bool = False,
    ) -> bool:
        """Journal the call's outcome; False when ``exclusive`` and ``claim`` was taken."""
        assert self.journal is not None
        return self.journal.finish(
            self.run_id,
            call.step.id,
            call.index,
            state,
            key=call.key,
            inputs=call.kept_inputs,
            outputs=outputs,
            error=error,
            claim=claim,
            exclusive=exclusive,
        )

    def fail(self, call: Call, error: dict[str, Any]) -> str:
        self.record(call, "failed", error)
        return self.count(call.step, "failed", reason_of(error))

    def unknown(self, call: Call, message: str) -> str:
        error = {"type": "OutcomeUnknown", "message": message}
        self.record(call, "unknown", error)
        return self.count(call.step, "unknown", reason_of(error))

    def fail_item(self, step: Step, index: int, error: dict[str, Any]) -> str:
        """An item that could not even be made into a call."""
        if self.journal is not None:
            self.journal.finish(self.run_id, step.id, index, "failed", error=error)
        return self.count(step, "failed", reason_of(error))

    def count(self, step: Step, state: str, reason: str = "") -> str:
        self.tally.count(state, reason)
        self.on_item(step, state)
        return state
