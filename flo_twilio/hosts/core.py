"""What an automation host (Airflow, Prefect, Dagster...) calls to send through flo at most
once per piece of work, however often the host retries it.

The host names each piece of work with a key it keeps stable across its retries (its run,
task and map index). The work runs as a flo run started under that key: its intents are
journalled before anything is sent, and a retry resumes the same run, so what was sent is
found (reconciled) before anything is sent again. A ``Sender`` holds one client per account
in each process, on the process's portal loop, whatever thread or loop the host calls from.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import os
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flo_twilio.accounts import Account, connection_types, flo_home
from flo_twilio.card import CardContext
from flo_twilio.errors import FloError, InvalidInputError, KeyTaken, Problem, RunInUseError
from flo_twilio.hosts.portal import portal
from flo_twilio.hosts.progress import Say, WorkProgress, silent
from flo_twilio.hosts.work import checked_items, work_files
from flo_twilio.plugins import Registry, load_registry
from flo_twilio.runner import (
    Journal,
    Outcome,
    Plan,
    Run,
    Runner,
    is_url,
    journal_target,
    open_context,
)


class HostSendError(FloError):
    """The work did not end with every item done. ``retryable``: a retry of the same key
    can end differently (outcomes still unknown, the network, the provider's side); else it
    would fail the same way. ``problems``: each item that did not end done (step, item,
    state, error). It pickles whole (hosts move it between processes)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        run_id: str = "",
        problems: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.retryable, self.run_id, self.problems = retryable, run_id, list(problems)


@dataclass
class BulkResult:
    """A finished piece of work: its run, and each item's outputs in item order (None for
    an item not sent because its recipient opted out: ``opted_out`` counts them)."""

    run_id: str
    outputs: list[dict[str, Any] | None] = field(default_factory=list)
    done: int = 0
    failed: int = 0
    unknown: int = 0
    opted_out: int = 0


def account_from(nickname: str, fields: Mapping[str, Any], connection: str = "twilio") -> Account:
    """An account from the fields a host keeps (for Twilio: account_sid, auth_token or
    api_key and api_secret, region, edge, api_base_url, max_in_flight, max_per_second; empty
    ones are left out, numbers are taken as their text), checked as ``flo accounts add``
    checks them; its secrets are registered for redaction at once."""
    kinds = connection_types()
    if connection not in kinds:
        hint = f"known: {', '.join(sorted(kinds))}"
        raise InvalidInputError([Problem(f"unknown connection type {connection!r}", hint=hint)])
    if not isinstance(fields, Mapping):
        raise InvalidInputError(f"the fields of the connection {nickname!r} must be a mapping")
    kind = kinds[connection]
    known = {f.name for f in kind.fields}
    given = {k: str(v) for k, v in fields.items() if v is not None and str(v) != ""}
    problems = [
        Problem(f"unknown field {name!r}", hint=f"known fields: {', '.join(sorted(known))}")
        for name in given
        if name not in known
    ]
    problems += kind.problems({k: v for k, v in given.items() if k in known})
    if problems:
        where = f"the {kind.title} connection {nickname!r}"
        raise InvalidInputError([Problem(p.message, where, p.hint) for p in problems])
    secrets = {k: v for k, v in given.items() if kind.field(k).secret}
    values = {k: v for k, v in given.items() if k not in secrets}
    return Account(nickname, connection, values, "host", secrets=secrets)


class Sender:
    """Sends cards' calls for a host, each piece of work at most once under its key.

    ``journal`` is where the intents are kept: a ``postgresql://`` URL that every machine
    reaches (default $FLO_JOURNAL), or else the SQLite file ``runs.db`` in ``state``, the
    folder of the journal and the work files (default ``$FLO_HOME/hosts``), which must
    then be one every worker that may retry the work sees, on a local disk (SQLite's
    write-ahead log: one machine). With a URL, the work (card, options, items) is kept
    with the run in the database, so a retry on another machine resumes it; with no
    ``state`` too, no folder needs to last: each call writes its flow file again, by its
    content, in a temporary folder.
    ``settle`` is the settle window (default $FLO_SETTLE_SECONDS or 60 s). Use ``Sender.shared`` for the process's one Sender of an account.
    """

    def __init__(
        self,
        account: Account,
        state: Path | str | None = None,
        *,
        journal: str | Path | None = None,
        settle: float | None = None,
        transport: Any = None,
        registry: Registry | None = None,
    ) -> None:
        self.account, self.transport = account, transport
        self.journal, self.journal_named = journal_target(journal, "the Sender's journal")
        if state is None and is_url(self.journal or ""):
            self.state = Path(tempfile.gettempdir()) / f"flo-hosts-{os.getuid()}"
        else:
            self.state = state_folder(state)
        self.registry = registry or load_registry()
        self._open_here(settle)

    def _open_here(self, settle: float | None) -> None:
        """This process's journal, and its client once used: a forked child that inherits
        the Sender opens its own, as the parent's cannot be used across a fork."""
        try:
            journal = Journal(self.journal or self.state / "runs.db", self.journal_named)
        except (OSError, sqlite3.Error) as exc:
            raise unusable(self.state, exc) from None
        self.runner = Runner(self.registry, journal, settle=settle, connect=self._connected)
        self._context: CardContext | None = None
        self._open = AsyncExitStack()
        self._opening: asyncio.Lock | None = None
        self._pid = os.getpid()
        _made.add(self)

    def _here(self) -> None:
        if self._pid != os.getpid():
            self._open_here(self.runner.settle)

    @classmethod
    def shared(
        cls,
        account: Account,
        state: Path | str | None = None,
        *,
        journal: str | Path | None = None,
        settle: float | None = None,
    ) -> Sender:
        """The process's one Sender for this account (the same values and secrets), state
        folder, journal and settle window: one client, one in-flight cap, across every
        task."""
        secret = repr(sorted(account.connection_values().items())).encode()
        identity = (
            account.connection,
            hashlib.sha256(secret).hexdigest(),
            state_folder(state),
            journal_target(journal),
            settle,
        )
        with _shared_lock:
            if identity not in _shared:
                _shared[identity] = cls(account, state, journal=journal, settle=settle)
            return _shared[identity]

    # What hosts call: async from any event loop, sync from any thread.

    async def send_once(
        self,
        key: str,
        card: str,
        options: Mapping[str, Any],
        inputs: Mapping[str, Any],
        *,
        progress: Say | None = None,
    ) -> dict[str, Any]:
        """Call ``card`` once under ``key``: its outputs. A retry with the same key returns
        what the first call made, looking it up when its outcome was not recorded, and
        sends only what never arrived. ``HostSendError`` when it did not end done.
        ``progress`` takes lines for the host's log (see ``send_bulk``)."""
        result = await self.send_bulk(
            key, card, options, [inputs], concurrency=1, progress=progress
        )
        outputs = result.outputs[0]
        assert outputs is not None  # the run ended done
        return outputs

    def send_once_sync(
        self,
        key: str,
        card: str,
        options: Mapping[str, Any],
        inputs: Mapping[str, Any],
        *,
        progress: Say | None = None,
    ) -> dict[str, Any]:
        """``send_once`` for synchronous code, with or without a running event loop."""
        return portal().call(self.send_once(key, card, options, inputs, progress=progress))

    async def send_bulk(
        self,
        key: str,
        card: str,
        options: Mapping[str, Any],
        items: Sequence[Mapping[str, Any]],
        *,
        concurrency: int = 16,
        progress: Say | None = None,
    ) -> BulkResult:
        """Call ``card`` with ``options`` for each item's inputs (every item with the same
        inputs), ``concurrency`` at a time, as one run under ``key``: a retry resumes it (at
        the first attempt's concurrency) and sends nothing twice. ``InvalidInputError``
        before anything is sent when options or an item are wrong; ``HostSendError`` when not every item ended done.
        ``progress`` (e.g. a host's ``logger.info``) is told, from the Sender's thread, how
        the work goes: its start, each tenth of its items, its waits and its end (counts
        only, no numbers or bodies)."""
        work = self._work(key, card, options, items, concurrency, progress)
        return await portal().call_async(work)

    def send_bulk_sync(
        self,
        key: str,
        card: str,
        options: Mapping[str, Any],
        items: Sequence[Mapping[str, Any]],
        *,
        concurrency: int = 16,
        progress: Say | None = None,
    ) -> BulkResult:
        """``send_bulk`` for synchronous code, with or without a running event loop."""
        work = self.send_bulk(key, card, options, items, concurrency=concurrency, progress=progress)
        return portal().call(work)

    async def test(self) -> dict[str, Any]:
        """Check the credentials with one call (a host's "Test" button): what the provider
        says of the account; ``AccountError`` or ``ProviderError`` when refused."""
        return await portal().call_async(self._verify())

    def test_sync(self) -> dict[str, Any]:
        """``test`` for synchronous code."""
        return portal().call(self.test())

    async def aclose(self) -> None:
        """Close the account's client (a later call opens it again)."""
        await portal().call_async(self._close())

    # On the portal loop.

    async def _close(self) -> None:
        self._here()
        await self._open.aclose()
        self._context = None

    async def _work(
        self,
        key: str,
        card_name: str,
        options: Mapping[str, Any],
        items: Sequence[Mapping[str, Any]],
        concurrency: int,
        progress: Say | None = None,
    ) -> BulkResult:
        checked_key(key)
        self._here()
        if not isinstance(card_name, str):
            raise InvalidInputError("the card must be a card's name, like twilio.send_sms")
        card = self.registry.card(card_name)
        if card.manifest.is_trigger:
            raise InvalidInputError(
                f"{card_name!r} is a trigger: it starts flows on events, it cannot be sent"
            )
        whole = isinstance(concurrency, int) and not isinstance(concurrency, bool)
        if not whole or not 1 <= concurrency <= 1000:
            raise InvalidInputError("concurrency must be a whole number from 1 to 1000")
        async with self._connected(self.registry, self.account, self.transport) as ctx:
            listed = checked_items(card(), options, items, ctx)
        try:
            flow_path, arguments = work_files(
                self.state,
                card_name,
                options,
                listed,
                concurrency,
                card.manifest.write_only("inputs"),
                in_journal=is_url(self.journal or ""),
            )
        except OSError as exc:
            raise unusable(self.state, exc) from None
        plan = self.runner.plan(flow_path, arguments)
        working = (self.state, key)
        if working in _working:
            raise HostSendError(
                f"the work of key {key!r} is running in this process now; wait for it",
                retryable=True,
            )
        _working.add(working)
        try:
            resumed = self.runner.run_with_key(key) is not None
            run = await self._start_or_resume(key, plan)
            told = WorkProgress(progress or silent, run.id, len(listed))
            told.start(concurrency, resumed=resumed)
            outcome = await run.execute(on_item=told.item, on_wait=told.wait)
            told.end(outcome.status, outcome.tally)
        finally:
            _working.discard(working)
        return self._result(outcome, len(listed))

    async def _start_or_resume(self, key: str, plan: Plan) -> Run:
        """A new run under ``key``; the one started under it before, resumed, when it did
        the same work (the work file names the card, options and items); refused when it
        did other work."""
        run_id = self.runner.run_with_key(key)
        if run_id is None:
            await self.runner.check(plan, self.account, self.transport)
            try:
                return self.runner.start(plan, self.account, self.transport, key=key)
            except KeyTaken as taken:  # another attempt started it meanwhile
                run_id = taken.run_id
        record = self.runner.record(run_id) or {}
        secret = plan.secret_arguments
        if record.get("arguments", {}).get("inputs") != [
            a for a in plan.arguments if a not in secret
        ]:
            raise HostSendError(
                f"the key {key!r} was used for other work (run {run_id}): nothing was sent; "
                "give each piece of work its own key",
                retryable=False,
                run_id=run_id,
            )
        try:
            return await self.runner.resume(
                run_id, self.account, self.transport, secret_inputs=secret
            )
        except RunInUseError as exc:  # another attempt still runs it: a retry may take it
            raise HostSendError(str(exc), retryable=True, run_id=run_id) from None
        except InvalidInputError as exc:
            raise HostSendError(str(exc), retryable=False, run_id=run_id) from None

    def _result(self, outcome: Outcome, count: int) -> BulkResult:
        tally = outcome.tally
        if outcome.status != "done":
            problems = list(self.runner.problems(outcome.run_id))
            retryable = outcome.status in ("incomplete", "interrupted") or outcome.resumable
            if refused_credentials(problems):
                retryable, then = False, REFUSED
            else:
                then = "a retry with the same key finishes it" if retryable else FAILS_AGAIN
            heading = f"run {outcome.run_id} ended {outcome.status} ({tally}): {then}"
            raise HostSendError(
                "\n".join([heading, *described(problems)]),
                retryable=retryable,
                run_id=outcome.run_id,
                problems=problems,
            )
        results = (outcome.outputs or {}).get("results") or []
        outputs = [dict(value) if isinstance(value, Mapping) else None for value in results]
        return BulkResult(
            outcome.run_id,
            outputs[:count],
            tally.done,
            tally.failed,
            tally.unknown,
            tally.opted_out,
        )

    async def _verify(self) -> dict[str, Any]:
        self._here()
        async with self._connected(self.registry, self.account, self.transport) as ctx:
            kind = self.registry.connection(self.account.connection)
            return await kind.verify(ctx.client)

    @asynccontextmanager
    async def _connected(
        self, registry: Registry, account: Account, transport: Any
    ) -> AsyncIterator[CardContext]:
        """The account's one card context (opened on first use, kept open): what every run
        of this Sender uses."""
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._context is None:
                opened = open_context(registry, account, transport, limits=self.runner.limits)
                self._context = await self._open.enter_async_context(opened)
        yield self._context


SHOWN = 20  # items described in a HostSendError's message
FAILS_AGAIN = "a retry fails the same way"
REFUSED = (
    "the account's credentials were refused: check its Account SID and Auth Token (or API "
    "key and secret); a retry fails the same way until they are fixed"
)


def state_folder(state: Path | str | None) -> Path:
    """The absolute state folder (default ``$FLO_HOME/hosts``)."""
    if state is None:
        return flo_home() / "hosts"
    try:
        return Path(state).expanduser().resolve()
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"the state folder must be a folder's path ({exc})") from None


def unusable(state: Path, exc: BaseException) -> InvalidInputError:
    """The state folder named, with why it cannot be used and what to give instead."""
    hint = "give a local folder this process can create and write, seen by every worker"
    return InvalidInputError(
        [Problem(f"the state folder {state} cannot be used ({exc})", hint=hint)]
    )


def checked_key(key: Any) -> None:
    """Refuse a key that names no work: under none, every retry would send again."""
    if not isinstance(key, str):
        wrong = f"not {type(key).__name__}"
    elif not key.strip():
        wrong = "not empty"
    elif key.encode(errors="replace").decode() != key:
        wrong = "Unicode text (this one holds a lone surrogate)"
    else:
        return
    hint = "the same on every retry of the work, e.g. airflow/DAG_ID/RUN_ID/TASK_ID/MAP_INDEX"
    raise InvalidInputError([Problem(f"the key must be text naming the work, {wrong}", hint=hint)])


def refused_credentials(problems: Sequence[Mapping[str, Any]]) -> bool:
    """True when an item failed because the provider refused the account (HTTP 401 or 403):
    a retry fails the same way until the credentials change, whatever else is left."""
    return any(
        problem["state"] == "failed" and (problem["error"] or {}).get("status") in (401, 403)
        for problem in problems
    )


def described(problems: Sequence[Mapping[str, Any]], most: int = SHOWN) -> list[str]:
    """A line for each of the first ``most`` items that did not end done (numbered from 1,
    with the provider's code and message), and how many more there are."""
    lines = []
    for problem in problems[:most]:
        error = problem["error"] or {}
        code = f" {error['code']}" if error.get("code") else ""
        lines.append(
            f"item {problem['item'] + 1} {problem['state']}:{code} {error.get('message', '')}"
        )
    if len(problems) > most:
        lines.append(f"... and {len(problems) - most} more")
    return lines


_working: set[tuple[Path, str]] = set()  # (state, key) of work running in this process
_shared: dict[tuple[Any, ...], Sender] = {}
_made: weakref.WeakSet[Sender] = weakref.WeakSet()  # closed at exit
_shared_lock = threading.Lock()


def _forget_in_child() -> None:
    """A forked child makes its own Senders: their clients lived on the parent's loop."""
    global _shared_lock
    _shared.clear()
    _made.clear()
    _working.clear()
    _shared_lock = threading.Lock()


def _close_all() -> None:
    """At exit, the Senders' clients are closed, not dropped."""
    for sender in list(_made):
        with contextlib.suppress(Exception):
            portal().call(sender.aclose())


os.register_at_fork(after_in_child=_forget_in_child)
atexit.register(_close_all)
