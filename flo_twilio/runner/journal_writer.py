"""The journal's connection and its group-commit writer, for any store (journal_store.py).

Item writes are made off the event loop by one writer thread, which commits all the writes
waiting at that moment in one transaction: one commit (one fsync) for all of them, while
the loop goes on sending. ``durable`` waits for the commit of everything written so far (an
intent must be durable before its call leaves). Every read, and every write that is not an
item's, first hands what waits to the database, so the journal reads as if every write were
made at once.

A store whose connection can be lost (a database server restarted or out of reach) gets it
back: the writes of the transaction it lost are made again (each is an upsert, so making
one twice changes nothing), and whoever waits for them waits meanwhile, up to the store's
``outage_seconds``; a message says so when it starts and ends. A failure of any other kind
is final: what was not committed is lost, and nothing more is durable."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from flo_twilio.runner.journal_store import Connection, JournalUnreachable, Statement, Store

log = logging.getLogger("flo_twilio.journal")
T = TypeVar("T")
FIRST_PAUSE, LONGEST_PAUSE = 0.05, 2.0  # between tries to reach a lost database


class GroupCommit:
    """One connection to ``store``, used by one thread at a time, and the writer thread."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db: Connection = store.connect()
        self._final: tuple[type[Exception], ...] = (*store.errors, JournalUnreachable)
        self._connection = threading.RLock()
        self._queue = threading.Condition()  # guards what follows
        self._waiting: list[Statement] = []  # item writes not yet handed to the database
        self._uncommitted: list[Statement] = []  # handed over, in the open transaction
        # Item writes made; handed to the database (in a transaction left open); committed.
        self._written = self._executed = self._committed = 0
        self._watchers: list[tuple[int, asyncio.Future[None]]] = []  # durable() callers
        self._failure: Exception | None = None  # a commit failed: nothing more is durable
        self._writer: threading.Thread | None = None
        self._wake_due: asyncio.AbstractEventLoop | None = None  # the loop a wake-up is due on
        self._closing = False

    def close(self) -> None:
        with self._queue:
            self._closing = True
            self._queue.notify()
        if self._writer is not None:
            self._writer.join()
        try:
            self.commit()
        finally:
            self.db.close()

    # What the journal's queries use.

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Rows of a query that sees every write made so far (committed by the writer
        later: a read waits for no commit)."""
        with self._connection:
            self._execute_waiting()
            return self._again_when_lost(lambda: self.db.execute(sql, args).fetchall())

    def write(self, sql: str, args: Sequence[Any] = ()) -> None:
        """Make one write now, after committing every write waiting."""
        with self._connection:
            self._commit_waiting()
            self._again_when_lost(lambda: self.db.execute(sql, args))

    def transact(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` in a transaction of its own, after every write waiting is
        committed; made again whole if the connection was lost meanwhile."""

        def attempt() -> T:
            self.db.execute(self.store.begin)
            try:
                result = work(self.db)
            except BaseException:
                with contextlib.suppress(*self.store.errors):
                    self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
            return result

        with self._connection:
            self._commit_waiting()
            return self._again_when_lost(attempt)

    # Item writes, off the event loop.

    def add(self, *statements: Statement) -> None:
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

    def _execute_waiting(self, commit: bool = False) -> None:
        """Hand every waiting write to the database, in the open transaction, committed
        with them when ``commit`` (the caller holds the connection). On a database server,
        the BEGIN, the writes and the COMMIT go in one batch: one round trip."""
        with self._queue:
            statements, self._waiting = self._waiting, []
            upto = self._written
        if not statements or self._failure is not None:
            return

        def execute() -> None:
            begin = not self.db.in_transaction
            with self.store.batch(self.db):
                if begin:
                    self.db.execute(self.store.begin)
                self._execute_all(statements)
                if commit:
                    self.db.execute("COMMIT")

        try:
            self._again_when_lost(execute)
        except self._final as exc:
            self._fail(exc)
        else:
            self._uncommitted = [] if commit else self._uncommitted + statements
            self._executed = upto

    def _execute_all(self, statements: list[Statement]) -> None:
        """Each statement in order; a run of one statement's rows in one call (one round
        trip to a database server)."""
        for sql, run in itertools.groupby(statements, key=lambda statement: statement[0]):
            self.db.executemany(sql, [args for _, args in run])

    def _commit_waiting(self) -> None:
        """Commit every write made so far in one transaction (the caller holds the
        connection), and tell who waits for it."""
        self._execute_waiting(commit=True)
        if self._uncommitted and self._failure is None:  # a read left them uncommitted
            try:
                self._again_when_lost(lambda: self.db.execute("COMMIT"))
            except self._final as exc:
                self._fail(exc)
            else:
                self._uncommitted = []
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

    def _fail(self, exc: Exception) -> None:
        """A write failed: what was not committed is lost, and nothing more is durable."""
        with contextlib.suppress(*self.store.errors):
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        self._uncommitted = []
        self._failure = exc

    # A lost connection.

    def _again_when_lost(self, action: Callable[[], T]) -> T:
        """``action()``; when it finds the connection lost, again on a new one (with the
        open transaction's writes made again), until the store's outage window ends."""
        outage: float | None = None
        while True:
            try:
                result = action()
            except self.store.errors as exc:
                if not self.store.lost(exc):
                    raise
                if outage is None:
                    outage = time.monotonic()
                    log.warning(
                        "flo: lost the journal's database %s (%s); sending waits until it is "
                        "back (up to %g s)",
                        self.store.name,
                        self.store.reason(exc),
                        self.store.outage_seconds,
                    )
                self._reconnect(outage, exc)
                continue
            if outage is not None:
                log.warning(
                    "flo: the journal's database is back after %.1f s; sending goes on, and "
                    "nothing written was lost",
                    time.monotonic() - outage,
                )
            return result

    def _reconnect(self, outage: float, lost: Exception) -> None:
        """A new connection, with the lost transaction's writes made again in a new one;
        ``lost`` is raised again once the outage window has passed."""
        pause = FIRST_PAUSE
        with contextlib.suppress(*self.store.errors):
            self.db.close()
        while True:
            if time.monotonic() - outage > self.store.outage_seconds:
                raise JournalUnreachable(
                    f"the journal's database {self.store.name} stayed out of reach for "
                    f"{self.store.outage_seconds:g} s ({self.store.reason(lost)}): the run "
                    "stops; resume it once the database is back"
                ) from None
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)
            try:
                self.db = self.store.connect()
                if self._uncommitted:
                    self.db.execute(self.store.begin)
                    self._execute_all(self._uncommitted)
                return
            except self.store.errors as exc:
                if not self.store.lost(exc):
                    raise
                lost = exc


def _settle(futures: list[asyncio.Future[None]], failure: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if failure is None:
            future.set_result(None)
        else:
            future.set_exception(failure)
