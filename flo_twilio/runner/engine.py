"""Run a checked flow: steps in order, for_each items with bounded concurrency, every
world-changing call journalled first so that a resumed run sends nothing twice."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from flo_twilio.card import Card, CardContext
from flo_twilio.errors import FloError, InvalidInputError, OutcomeUnknownError, TwilioApiError
from flo_twilio.runner import refs
from flo_twilio.runner.flow import Flow, Step
from flo_twilio.runner.journal import Item, Journal

log = logging.getLogger("flo_twilio.runner")


class ItemError(Exception):
    """One item did not complete; the journal has why."""


class ReconcileFailed(Exception):
    """Looking a call up failed: whether it happened is still unknown."""


class StepFailed(FloError):
    """A step stopped the run (its on_error is stop, or it has no for_each)."""


class Halted(FloError):
    """The run was asked to stop; what was in flight finished first."""


@dataclass
class Tally:
    """What happened to the items of a run, for the summary and the exit code."""

    done: int = 0
    failed: int = 0
    unknown: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def fail(self, reason: str, unknown: bool = False) -> None:
        if unknown:
            self.unknown += 1
        else:
            self.failed += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unknown

    def as_dict(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "failed": self.failed,
            "unknown": self.unknown,
            "reasons": self.reasons,
        }


def item_key(options: Any, inputs: Any) -> str:
    """What identifies an item's call: a resumed run refuses items that changed."""
    text = json.dumps([options, inputs], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def error_record(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, TwilioApiError):
        return {
            "type": "TwilioApiError",
            "status": exc.status,
            "code": exc.code,
            "message": exc.message,
            "more_info": exc.more_info,
        }
    return {"type": type(exc).__name__, "message": str(exc)}


def reason_of(error: dict[str, Any]) -> str:
    """What went wrong, the same for every item that failed the same way: Twilio puts the
    item's own detail (often the phone number) after a colon, which is left out."""
    code = error.get("code")
    if code:
        return f"Twilio {code}: {str(error.get('message')).split(': ')[0]}"
    return str(error.get("message"))


class Engine:
    """Runs one flow for one run id. ``dry_run`` renders and checks every call and hands
    each to ``on_preview`` instead of making it; nothing is journalled then."""

    def __init__(
        self,
        flow: Flow,
        ctx: CardContext,
        journal: Journal | None,
        run_id: str,
        *,
        resend_unknown: bool = False,
        dry_run: bool = False,
        on_item: Callable[[Step, bool], None] = lambda step, ok: None,
        on_preview: Callable[[dict[str, Any]], None] = lambda request: None,
    ) -> None:
        self.flow, self.ctx, self.journal, self.run_id = flow, ctx, journal, run_id
        self.resend_unknown, self.dry_run = resend_unknown, dry_run
        self.on_item, self.on_preview = on_item, on_preview
        self.tally = Tally()
        self.prior: dict[tuple[str, int], Item] = {}
        if journal is not None:
            self.prior = {(i.step_id, i.index): i for i in journal.items(run_id)}
        self.claimed: dict[str, set[str]] = {}  # step id -> result ids already owned by items
        self.locks: dict[str, asyncio.Lock] = {}
        self.halt = asyncio.Event()  # set: start nothing new, let what is in flight finish

    async def run(self, inputs: dict[str, Any]) -> Any:
        scope: dict[str, Any] = {"inputs": inputs, "steps": {}, "account": dict(self.ctx.account)}
        for step in self.flow.steps:
            if self.halt.is_set():
                raise Halted(f"stopped before step {step.id}")
            card = step.card()
            self.locks[step.id] = asyncio.Lock()
            self.claimed[step.id] = {
                str(i.outputs.get("sid"))
                for (s, _), i in self.prior.items()
                if s == step.id and i.state == "done" and isinstance(i.outputs, dict)
            }
            if step.for_each is None:
                try:
                    outputs = await self.item(step, card, 0, None, scope)
                except ItemError as exc:
                    raise StepFailed(f"step {step.id} failed: {exc}") from None
            else:
                outputs = await self.fan_out(step, card, self.items_of(step, scope), scope)
            scope["steps"][step.id] = {"outputs": outputs}
        return refs.render(self.flow.outputs, scope)

    def items_of(self, step: Step, scope: dict[str, Any]) -> Iterable[Any]:
        try:
            items = refs.render(step.for_each, scope)
        except refs.RefError as exc:
            raise InvalidInputError(f"step {step.id}: for_each: {exc}") from None
        if isinstance(items, str | bytes | dict) or not isinstance(items, Iterable):
            raise InvalidInputError(
                f"step {step.id}: for_each must be a list, got {type(items).__name__}"
            )
        return items

    async def fan_out(
        self, step: Step, card: Card, items: Iterable[Any], scope: dict[str, Any]
    ) -> list[Any]:
        """Each item through ``item``, ``step.concurrency`` at a time, streamed from ``items``;
        outputs in input order (None for an item that failed)."""
        results: dict[int, Any] = {}
        numbered = enumerate(items)
        stop = asyncio.Event()

        async def worker() -> None:
            for index, item in numbered:
                if stop.is_set() or self.halt.is_set():
                    return
                try:
                    results[index] = await self.item(step, card, index, item, scope)
                except ItemError:
                    results[index] = None
                    if step.on_error == "stop":
                        stop.set()

        await asyncio.gather(*(worker() for _ in range(step.concurrency)))
        if self.halt.is_set():
            raise Halted(f"stopped during step {step.id}")
        if stop.is_set():
            raise StepFailed(f"step {step.id} stopped at its first failure (on_error: stop)")
        return [results.get(i) for i in range(len(results))]

    async def item(
        self, step: Step, card: Card, index: int, item: Any, scope: dict[str, Any]
    ) -> Any:
        """One call of a card, journalled; returns its outputs or raises ItemError."""
        try:
            item_scope = {**scope, "item": item} if step.for_each is not None else scope
            options = refs.render(step.options, item_scope)
            inputs = refs.render(step.inputs, item_scope)
            card.manifest.check("options", options)
            card.manifest.check("inputs", inputs)
        except (refs.RefError, InvalidInputError) as exc:
            self.failed(step, index, "", None, {"type": "InvalidInput", "message": str(exc)})
        key = item_key(options, inputs)
        if self.dry_run:
            self.on_preview(
                {"step": step.id, "item": index, **card.preview(self.ctx, options, inputs)}
            )
            return {name: f"<{step.id}.{name}>" for name in card.manifest.properties("outputs")}
        prior = self.prior.get((step.id, index))
        if prior is not None and prior.key and prior.key != key:
            raise InvalidInputError(
                f"step {step.id} item {index} is not what it was when the run started; "
                "resume with the same flow and inputs, or start a new run"
            )
        if prior is not None and prior.state == "done":
            self.tally.done += 1
            self.on_item(step, True)
            return prior.outputs
        mutating = card.changes_world(options)
        assert self.journal is not None
        if mutating and prior is not None and prior.state in ("intent", "unknown"):
            found = await self.look_up(step, index, key, card, options, inputs, prior.started)
            if found is not None:
                return self.done(step, index, key, inputs, found)
            if not self.resend_unknown:
                self.failed(
                    step,
                    index,
                    key,
                    inputs,
                    {
                        "type": "OutcomeUnknown",
                        "message": "it may have been sent, and it was not found on Twilio; "
                        f"flo resume {self.run_id} --resend-unknown sends it again",
                    },
                    unknown=True,
                )
        started = self.journal.intent(self.run_id, step.id, index, key, inputs) if mutating else 0.0
        try:
            outputs = await card.run(self.ctx, options, inputs)
        except OutcomeUnknownError as exc:
            found = await self.look_up(step, index, key, card, options, inputs, started)
            if found is not None:
                return self.done(step, index, key, inputs, found)
            self.failed(step, index, key, inputs, error_record(exc), unknown=True)
        except FloError as exc:
            self.failed(step, index, key, inputs, error_record(exc))
        for problem in card.manifest.problems("outputs", outputs):
            log.warning(
                "step %s: %s returned outputs that break its manifest: %s",
                step.id,
                card.name,
                problem,
            )
        return self.done(step, index, key, inputs, outputs)

    async def reconcile(
        self, step: Step, card: Card, options: Any, inputs: Any, since: float
    ) -> Any:
        """Look the call up; a found result is claimed so no other item takes it."""
        async with self.locks[step.id]:
            try:
                found = await card.reconcile(
                    self.ctx, options, inputs, since, frozenset(self.claimed[step.id])
                )
            except (NotImplementedError, FloError) as exc:
                raise ReconcileFailed(f"could not look it up ({exc})") from None
            if isinstance(found, dict) and found.get("sid"):
                self.claimed[step.id].add(str(found["sid"]))
            return found

    async def look_up(
        self, step: Step, index: int, key: str, card: Card, options: Any, inputs: Any, since: float
    ) -> Any:
        """``reconcile``; when the look-up itself fails the item stays unknown, and is never
        sent again on that account (not even with --resend-unknown)."""
        try:
            return await self.reconcile(step, card, options, inputs, since)
        except ReconcileFailed as exc:
            self.failed(
                step,
                index,
                key,
                inputs,
                {"type": "OutcomeUnknown", "message": str(exc)},
                unknown=True,
            )

    def done(self, step: Step, index: int, key: str, inputs: Any, outputs: Any) -> Any:
        assert self.journal is not None
        self.journal.finish(
            self.run_id, step.id, index, "done", key=key, inputs=inputs, outputs=outputs
        )
        if isinstance(outputs, dict) and outputs.get("sid"):
            self.claimed[step.id].add(str(outputs["sid"]))
        self.tally.done += 1
        self.on_item(step, True)
        return outputs

    def failed(
        self,
        step: Step,
        index: int,
        key: str,
        inputs: Any,
        error: dict[str, Any],
        unknown: bool = False,
    ) -> NoReturn:
        if self.journal is not None:
            state = "unknown" if unknown else "failed"
            self.journal.finish(
                self.run_id, step.id, index, state, key=key, inputs=inputs, error=error
            )
        self.tally.fail(reason_of(error), unknown)
        self.on_item(step, False)
        raise ItemError(reason_of(error))
