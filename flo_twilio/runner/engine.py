"""Run a checked flow: steps in order, a for_each step's items ``concurrency`` at a time,
then what waits (look-ups after the settle window, calls sent again after a pause), each
item taken through its lifecycle by ``runner/item_lifecycle.py``, which journals every
world-changing call first so that a resumed run sends nothing twice.

"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from flo_twilio.card import Card, CardContext
from flo_twilio.errors import FloError, InvalidInputError, Problem
from flo_twilio.runner import refs
from flo_twilio.runner.calls import fixed_keys
from flo_twilio.runner.flow import Flow, Step
from flo_twilio.runner.item_lifecycle import ItemLifecycle, Later, Tally, reason_of
from flo_twilio.runner.journal import Journal
from flo_twilio.runner.optouts import OptOutCheck
from flo_twilio.runner.wording import counted

DEFAULT_SETTLE = 60.0  # seconds; longer than the client's request deadline (30 s)
SETTLE_VARIABLE = "FLO_SETTLE_SECONDS"
# seconds before each new try of a call the API did not take
DEFAULT_RETRY_PAUSES = (1.0, 5.0, 15.0)
RETRY_PAUSES_VARIABLE = "FLO_RETRY_PAUSES"


def settle_window(seconds: float | None = None) -> float:
    """``seconds``, else $FLO_SETTLE_SECONDS, else 60."""
    if seconds is None:
        try:
            seconds = float(os.environ.get(SETTLE_VARIABLE) or DEFAULT_SETTLE)
        except ValueError:
            raise InvalidInputError(f"{SETTLE_VARIABLE} must be a number of seconds") from None
    number = isinstance(seconds, int | float) and not isinstance(seconds, bool)
    if not number or not 0 <= seconds < math.inf:
        raise InvalidInputError("the settle window must be a number of seconds, 0 or more")
    return seconds


def retry_schedule(pauses: Sequence[float] | None = None) -> tuple[float, ...]:
    """``pauses``, else $FLO_RETRY_PAUSES (seconds separated by commas), else 1, 5, 15."""
    if pauses is not None:
        if all(0 <= p < math.inf for p in pauses):
            return tuple(pauses)
        raise InvalidInputError("the retry pauses must be 0 seconds or more")
    text = os.environ.get(RETRY_PAUSES_VARIABLE, "").strip()
    if not text:
        return DEFAULT_RETRY_PAUSES
    with contextlib.suppress(ValueError):
        given = tuple(float(p) for p in text.split(","))
        if all(0 <= p < math.inf for p in given):
            return given
    raise InvalidInputError(
        [
            Problem(
                f"{RETRY_PAUSES_VARIABLE} must be the seconds (0 or more) to pause before each "
                "new try of a call the API did not take, separated by commas",
                hint="e.g. 0.1,0.5 in tests; the default is 1,5,15",
            )
        ]
    )


class StepFailed(FloError):
    """A step stopped the run (its on_error is stop, or it has no for_each)."""


class Halted(FloError):
    """The run was asked to stop; what was in flight finished first."""


class OutputsFailed(FloError):
    """The flow's outputs could not be rendered (its steps are done)."""


def first(group: BaseExceptionGroup[Any]) -> BaseException:
    """The first exception of a task group that is not a group itself."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


class Placeholders(Sequence[Any]):
    """A dry run's for_each outputs: the same placeholders for every item."""

    def __init__(self, step: Step, length: int) -> None:
        self.value = {
            name: f"<{step.id}.{name}>" for name in step.card.manifest.properties("outputs")
        }
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: Any) -> Any:
        return self.value

    def __iter__(self) -> Iterator[Any]:
        return (self.value for _ in range(self.length))


class Engine:
    """Runs one flow for one run id: the steps in order, each item through its
    ``ItemLifecycle``. ``dry_run`` renders and checks every call and hands each to
    ``on_preview`` instead of making it; nothing is journalled then.

    ``on_item(step, state)`` hears each item end (done, failed or unknown); ``on_wait(step,
    message)`` hears what the run waits for, and how long. A host that owns the run may
    give the ``tally`` to count into and the ``halt`` event that stops it. With
    ``opt_outs``, a call to a recipient who opted out is not made: skipped, with the reason.
    """

    def __init__(
        self,
        flow: Flow,
        ctx: CardContext,
        journal: Journal | None,
        run_id: str,
        *,
        resend_unknown: bool = False,
        dry_run: bool = False,
        settle: float = DEFAULT_SETTLE,
        retry_pauses: Sequence[float] = DEFAULT_RETRY_PAUSES,
        on_item: Callable[[Step, str], None] = lambda step, state: None,
        on_wait: Callable[[Step, str], None] = lambda step, message: None,
        on_preview: Callable[[dict[str, Any]], None] = lambda request: None,
        tally: Tally | None = None,
        halt: asyncio.Event | None = None,
        opt_outs: OptOutCheck | None = None,
    ) -> None:
        self.flow, self.ctx, self.journal, self.run_id = flow, ctx, journal, run_id
        self.dry_run, self.on_wait = dry_run, on_wait
        self.tally = Tally() if tally is None else tally
        self.lifecycle = ItemLifecycle(
            ctx,
            journal,
            run_id,
            {step.id: fixed_keys(step) for step in flow.steps},
            self.tally,
            resend_unknown=resend_unknown,
            dry_run=dry_run,
            settle=settle,
            retry_pauses=retry_pauses,
            on_item=on_item,
            on_preview=on_preview,
            opt_outs=opt_outs,
        )
        self.provider = self.lifecycle.provider
        # set: start nothing new, let what is in flight finish
        self.halt = asyncio.Event() if halt is None else halt

    async def run(self, inputs: dict[str, Any], trigger: dict[str, Any] | None = None) -> Any:
        """Run the steps; ``trigger`` is the event of a flow with a trigger."""
        scope: dict[str, Any] = {"inputs": inputs, "steps": {}, "account": dict(self.ctx.account)}
        if trigger is not None:
            scope["trigger"] = trigger
        for step in self.flow.steps:
            if self.halt.is_set():
                raise Halted(f"stopped before step {step.id}")
            card = step.card()
            if step.for_each is None:
                outputs = await self.single(step, card, scope)
            else:
                outputs = await self.fan_out(step, card, scope)
            scope["steps"][step.id] = {"outputs": outputs}
        if self.journal is not None:
            await self.journal.durable()
        return None if self.dry_run else self.outputs(scope)

    def outputs(self, scope: dict[str, Any]) -> Any:
        """The flow's outputs; one that cannot be rendered ends the run, located."""
        if not isinstance(self.flow.outputs, dict):
            return refs.render(self.flow.outputs, scope)
        rendered = {}
        for name, value in self.flow.outputs.items():
            try:
                rendered[name] = refs.render(value, scope)
            except refs.RefError as exc:
                where = self.flow.document.where(("outputs", name))
                problem = Problem(
                    f"outputs.{name} cannot be rendered: {exc}",
                    where,
                    "every item is done; fix the output and start a new run to see it",
                )
                raise OutputsFailed(str(problem)) from None
        return rendered

    # Steps.

    async def single(self, step: Step, card: Card, scope: dict[str, Any]) -> Any:
        """A step without for_each: its one item to the end, its outputs for the next."""
        later: list[Later] = []
        prior = self.journal.item(self.run_id, step.id, 0) if self.journal else None
        state = await self.lifecycle.item(step, card, 0, None, scope, prior, later)
        if state == "skipped":
            return None
        if self.dry_run:
            return Placeholders(step, 1)[0]
        await self.finish_later(step, later)
        if self.halt.is_set():
            raise Halted(f"stopped during step {step.id}")
        assert self.journal is not None
        item = self.journal.item(self.run_id, step.id, 0)
        if item is not None and item.state == "done":
            return item.outputs
        why = reason_of(item.error or {}) if item is not None else state
        raise StepFailed(f"step {step.id} did not finish ({why}); the steps after it did not run")

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

    async def fan_out(self, step: Step, card: Card, scope: dict[str, Any]) -> Sequence[Any]:
        """Each item through ``item``, ``step.concurrency`` at a time, streamed from the
        for_each list; then what waits. Outputs stay in the journal. What ends the run
        (an unreadable row, an item changed since the run started) cancels the items in
        flight: their intents are journalled, a resume looks them up."""
        numbered = enumerate(self.items_of(step, scope))
        prior = self.journal.prior(self.run_id, step.id) if self.journal else None
        later: list[Later] = []
        stop = asyncio.Event()
        stopped_at_failure = False
        length = 0

        async def worker() -> None:
            nonlocal stopped_at_failure, length
            while not (stop.is_set() or self.halt.is_set()):
                try:
                    index, item = next(numbered)
                except StopIteration:
                    return
                except Exception as exc:  # the list itself broke (an unreadable row...)
                    raise StepFailed(
                        f"step {step.id}: cannot read item {length + 1}: {exc}"
                    ) from None
                length = index + 1
                before = prior.get(index) if prior else None
                state = await self.lifecycle.item(step, card, index, item, scope, before, later)
                if state == "failed" and step.on_error == "stop":
                    stopped_at_failure = True
                    stop.set()

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(step.concurrency):
                    group.create_task(worker())
        except BaseExceptionGroup as group_error:
            self.abandon(step, later)
            raise first(group_error) from None
        if self.dry_run:
            return Placeholders(step, length)
        await self.finish_later(step, later)
        if self.halt.is_set():
            raise Halted(f"stopped during step {step.id}")
        if stopped_at_failure:
            raise StepFailed(f"step {step.id} stopped at its first failure (on_error: stop)")
        assert self.journal is not None
        return self.journal.outputs(self.run_id, step.id, length)

    # Waiting.

    async def finish_later(self, step: Step, later: list[Later]) -> None:
        """Finish what waits, each at its due time, ``step.concurrency`` at a time, saying what
        is waited for; stopped short by a halt, what is left keeps its journalled state."""
        if not later:
            return
        announcer = asyncio.create_task(self.announce(step, later))

        async def worker() -> None:
            while later and not self.halt.is_set():
                entry = heapq.heappop(later)
                if not await self.pause(entry.due - time.time()):
                    heapq.heappush(later, entry)
                    return
                if entry.look_up:
                    await self.lifecycle.look_again(entry.call, later, entry.error)
                else:
                    await self.lifecycle.send(entry.call, later)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(step.concurrency):
                    group.create_task(worker())
        except BaseExceptionGroup as group_error:
            raise first(group_error) from None
        finally:
            announcer.cancel()
        self.abandon(step, later)

    def abandon(self, step: Step, later: list[Later]) -> None:
        """Count what still waits (the run stops) as it is journalled: unknown, or failed."""
        for entry in later:
            self.lifecycle.count(
                step, "unknown" if entry.look_up else "failed", reason_of(entry.error)
            )
        later.clear()

    async def announce(self, step: Step, later: list[Later]) -> None:
        """Say what the run waits for, now and every 15 seconds while it waits."""
        while later:
            looks = [e for e in later if e.look_up]
            seconds = max(0.0, max(e.due for e in later) - time.time())
            if looks and seconds > 0:
                self.on_wait(
                    step,
                    f"waiting up to {seconds:.1f}s to look up again {counted(len(looks), 'item')} whose "
                    f"outcome is unknown (by then {self.provider} has either made them or never "
                    "got them); those not found are sent again",
                )
            if len(later) > len(looks):
                self.on_wait(
                    step,
                    f"sending again {counted(len(later) - len(looks), 'item')} {self.provider} did not take",
                )
            await asyncio.sleep(15)

    async def pause(self, seconds: float) -> bool:
        """Sleep ``seconds``; False when halted meanwhile."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.halt.wait(), seconds)
        return not self.halt.is_set()
