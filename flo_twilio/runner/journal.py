"""The run journal: SQLite (WAL) under FLO_HOME. An item's intent is committed before a
card that changes the world is called, its outcome after; a resumed run reads both.

Item writes are made off the event loop by one writer thread, which commits all the writes
waiting at that moment in one transaction: one fsync for all of them, while the loop goes on
sending. ``durable`` waits for the commit of everything written so far (an intent must be
durable before its call leaves); outcomes are not waited for: one lost to a crash before
its commit costs a look-up, never a send. Every read, and every write that is not an item's,
first commits what waits, so the journal reads as if every write were made at once.

Results found by reconciliation, and the results of sends, are *claimed* per account: no
other item of any run can take a claimed result. Everything that grows with the number of
items (a step's outputs, a resume's earlier rows, counts) is read a page at a time or
counted in SQL, so memory stays flat however many rows a run has."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from flo_twilio.errors import InvalidInputError, KeyTaken, Problem, RunInUseError
from flo_twilio.redaction import safe_json
from flo_twilio.runner import process
from flo_twilio.runner.database_files import check_database_file
from flo_twilio.runner.file_systems import on_network

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, flow TEXT, flow_path TEXT, account TEXT, arguments TEXT,
    status TEXT, created REAL, updated REAL, summary TEXT, pid INTEGER
);
CREATE TABLE IF NOT EXISTS items (
    run_id TEXT, step_id TEXT, idx INTEGER, key TEXT, state TEXT,
    inputs TEXT, outputs TEXT, error TEXT, started REAL, updated REAL,
    PRIMARY KEY (run_id, step_id, idx)
);
CREATE TABLE IF NOT EXISTS claims (
    account_sid TEXT, sid TEXT, run_id TEXT, step_id TEXT, idx INTEGER,
    PRIMARY KEY (account_sid, sid)
);
"""
# Columns added since the first journals: who runs the run, what it is bound to, and the
# key a host started it under (a run per key: a host's retry finds it again).
ADDED_COLUMNS = {"owner": "TEXT", "bound": "TEXT", "run_key": "TEXT"}

# intent: committed before the call; done / failed: its outcome (failed: it did not happen,
# unless its error says "happened"); unknown: the call may have happened, and it was not
# found (yet); skipped: its step's if: did not hold, nothing was sent. Any other state read
# back is taken as unknown.
STATES = ("intent", "done", "failed", "unknown", "skipped")
PAGE = 500


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


Statement = tuple[str, tuple[Any, ...]]


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if network := on_network(path.parent):
            raise InvalidInputError(
                [
                    Problem(
                        f"the journal {path} is on a network file system ({network}), where "
                        "SQLite's write-ahead log cannot keep intents safe: every process "
                        "using it must be on one machine, on a local disk",
                        hint="set FLO_HOME (or a host's state folder) to a local folder, and "
                        "run the sending tasks of a host on one machine",
                    )
                ]
            )
        check_database_file(path, "the journal of runs")
        new = not path.exists()
        # One connection, used by one thread at a time (``_use``): this one, or the writer.
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        if new:
            os.chmod(path, 0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an intent survives a crash or power loss
        self._db.executescript(SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        for column, kind in ADDED_COLUMNS.items():
            if column not in have:
                with contextlib.suppress(sqlite3.OperationalError):  # another process added it
                    self._db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
        self._db.execute("CREATE UNIQUE INDEX IF NOT EXISTS runs_by_key ON runs (run_key)")
        self._connection = threading.RLock()
        self._queue = threading.Condition()  # guards what follows
        self._waiting: list[Statement] = []  # item writes not yet handed to SQLite
        # Item writes made; handed to SQLite (in a transaction left open); committed.
        self._written = self._executed = self._committed = 0
        self._watchers: list[tuple[int, asyncio.Future[None]]] = []  # durable() callers
        self._failure: sqlite3.Error | None = None  # a commit failed: nothing more is durable
        self._writer: threading.Thread | None = None
        self._wake_due: asyncio.AbstractEventLoop | None = None  # the loop a wake-up is due on
        self._closing = False
        self._intents: dict[tuple[str, str, int], str] = {}  # inputs written, until finished

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, with every write made so far committed (for tests and tools)."""
        self.commit()
        return self._db

    def close(self) -> None:
        with self._queue:
            self._closing = True
            self._queue.notify()
        if self._writer is not None:
            self._writer.join()
        self.commit()
        self._db.close()

    @contextlib.contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        """The connection, to this thread alone, with every waiting write committed."""
        with self._connection:
            self._commit_waiting()
            yield self._db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._use() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Rows of a query that sees every write made so far (committed by the writer
        later: a read waits for no fsync)."""
        with self._connection:
            self._execute_waiting()
            return self._db.execute(sql, args).fetchall()

    def _write(self, sql: str, args: Sequence[Any] = ()) -> None:
        with self._use() as db:
            db.execute(sql, args)

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
                    process.identity(),
                    scrub(bound),
                    key,
                ),
            )
        except sqlite3.IntegrityError:
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
        with self.transaction():
            row = self._db.execute(
                "SELECT status, pid, owner, updated FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row and row[0] == "running" and row[2] != process.identity() and _alive(*row[1:]):
                host = process.host_of(row[2])
                where = f" on {host}" if host != process.UNKNOWN else ""
                raise RunInUseError(
                    run_id,
                    f"run {run_id} is running in process {row[1]}{where}; wait for it, "
                    "or stop it first",
                )
            self._db.execute(
                "UPDATE runs SET status = 'running', pid = ?, owner = ?, updated = ? WHERE id = ?",
                (os.getpid(), process.identity(), time.time(), run_id),
            )

    def beat(self, run_id: str) -> None:
        """Say that this process still runs ``run_id`` (its heartbeat)."""
        with contextlib.suppress(sqlite3.Error):  # missed beats only make the run look older
            self._write(
                "UPDATE runs SET updated = ? WHERE id = ? AND owner = ?",
                (time.time(), run_id, process.identity()),
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
        if status == "running" and not _alive(pid, owner, updated):
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
            "SELECT step_id FROM items WHERE run_id = ? GROUP BY step_id ORDER BY MIN(rowid)",
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

    def _add(self, *statements: Statement) -> None:
        """Hand item writes to the writer; outside an event loop, commit them at once."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._queue:
            self._waiting.extend(statements)
            self._written += 1
            wake = loop is not None and self._wake_due is not loop  # (a closed loop never woke)
            if wake:
                self._wake_due = loop
        if loop is None:
            self.commit()
        elif wake:  # once per turn of the loop: what this turn writes goes in together
            loop.call_soon(self._wake)

    def _wake(self) -> None:
        with self._queue:
            self._wake_due = None
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_forever, name="flo-journal", daemon=True
                )
                self._writer.start()
            self._queue.notify()

    def _write_forever(self) -> None:
        while True:
            with self._queue:
                while self._committed == self._written and not self._closing:
                    self._queue.wait()
                if self._committed == self._written or self._failure is not None:
                    return
            with self._connection:
                self._commit_waiting()

    def _execute_waiting(self) -> None:
        """Hand every waiting write to SQLite, in the open transaction (the caller holds the
        connection)."""
        with self._queue:
            statements, self._waiting = self._waiting, []
            upto = self._written
        if not statements or self._failure is not None:
            return
        try:
            if not self._db.in_transaction:
                self._db.execute("BEGIN IMMEDIATE")
            for sql, args in statements:
                self._db.execute(sql, args)
        except sqlite3.Error as exc:
            self._fail(exc)
        else:
            self._executed = upto

    def _commit_waiting(self) -> None:
        """Commit every write made so far in one transaction (the caller holds the
        connection), and tell who waits for it."""
        self._execute_waiting()
        if self._db.in_transaction and self._failure is None:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._fail(exc)
        failure = self._failure
        with self._queue:
            if failure is None:
                self._committed = self._executed
            upto = self._committed
            due = [f for n, f in self._watchers if n <= upto or failure is not None]
            self._watchers = [(n, f) for n, f in self._watchers if n > upto and failure is None]
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for future in due:
            by_loop.setdefault(future.get_loop(), []).append(future)
        for loop, futures in by_loop.items():  # one wake-up of each loop
            with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, futures, failure)

    def _fail(self, exc: sqlite3.Error) -> None:
        """A write failed: what was not committed is lost, and nothing more is durable."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        self._failure = exc

    def commit(self) -> None:
        """Commit every write made so far, now; raise if a commit failed."""
        with self._connection:
            self._commit_waiting()
        if self._failure is not None:
            raise self._failure

    async def durable(self) -> None:
        """Wait until every write made so far is committed."""
        future = asyncio.get_running_loop().create_future()
        with self._queue:
            if self._failure is not None:
                raise self._failure
            if self._committed >= self._written:
                return
            self._watchers.append((self._written, future))
        await future

    def intent(self, run_id: str, step_id: str, index: int, key: str, inputs: Any) -> float:
        """Write that this item is about to be called (``durable`` before calling it);
        returns the time recorded."""
        now = time.time()
        text = self._intents[(run_id, step_id, index)] = scrub(inputs)
        self._add(
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
            self._add(record)
            return True
        taking: Statement = (
            "INSERT INTO claims VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (*claim, run_id, step_id, index),
        )
        if not exclusive:
            self._add(taking, record)
            return True
        with self.transaction():
            taken = self._db.execute(*taking).rowcount
            if not taken and not self._claimed_by(claim, run_id, step_id, index):
                return False
            self._db.execute(*record)
        return True

    def _claimed_by(self, claim: tuple[str, str], run_id: str, step_id: str, index: int) -> bool:
        row = self._db.execute(
            "SELECT run_id, step_id, idx FROM claims WHERE account_sid = ? AND sid = ?", claim
        ).fetchone()
        return row is not None and tuple(row) == (run_id, step_id, index)


def _settle(futures: list[asyncio.Future[None]], failure: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if failure is None:
            future.set_result(None)
        else:
            future.set_exception(failure)


RUN_COLUMNS = (
    "id, flow, flow_path, account, arguments, status, created, updated, summary, pid, owner, bound"
)


def _alive(pid: Any, owner: Any, updated: Any) -> bool:
    """Whether the process recorded for a run lives (by PID alone for runs recorded before
    owners were); ``updated`` is its last heartbeat."""
    if owner:
        return process.alive(owner, updated if isinstance(updated, int | float) else None)
    return isinstance(pid, int) and process.alive(f"{process.UNKNOWN}:{pid}:{process.UNKNOWN}")


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
