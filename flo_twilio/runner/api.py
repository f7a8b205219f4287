"""The runner's public API: what the ``flo`` command, and any host, calls to run a flow.

The host chooses the account (and the transport that reaches it, if not the network);
the runner plans, checks, starts, resumes and dry-runs flows, and says how each run went::

    runner = Runner(load_registry())           # $FLO_JOURNAL, else $FLO_HOME/runs.db
    plan = runner.plan(Path("welcome.yaml"), ["recipients=@rows.csv"])
    await runner.check(plan, account)          # every row and every call; nothing sent
    run = runner.start(plan, account)          # recorded: run.id
    outcome = await run.execute()              # done, incomplete, failed or interrupted
    run = await runner.resume(run.id, account) # later: nothing is sent twice
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flo_twilio.accounts import Account
from flo_twilio.card import CardContext
from flo_twilio.connection import SharedLimits
from flo_twilio.errors import FloError, InvalidInputError
from flo_twilio.plugins import Registry
from flo_twilio.runner import lifecycle, process
from flo_twilio.runner.card_context import account_id, account_location, open_context
from flo_twilio.runner.engine import (
    Engine,
    Halted,
    OutputsFailed,
    StepFailed,
    Tally,
    retry_schedule,
    settle_window,
)
from flo_twilio.runner.flow import Flow, Step, load_flow
from flo_twilio.runner.inputs import FileOptions, parse_assignments, resolve_inputs
from flo_twilio.runner.journal import Journal, open_journal
from flo_twilio.runner.optouts import OPTED_OUT, OptOutCheck
from flo_twilio.runner.precheck import HeldBack, precheck


@dataclass
class Plan:
    """A flow and its inputs, read and checked as far as they can be without an account.
    ``arguments`` are the ``NAME=VALUE`` inputs as given (a resume reads them again);
    ``event`` is the event a flow with a trigger runs for; ``held_back`` the calls the
    check found to a recipient who opted out (a run journals them skipped first)."""

    flow: Flow
    inputs: dict[str, Any]
    arguments: list[str] = field(default_factory=list)
    files: FileOptions = field(default_factory=FileOptions)
    event: dict[str, Any] | None = None
    held_back: list[HeldBack] = field(default_factory=list)

    @property
    def secret_arguments(self) -> list[str]:
        """The arguments that give secret inputs: the run keeps them nowhere, so a resume
        (``Runner.resume(secret_inputs=...)``) is given them again."""
        return lifecycle.secret_arguments(self.flow, self.arguments)


@dataclass
class Outcome:
    """How a run ended: ``status`` is done, incomplete (items whose outcome is unknown: a
    resume finishes them), failed or interrupted. ``stopped`` says why it stopped before
    its end; ``resumable`` whether a resume can end differently."""

    run_id: str
    status: str
    tally: Tally
    outputs: Any = None
    stopped: str = ""
    seconds: float = 0.0
    resumable: bool = False
    usage: dict[str, float] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The run id, status, outputs and counts (and what the run's calls used, if its
        client says), as ``flo run --json`` prints them."""
        return {
            "run": self.run_id,
            "status": self.status,
            "outputs": self.outputs,
            **self.tally.as_dict(),
            **({"usage": self.usage} if self.usage else {}),
            **({"notes": self.notes} if self.notes else {}),
        }


class Run:
    """A run this process owns; ``execute`` takes it to its end. ``tally`` counts its items
    as they end; ``halt()`` starts nothing new and lets the calls in flight finish."""

    def __init__(
        self,
        runner: Runner,
        run_id: str,
        flow: Flow,
        inputs: dict[str, Any],
        account: Account,
        transport: Any = None,
        *,
        resend_unknown: bool = False,
        event: dict[str, Any] | None = None,
    ) -> None:
        self.runner, self.id, self.flow, self.inputs = runner, run_id, flow, inputs
        self.event = event
        self.account, self.transport, self.resend_unknown = account, transport, resend_unknown
        self.tally = Tally()
        self.halted = asyncio.Event()

    def halt(self) -> None:
        """Start nothing new; the calls in flight finish, then ``execute`` returns
        "interrupted"."""
        self.halted.set()

    async def execute(
        self,
        *,
        on_item: Callable[[Step, str], None] = lambda step, state: None,
        on_wait: Callable[[Step, str], None] = lambda step, message: None,
    ) -> Outcome:
        """Run (or resume) to the end, record the status and return how it went;
        ``on_item(step, state)`` hears each item end, ``on_wait(step, message)`` what the run
        waits for. A cancellation records "interrupted" and goes on."""
        runner, journal = self.runner, self.runner.journal
        started = time.monotonic()
        outputs: Any = None
        stopped = ""
        report = ClientReport()
        try:
            with process.beating(lambda: journal.beat(self.id), runner.heartbeat):
                async with runner.context(self.account, self.transport) as ctx:
                    engine = Engine(
                        self.flow,
                        ctx,
                        journal,
                        self.id,
                        resend_unknown=self.resend_unknown,
                        settle=runner.settle,
                        retry_pauses=runner.retry_pauses,
                        on_item=on_item,
                        on_wait=on_wait,
                        tally=self.tally,
                        halt=self.halted,
                        opt_outs=OptOutCheck(journal, ctx.account_id),
                    )
                    before = ClientReport.of(ctx.client)
                    try:
                        outputs = await engine.run(self.inputs, self.event)
                    finally:
                        report = ClientReport.of(ctx.client).since(before)
        except Halted:
            return self.interrupted()
        except asyncio.CancelledError:
            self.interrupted()
            raise
        except (StepFailed, OutputsFailed) as exc:
            stopped = str(exc)
        except FloError:
            journal.set_status(self.id, "failed", self.tally.as_dict())
            raise
        status = lifecycle.run_status(self.tally, bool(stopped))
        journal.set_status(self.id, status, self.tally.as_dict())
        return Outcome(
            self.id,
            status,
            self.tally,
            outputs,
            stopped,
            time.monotonic() - started,
            status == "failed" and runner.resumable(self.id),
            report.usage,
            dict(report.notes),
        )

    def interrupted(self) -> Outcome:
        """Record the run interrupted (nothing is lost: a resume finishes it)."""
        self.runner.journal.set_status(self.id, "interrupted", self.tally.as_dict())
        return Outcome(self.id, "interrupted", self.tally, resumable=True)


@dataclass
class ClientReport:
    """What a run's client says its calls did, if it says (a Twilio client: message
    segments and the time its pacing needed as ``usage()``; lines for the run's summary,
    such as why messages failed, as ``notes()``)."""

    usage: dict[str, float] = field(default_factory=dict)
    notes: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, client: Any) -> ClientReport:
        usage, notes = getattr(client, "usage", None), getattr(client, "notes", None)
        return cls(
            dict(usage()) if callable(usage) else {},
            Counter(notes()) if callable(notes) else Counter(),
        )

    def since(self, before: ClientReport) -> ClientReport:
        """What was added after ``before``."""
        usage = {k: v - before.usage.get(k, 0) for k, v in self.usage.items()}
        return ClientReport({k: v for k, v in usage.items() if v}, self.notes - before.notes)


Connect = Callable[[Registry, Account, Any], AbstractAsyncContextManager[CardContext]]
# The connection a Runner.connected block holds: (runner, account, transport, context).
HELD: ContextVar[tuple[Runner, Account, Any, CardContext] | None] = ContextVar(
    "flo_held_connection", default=None
)


def shared_limits(journal: Journal) -> SharedLimits | None:
    """Where accounts' limits hold across processes: the journal's PostgreSQL database, so
    every machine using it; with a SQLite journal, each process keeps its own."""
    url = getattr(journal.store, "url", None)
    if not url:
        return None
    from flo_twilio.runner.shared_limits import PostgresLimits

    return PostgresLimits(url)


class Runner:
    """Plans, checks, starts, resumes and dry-runs flows of ``registry``'s cards, journalled
    in ``journal`` (a Journal, a SQLite file's path or a ``postgresql://`` URL; default
    $FLO_JOURNAL, else $FLO_HOME/runs.db). ``settle`` is the settle window (default $FLO_SETTLE_SECONDS or 60 s);
    ``retry_pauses`` are the seconds before each new try of a call the API did not take (default
    $FLO_RETRY_PAUSES or 1, 5, 15); a running run beats every $FLO_HEARTBEAT_SECONDS (5),
    so that workers on other machines sharing the journal see it runs;
    ``connect(registry, account, transport)`` gives the card context a run uses (by default
    a connection opened for the run; a host may share one across runs). With the journal
    in PostgreSQL, the limits an account sets hold across every process using it
    (``limits``, for a host's own ``connect`` to pass on)."""

    def __init__(
        self,
        registry: Registry,
        journal: Journal | Path | str | None = None,
        *,
        settle: float | None = None,
        retry_pauses: Sequence[float] | None = None,
        connect: Connect | None = None,
    ) -> None:
        self.registry = registry
        self.journal = open_journal(journal)
        self.settle = settle_window(settle)
        self.retry_pauses = retry_schedule(retry_pauses)
        self.heartbeat = process.heartbeat_seconds()
        self.limits = shared_limits(self.journal)
        self.connect = connect or functools.partial(open_context, limits=self.limits)

    @contextlib.asynccontextmanager
    async def connected(
        self, account: Account, transport: Any = None
    ) -> AsyncIterator[CardContext]:
        """One connection as ``account`` for the block: ``check``, ``dry_run``, ``resume``
        and the ``execute`` of a run on that account and transport use it inside the block
        (in its task and the tasks it starts), rather than each opening its own
        (``flo run``: one client from the check to the end)."""
        async with self.connect(self.registry, account, transport) as ctx:
            token = HELD.set((self, account, transport, ctx))
            try:
                yield ctx
            finally:
                HELD.reset(token)

    def context(
        self, account: Account, transport: Any = None
    ) -> AbstractAsyncContextManager[CardContext]:
        """The connection ``connected`` holds for this account and transport, else a new
        one for the block."""
        held = HELD.get()
        if held is not None and held[:3] == (self, account, transport):
            return contextlib.nullcontext(held[3])
        return self.connect(self.registry, account, transport)

    def plan(
        self,
        flow_path: Path,
        arguments: Sequence[str] = (),
        files: FileOptions | None = None,
        *,
        partial: bool = False,
    ) -> Plan:
        """Load the flow and read its ``NAME=VALUE`` inputs (``@file`` relative to the
        current folder, read as ``files`` says). ``partial`` does not require the inputs
        that are not given (to validate a flow alone)."""
        flow = load_flow(flow_path, self.registry)
        files = files or FileOptions()
        given = parse_assignments(list(arguments), Path.cwd(), files)

        def declared(name: str) -> str:
            return flow.document.where(("inputs", name))

        inputs = resolve_inputs(flow.inputs, given, partial=partial, declared=declared)
        return Plan(flow, inputs, list(arguments), files)

    async def check(self, plan: Plan, account: Account, transport: Any = None) -> dict[str, int]:
        """Build every input row and every call known before the run, on ``account``;
        raise ``InvalidInputError`` listing what is wrong. How many rows each file has."""
        async with self.context(account, transport) as ctx:
            plan.held_back = []
            opt_outs = OptOutCheck(self.journal, ctx.account_id)
            return precheck(plan.flow, plan.inputs, ctx, opt_outs, plan.held_back)

    def start(
        self,
        plan: Plan,
        account: Account,
        transport: Any = None,
        *,
        origin: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> Run:
        """Record a new run of ``plan`` on ``account``; ``origin`` is what the host keeps
        with the run to find the account again on resume. A ``key`` (a host's name for the
        work) is the run's alone: ``KeyTaken`` names the run started with it before, which
        ``run_with_key`` finds too."""
        run_id = lifecycle.start(
            self.journal,
            plan.flow,
            account,
            account_id(self.registry, account),
            plan.arguments,
            plan.files,
            origin or {},
            plan.event,
            key,
            account_location(self.registry, account),
        )
        for step_id, index, why in plan.held_back:  # before anything is sent
            error = {"type": OPTED_OUT, "message": why}
            self.journal.finish(run_id, step_id, index, "skipped", error=error)
        return Run(self, run_id, plan.flow, plan.inputs, account, transport, event=plan.event)

    async def resume(
        self,
        run_id: str,
        account: Account,
        transport: Any = None,
        *,
        resend_unknown: bool = False,
        secret_inputs: Sequence[str] = (),
    ) -> Run:
        """Take ``run_id`` over on ``account`` (the one its record names), given its secret
        inputs again (``NAME=VALUE``: they are kept nowhere): refused, before
        anything is sent, when its flow, input files or account (its id, or where its
        records live) changed, its inputs fail
        the checks, or a live process still runs it."""
        reopened = lifecycle.reopen(
            self.journal,
            run_id,
            self.registry,
            account,
            account_id(self.registry, account),
            account_location(self.registry, account),
            list(secret_inputs),
        )
        plan = Plan(reopened.flow, reopened.inputs, event=reopened.event)
        await self.check(plan, account, transport)
        self.journal.take_over(run_id)
        return Run(
            self,
            run_id,
            plan.flow,
            plan.inputs,
            account,
            transport,
            resend_unknown=resend_unknown,
            event=plan.event,
        )

    async def dry_run(
        self,
        plan: Plan,
        account: Account,
        transport: Any = None,
        on_preview: Callable[[dict[str, Any]], None] = lambda request: None,
    ) -> Tally:
        """Render and check every call, handing each request to ``on_preview``; send and
        record nothing. Invalid items are counted failed; those to a recipient who opted
        out, skipped (``opted_out``, with the reason)."""
        async with self.context(account, transport) as ctx:
            engine = Engine(
                plan.flow,
                ctx,
                None,
                "dry-run",
                dry_run=True,
                on_preview=on_preview,
                opt_outs=OptOutCheck(self.journal, ctx.account_id),
            )
            try:
                await engine.run(plan.inputs, plan.event)
            except StepFailed as exc:
                raise InvalidInputError(str(exc)) from None
        return engine.tally

    def run_with_key(self, key: str) -> str | None:
        """The id of the run started with ``key``, if any."""
        return self.journal.run_with_key(key)

    def record(self, run_id: str) -> dict[str, Any] | None:
        """The run's record (flow, account, status, summary...), or None."""
        return self.journal.run(run_id)

    def runs(self) -> list[dict[str, Any]]:
        """Every run's record, newest first."""
        return self.journal.runs()

    def status(self, run_id: str) -> dict[str, Any]:
        """The run's record with each step's counts by state (``steps``)."""
        record = self.journal.run(run_id)
        if record is None:
            raise InvalidInputError(f"no run {run_id!r}; see flo runs list")
        return {**record, "steps": self.journal.step_counts(run_id)}

    def outputs(self, run_id: str) -> Any:
        """The flow's outputs of a run that went through its steps, read from the journal
        (``InvalidInputError`` says why there are none yet)."""
        return lifecycle.outputs_of(self.journal, run_id, self.registry)

    def problems(self, run_id: str) -> Iterator[dict[str, Any]]:
        """Each item that failed or whose outcome is unknown: step, item, state, error."""
        for step_id in self.journal.step_ids(run_id):
            for item in self.journal.items(run_id, step_id, states=("failed", "unknown", "intent")):
                yield {
                    "step": step_id,
                    "item": item.index,
                    "state": item.state,
                    "error": item.error,
                }

    def resumable(self, run_id: str) -> bool:
        """True when a resume can end differently: some item's outcome is unknown, or failed
        for a cause outside the flow and its inputs (the network, the provider's side, the
        credentials). Invalid input and a provider's refusal of an item's own data fail the
        same way again."""
        for problem in self.problems(run_id):
            error = problem["error"] or {}
            if problem["state"] in ("intent", "unknown"):
                return True
            if str(error.get("type")).startswith("InvalidInput"):
                continue
            status = error.get("status")
            if status is None or status in (401, 403, 429) or status >= 500:
                return True
        return False
