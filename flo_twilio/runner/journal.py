"""The run journal: in SQLite (WAL) under FLO_HOME, or in PostgreSQL named by a URL
(``journal_store.py``). An item's intent is committed before a card that changes the world
is called, its outcome after; a resumed run reads both.

Item writes go to the group-commit writer (``journal_writer.py``): ``durable`` waits for the
commit of everything written so far (an intent must be durable before its call leaves);
outcomes are not waited for: one lost to a crash before its commit costs a look-up, never a
send. Every read sees every write made so far.

Results found by reconciliation, and the results of sends, are *claimed* per account: no
other item of any run can take a claimed result. Everything that grows with the number of
items (a step's outputs, a resume's earlier rows, counts) is read a page at a time or
counted in SQL, so memory stays flat however many rows a run has."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from flo_twilio.accounts import flo_home
from flo_twilio.errors import InvalidInputError
from flo_twilio.redaction import safe_json
from flo_twilio.runner.journal_schema import migrate
from flo_twilio.runner.journal_store import (
    Connection,
    JournalUnreachable,
    Statement,
    journal_target,
    open_store,
)
from flo_twilio.runner.journal_writer import GroupCommit

# intent: committed before the call; done / failed: its outcome (failed: it did not happen,
# unless its error says "happened"); unknown: the call may have happened, and it was not
# found (yet); skipped: its step's if: did not hold, nothing was sent. Any other state read
# back is taken as unknown.
STATES = ("intent", "done", "failed", "unknown", "skipped")
PAGE = 500


class KeyTaken(Exception):
    """A run was started with that key already: ``run_id``."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} was started with that key")
        self.run_id = run_id


class RunOwned(InvalidInputError):
    """Another live process runs the run: taking it over could send an item twice."""


@dataclass
class Item:
    step_id: str
    index: int
    key: str
    state: str
    inputs: Any
    outputs: Any
    error: Any
    started: float


def scrub(value: Any) -> str:
    """JSON text of ``value`` with credential fields masked and registered secrets redacted."""
    return safe_json(value)


def _loads(text: Any) -> Any:
    """A journal cell's JSON value; None for an empty or unreadable cell."""
    if not isinstance(text, str | bytes) or not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _item(row: tuple[Any, ...]) -> Item:
    """A row as an Item, whatever it holds: no row can stop a resume."""
    step_id, index, key, state, inputs, outputs, error, started = row
    return Item(
        str(step_id),
        int(index),
        key if isinstance(key, str) else "",
        state if state in STATES else "unknown",
        _loads(inputs),
        _loads(outputs),
        _loads(error),
        float(started) if isinstance(started, int | float) else 0.0,
    )


ITEM_COLUMNS = "step_id, idx, key, state, inputs, outputs, error, started"


class Journal:
    """A journal in ``target``: a SQLite file's path, or a ``postgresql://`` URL; ``where`` names where the target was given, for messages. Its schema is
    migrated, or refused when newer than this flo's, before anything is read."""

    def __init__(self, target: Path | str, where: str = "") -> None:
        self.store = open_store(target, where)
        try:
            self._writes = GroupCommit(self.store)
        except self.store.errors as exc:
            raise self.store.unreachable(exc) from None
        try:
            self._writes.transact(lambda db: migrate(db, self.store))
        except BaseException:
            self._writes.close()
            raise
        self._intents: dict[tuple[str, str, int], str] = {}  # inputs written, until finished

    @property
    def _db(self) -> Connection:
        """The connection as it is (for tests of the writer)."""
        return self._writes.db

    @property
    def db(self) -> Connection:
        """The connection, with every write made so far committed (for tests and tools)."""
        self.commit()
        return self._writes.db

    def close(self) -> None:
        self._writes.close()

    def commit(self) -> None:
        """Commit every write made so far, now; raise if a commit failed."""
        self._writes.commit()

    async def durable(self) -> None:
        """Wait until every write made so far is committed."""
        await self._writes.durable()

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._writes.read(sql, args)

    def _write(self, sql: str, args: Sequence[Any] = ()) -> None:
        self._writes.write(sql, args)

    # Runs.

    def start_run(
        self,
        flow: str,
        flow_path: str,
        account: str,
        arguments: dict[str, Any],
        bound: dict[str, Any],
        key: str | None = None,
    ) -> str:
        """Record a new run, owned by this process; ``bound`` is what it is bound to. A run
        started with a ``key`` is the only one with that key: ``KeyTaken`` names the run that
        has it already."""
        run_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        now = time.time()
        try:
            self._write(
                "INSERT INTO runs (id, flow, flow_path, account, arguments, status, created, "
                "updated, summary, pid, owner, bound, run_key) "
                "VALUES (?, ?, ?, ?, ?, 'running', ?, ?, '{}', ?, ?, ?, ?)",
                (
                    run_id,
                    flow,
                    flow_path,
                    account,
                    scrub(arguments),
                    now,
                    now,
                    os.getpid(),
                    self.store.owner(),
                    scrub(bound),
                    key,
                ),
            )
        except self.store.duplicate:
            taken = self.run_with_key(key) if key is not None else None
            if taken is None:
                raise
            raise KeyTaken(taken) from None
        return run_id

    def run_with_key(self, key: str) -> str | None:
        """The id of the run started with ``key``, if any."""
        rows = self._read("SELECT id FROM runs WHERE run_key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def take_over(self, run_id: str) -> None:
        """Mark the run as running in this process; refuse when another live process runs it
        (two processes resuming one run could both send an item)."""
        store, owner = self.store, self.store.owner()

        def take(db: Connection) -> None:  # two takers: the row's lock lets one through
            row = db.execute(
                f"SELECT status, pid, owner, updated FROM runs WHERE id = ?{store.lock_row}",
                (run_id,),
            ).fetchone()
            if row and row[0] == "running" and row[2] != owner and store.alive(*row[1:]):
                raise RunOwned(store.running_elsewhere(run_id, *row[1:]))
            db.execute(
                "UPDATE runs SET status = 'running', pid = ?, owner = ?, updated = ? WHERE id = ?",
                (os.getpid(), owner, time.time(), run_id),
            )

        self._writes.transact(take)

    def beat(self, run_id: str) -> None:
        """Say that this process still runs ``run_id`` (its heartbeat)."""
        with contextlib.suppress(*self.store.errors, JournalUnreachable):  # missed beats only
            self._write(  # make the run look older
                "UPDATE runs SET updated = ? WHERE id = ? AND owner = ?",
                (time.time(), run_id, self.store.owner()),
            )

    def set_status(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        self._write(
            "UPDATE runs SET status = ?, updated = ?, summary = COALESCE(?, summary) WHERE id = ?",
            (status, time.time(), scrub(summary) if summary is not None else None, run_id),
        )

    def run(self, run_id: str) -> dict[str, Any] | None:
        rows = self._read(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        return self._run_row(rows[0]) if rows else None

    def runs(self) -> list[dict[str, Any]]:
        rows = self._read(f"SELECT {RUN_COLUMNS} FROM runs ORDER BY created DESC")
        return [self._run_row(row) for row in rows]

    def _run_row(self, row: tuple[Any, ...]) -> dict[str, Any]:
        run_id, flow, flow_path, account, arguments, status, created, updated, summary = row[:9]
        pid, owner, bound = row[9:]
        if status == "running" and not self.store.alive(pid, owner, updated):
            status = "interrupted"  # its process is gone (killed, or the machine stopped)
        counts = dict(
            self._read(
                "SELECT state, COUNT(*) FROM items WHERE run_id = ? GROUP BY state", (run_id,)
            )
        )
        return {
            "id": run_id,
            "flow": flow,
            "flow_path": flow_path,
            "account": account,
            "arguments": _loads(arguments) or {},
            "status": status,
            "created": created,
            "updated": updated,
            "summary": _loads(summary) or {},
            "counts": counts,
            "bound": _loads(bound),
        }

    # Items: reading, a page at a time.

    def item(self, run_id: str, step_id: str, index: int) -> Item | None:
        rows = self._read(
            f"SELECT {ITEM_COLUMNS} FROM items WHERE run_id = ? AND step_id = ? AND idx = ?",
            (run_id, step_id, index),
        )
        return _item(rows[0]) if rows else None

    def items(
        self, run_id: str, step_id: str, start: int = 0, states: Sequence[str] = ()
    ) -> Iterator[Item]:
        """The step's rows from index ``start`` on, in order (only ``states`` if given)."""
        where = f" AND state IN ({', '.join('?' * len(states))})" if states else ""
        while True:
            rows = self._read(
                f"SELECT {ITEM_COLUMNS} FROM items WHERE run_id = ? AND step_id = ? "
                f"AND idx >= ?{where} ORDER BY idx LIMIT {PAGE}",
                (run_id, step_id, start, *states),
            )
            yield from (_item(row) for row in rows)
            if len(rows) < PAGE:
                return
            start = rows[-1][1] + 1

    def step_ids(self, run_id: str) -> list[str]:
        rows = self._read(
            "SELECT step_id FROM items WHERE run_id = ? GROUP BY step_id "
            f"ORDER BY {self.store.first_written}",
            (run_id,),
        )
        return [row[0] for row in rows]

    def step_counts(self, run_id: str) -> dict[str, dict[str, int]]:
        """Items per state of each step, counted in SQL."""
        counts: dict[str, dict[str, int]] = {step: {} for step in self.step_ids(run_id)}
        for step_id, state, count in self._read(
            "SELECT step_id, state, COUNT(*) FROM items WHERE run_id = ? GROUP BY step_id, state",
            (run_id,),
        ):
            counts[step_id][state if state in STATES else "unknown"] = count
        return counts

    def prior(self, run_id: str, step_id: str) -> PriorItems:
        return PriorItems(self, run_id, step_id)

    def outputs(self, run_id: str, step_id: str, count: int) -> StepOutputs:
        return StepOutputs(self, run_id, step_id, count)

    def claimed(self, account_sid: str) -> Claims:
        return Claims(self, account_sid)

    # Items: writing, off the event loop.

    def intent(self, run_id: str, step_id: str, index: int, key: str, inputs: Any) -> float:
        """Write that this item is about to be called (``durable`` before calling it);
        returns the time recorded."""
        now = time.time()
        text = self._intents[(run_id, step_id, index)] = scrub(inputs)
        self._writes.add(
            (
                "INSERT INTO items VALUES (?, ?, ?, ?, 'intent', ?, NULL, NULL, ?, ?) "
                "ON CONFLICT (run_id, step_id, idx) DO UPDATE SET state = 'intent', "
                "key = excluded.key, inputs = excluded.inputs, started = excluded.started, "
                "updated = excluded.updated, error = NULL",
                (run_id, step_id, index, key, text, now, now),
            )
        )
        return now

    def finish(
        self,
        run_id: str,
        step_id: str,
        index: int,
        state: str,
        *,
        key: str = "",
        inputs: Any = None,
        outputs: Any = None,
        error: Any = None,
        claim: tuple[str, str] | None = None,
        exclusive: bool = False,
    ) -> bool:
        """Record an item's outcome (creating its row when no intent was needed), claiming
        ``claim`` = (account sid, result sid) for it in the same transaction. With
        ``exclusive``, a result another item has claimed is not taken: False, nothing written
        (such a claim is committed at once, to know)."""
        now = time.time()
        inputs_text = self._intents.pop((run_id, step_id, index), None) or scrub(inputs)
        record: Statement = (
            "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id, step_id, idx) DO UPDATE SET state = excluded.state, "
            "outputs = excluded.outputs, error = excluded.error, updated = excluded.updated",
            (
                run_id,
                step_id,
                index,
                key,
                state,
                inputs_text,
                scrub(outputs) if outputs is not None else None,
                scrub(error) if error is not None else None,
                now,
                now,
            ),
        )
        if claim is None:
            self._writes.add(record)
            return True
        taking: Statement = (
            "INSERT INTO claims VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (*claim, run_id, step_id, index),
        )
        if not exclusive:
            self._writes.add(taking, record)
            return True

        def take(db: Connection) -> bool:
            taken = db.execute(*taking).rowcount
            if not taken:
                row = db.execute(
                    "SELECT run_id, step_id, idx FROM claims WHERE account_sid = ? AND sid = ?",
                    claim,
                ).fetchone()
                if row is None or tuple(row) != (run_id, step_id, index):
                    return False  # another item's
            db.execute(*record)
            return True

        return self._writes.transact(take)


RUN_COLUMNS = (
    "id, flow, flow_path, account, arguments, status, created, updated, summary, pid, owner, bound"
)


def open_journal(
    given: Journal | Path | str | None = None, folder: Callable[[], Path] = flo_home
) -> Journal:
    """The journal ``given`` (a Journal, a SQLite file's path or a ``postgresql://`` URL),
    else $FLO_JOURNAL's, else ``runs.db`` in ``folder()`` (default $FLO_HOME)."""
    if isinstance(given, Journal):
        return given
    target, where = journal_target(given)
    return Journal(target if target is not None else folder() / "runs.db", where)


class PriorItems:
    """A step's rows from an earlier process, fetched a page at a time as the step reaches
    its items in order (``get`` with rising indexes)."""

    def __init__(self, journal: Journal, run_id: str, step_id: str) -> None:
        self.journal, self.run_id, self.step_id = journal, run_id, step_id
        self.rows: dict[int, Item] = {}
        self.loaded_to = 0  # rows below this index have been read

    def get(self, index: int) -> Item | None:
        if index >= self.loaded_to:
            rows = self.journal.items(self.run_id, self.step_id, start=index)
            page = [row for _, row in zip(range(PAGE), rows, strict=False)]
            self.rows = {row.index: row for row in page}
            self.loaded_to = page[-1].index + 1 if len(page) == PAGE else 2**62
        return self.rows.get(index)


class StepOutputs(Sequence[Any]):
    """A for_each step's outputs in input order (None where an item did not finish), read from
    the journal when they are used, never held all at once."""

    def __init__(self, journal: Journal, run_id: str, step_id: str, count: int) -> None:
        self.journal, self.run_id, self.step_id, self.length = journal, run_id, step_id, count

    def __len__(self) -> int:
        return self.length

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.length))]
        if not -self.length <= index < self.length:
            raise IndexError(index)
        item = self.journal.item(self.run_id, self.step_id, index % self.length)
        return item.outputs if item is not None and item.state == "done" else None

    def __iter__(self) -> Iterator[Any]:
        expected = 0
        for item in self.journal.items(self.run_id, self.step_id):
            if item.index >= self.length:
                break
            yield from itertools.repeat(None, item.index - expected)
            yield item.outputs if item.state == "done" else None
            expected = item.index + 1
        yield from itertools.repeat(None, self.length - expected)

    def __str__(self) -> str:  # interpolated into a string, as a list would be
        return json.dumps(list(self), ensure_ascii=False)

    def __repr__(self) -> str:
        return f"<outputs of {self.length} items of step {self.step_id}>"


class Claims:
    """The result sids claimed on an account, by any item of any run: ``sid in claims``."""

    def __init__(self, journal: Journal, account_sid: str) -> None:
        self.journal, self.account_sid = journal, account_sid

    def __contains__(self, sid: object) -> bool:
        rows = self.journal._read(
            "SELECT 1 FROM claims WHERE account_sid = ? AND sid = ?", (self.account_sid, sid)
        )
        return bool(rows)
