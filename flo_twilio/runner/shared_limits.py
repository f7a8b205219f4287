"""An account's limits held across every process that uses one PostgreSQL journal.

- **The rate** is one row per account: the moment its next call may start, in the
  database's clock. A process takes the next free moments for all its calls waiting at
  that instant in one statement (``next_start = GREATEST(next_start, now) + n / rate``),
  and each call sleeps until its own: starts are spaced ``1 / rate`` apart across
  processes, as the client's own pacer spaces them in one (a token bucket of one token).
  A call of weight ``w`` (a message's segments) takes ``w / rate`` seconds of it.
- **The in-flight cap** is ``max_in_flight`` slot rows per account, each leased to one
  process with an expiry. A process takes free or expired slots for its waiting calls in
  one statement, gives finished ones back in the next, and renews the leases of those it
  holds every third of a lease; a process killed holding slots loses them when their
  lease ends ($FLO_LIMIT_LEASE_SECONDS, 30 s). A call waiting when no slot is free asks
  again every $FLO_LIMIT_POLL_SECONDS (0.05 s).

A database out of reach is waited for as the journal waits for it ($FLO_JOURNAL_WAIT_SECONDS);
past that, the call is not sent (``NotSentError``: the runner tries it again later).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import psycopg

from flo_twilio.errors import InvalidInputError, NotSentError, Problem
from flo_twilio.runner import process
from flo_twilio.runner.journal_postgres import SCHEMA as FLO_SCHEMA
from flo_twilio.runner.journal_postgres import masked_url, wait_seconds

LEASE_VARIABLE = "FLO_LIMIT_LEASE_SECONDS"
POLL_VARIABLE = "FLO_LIMIT_POLL_SECONDS"
NOW = "extract(epoch FROM clock_timestamp())::float8"
SCHEMA = (
    "SELECT pg_advisory_xact_lock(4242424243)",
    "CREATE TABLE IF NOT EXISTS flo_limit_pace (key TEXT PRIMARY KEY, "
    "next_start DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS flo_limit_slots (key TEXT NOT NULL, slot INTEGER NOT NULL, "
    "holder TEXT, expires DOUBLE PRECISION NOT NULL DEFAULT 0, PRIMARY KEY (key, slot))",
)
SEED = (
    "INSERT INTO flo_limit_slots (key, slot) SELECT %(key)s, n "
    "FROM generate_series(0, %(cap)s - 1) AS n ON CONFLICT DO NOTHING"
)
# The seconds until the first of the starts taken (``span`` seconds of them), by the
# database's clock.
RESERVE = f"""
WITH now AS (SELECT {NOW} AS t)
INSERT INTO flo_limit_pace AS p (key, next_start) SELECT %(key)s, t + %(span)s FROM now
ON CONFLICT (key) DO UPDATE
  SET next_start = GREATEST(p.next_start, (SELECT t FROM now)) + %(span)s
RETURNING p.next_start - %(span)s - (SELECT t FROM now)
"""
TAKE = f"""
WITH now AS (SELECT {NOW} AS t),
free AS (
  SELECT slot FROM flo_limit_slots, now
  WHERE key = %(key)s AND slot < %(cap)s AND (holder IS NULL OR expires < now.t)
  ORDER BY slot LIMIT %(count)s FOR UPDATE OF flo_limit_slots SKIP LOCKED)
UPDATE flo_limit_slots s SET holder = %(holder)s, expires = now.t + %(lease)s
FROM free, now WHERE s.key = %(key)s AND s.slot = free.slot
RETURNING s.slot
"""
RELEASE = (
    "UPDATE flo_limit_slots SET holder = NULL "
    "WHERE key = %(key)s AND holder = %(holder)s AND slot = ANY(%(slots)s)"
)
RENEW = (
    f"UPDATE flo_limit_slots SET expires = {NOW} + %(lease)s "
    "WHERE key = %(key)s AND holder = %(holder)s AND slot = ANY(%(slots)s)"
)


def seconds_setting(variable: str, default: float) -> float:
    """``$variable`` as seconds above 0, else ``default``; a located error when not."""
    text = os.environ.get(variable, "").strip()
    try:
        seconds = float(text) if text else default
    except ValueError:
        seconds = -1
    if 0 < seconds < math.inf:
        return seconds
    raise InvalidInputError(
        [Problem(f"{variable} must be a number of seconds above 0", hint=f"default: {default:g}")]
    )


class PostgresLimits:
    """The ``SharedLimits`` of the PostgreSQL database at ``url``: a gate per client."""

    def __init__(self, url: str) -> None:
        self.url, self.name = url, masked_url(url)
        self.lease = seconds_setting(LEASE_VARIABLE, 30.0)
        self.poll = seconds_setting(POLL_VARIABLE, 0.05)
        self.outage = wait_seconds()

    def gate(
        self, account: str, max_in_flight: int | None, per_second: float | None
    ) -> PostgresGate:
        return PostgresGate(self, account, max_in_flight, per_second)


class PostgresGate:
    """One client's gate: its own connection (opened on first use, on the client's event
    loop), the slots it holds, and the calls waiting for moments and slots."""

    def __init__(
        self, limits: PostgresLimits, key: str, cap: int | None, per_second: float | None
    ) -> None:
        self.limits, self.key, self.cap = limits, key, cap
        self.interval = 1.0 / per_second if per_second else 0.0
        self.holder = f"{secrets.token_hex(8)}:{process.host_name()}"
        self.round_trips = 0  # statements sent: what the limits cost, for measurements
        self._db: psycopg.AsyncConnection[Any] | None = None
        self._opening = asyncio.Lock()
        self._starting: deque[tuple[asyncio.Future[float], float]] = deque()
        self._slotting: deque[asyncio.Future[int]] = deque()
        self._held: set[int] = set()
        self._done: list[int] = []
        self._wake = asyncio.Event()
        self._pacer: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None

    async def start(self, weight: float = 1.0) -> None:
        if not self.interval:
            return
        moment: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._starting.append((moment, weight))
        self._pacer = _running(self._pacer, self._pace)
        delay = await moment - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if not self.cap:
            yield
            return
        given: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._slotting.append(given)
        self._wake.set()
        self._keeper = _running(self._keeper, self._keep)
        try:
            slot = await given
        except asyncio.CancelledError:
            if given.done() and not given.cancelled():
                self._give_back(given.result())
            raise
        try:
            yield
        finally:
            self._give_back(slot)

    async def aclose(self) -> None:
        for task in (self._pacer, self._keeper):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._db is not None:
            with contextlib.suppress(psycopg.Error):
                if self._held:
                    await self._db.execute(
                        RELEASE,
                        {"key": self.key, "holder": self.holder, "slots": sorted(self._held)},
                    )
            await self._drop()
        self._held.clear()

    def _give_back(self, slot: int) -> None:
        self._done.append(slot)
        self._wake.set()
        self._keeper = _running(self._keeper, self._keep)

    async def _pace(self) -> None:
        """Take the next moments for every call waiting to start, a statement at a time."""
        while self._starting:
            count = len(self._starting)
            weights = [weight for _, weight in self._starting]
            try:
                row = await self._run(RESERVE, span=sum(weights) * self.interval)
            except NotSentError as exc:
                for _ in range(count):
                    moment, _ = self._starting.popleft()
                    if not moment.done():
                        moment.set_exception(exc)
                continue
            moment_at = time.monotonic() + row[0]
            for weight in weights:
                moment, _ = self._starting.popleft()
                if not moment.done():
                    moment.set_result(moment_at)
                moment_at += weight * self.interval

    async def _keep(self) -> None:
        """Give back finished slots, take slots for waiting calls, renew the leases held;
        until nothing is held, waited for or to give back."""
        renewed = time.monotonic()
        while self._slotting or self._done or self._held:
            self._wake.clear()
            try:
                if self._done:
                    done, self._done = self._done, []
                    self._held.difference_update(done)
                    await self._run(RELEASE, slots=done)
                if waiting := sum(not given.done() for given in self._slotting):
                    self._hand_out(await self._take(waiting))
                if self._held and time.monotonic() - renewed > self.limits.lease / 3:
                    await self._run(RENEW, slots=sorted(self._held))
                    renewed = time.monotonic()
            except NotSentError as exc:
                _fail(self._slotting, len(self._slotting), exc)
            if self._done:
                continue
            waiting = any(not given.done() for given in self._slotting)
            pause = self.limits.poll if waiting else self.limits.lease / 3
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    async def _take(self, count: int) -> list[int]:
        taken = [row[0] for row in await self._run(TAKE, every=True, count=count)]
        self._held.update(taken)
        return taken

    def _hand_out(self, taken: list[int]) -> None:
        """Each slot taken to the first call still waiting; one nobody waits for any more
        (cancelled meanwhile) is given back."""
        for slot in taken:
            while self._slotting and self._slotting[0].done():
                self._slotting.popleft()
            if self._slotting:
                self._slotting.popleft().set_result(slot)
            else:
                self._done.append(slot)

    async def _run(self, statement: str, every: bool = False, **args: Any) -> Any:
        """One statement: its first row (``every``: all its rows). A lost connection is
        opened again and the statement sent again (each may be: a moment or a slot taken
        twice is only wasted), until the outage window ends: then ``NotSentError``."""
        params = {
            "key": self.key,
            "cap": self.cap,
            "holder": self.holder,
            "lease": self.limits.lease,
            **args,
        }
        ends = time.monotonic() + self.limits.outage
        while True:
            db = await self._connection(ends)
            self.round_trips += 1
            try:
                cursor = await db.execute(statement, params)
                if cursor.description is None:
                    return None
                return await (cursor.fetchall() if every else cursor.fetchone())
            except psycopg.OperationalError as exc:
                await self._drop()
                if time.monotonic() > ends:
                    raise self._not_sent(exc) from None
            except psycopg.Error as exc:
                raise self._not_sent(exc) from None

    async def _connection(self, ends: float) -> psycopg.AsyncConnection[Any]:
        async with self._opening:
            if self._db is None:
                self._db = await self._open(ends)
            return self._db

    async def _open(self, ends: float) -> psycopg.AsyncConnection[Any]:
        """A connection with the tables made and this account's slots in them; a database
        out of reach is tried again until ``ends``."""
        while True:
            try:
                db = await psycopg.AsyncConnection.connect(  # beside the journal's tables
                    self.limits.url,
                    autocommit=True,
                    connect_timeout=10,
                    options=f"-c search_path={FLO_SCHEMA}",
                )
                found = await db.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", (FLO_SCHEMA,)
                )
                if await found.fetchone() is None:  # no journal made it yet
                    with contextlib.suppress(psycopg.errors.UniqueViolation):
                        await db.execute(f"CREATE SCHEMA IF NOT EXISTS {FLO_SCHEMA}")
                async with db.transaction():
                    for statement in SCHEMA:
                        await db.execute(statement)
                if self.cap:
                    await db.execute(SEED, {"key": self.key, "cap": self.cap})
                return db
            except psycopg.OperationalError as exc:
                if time.monotonic() > ends:
                    raise self._not_sent(exc) from None
                await asyncio.sleep(min(1.0, self.limits.poll * 10))

    async def _drop(self) -> None:
        if self._db is not None:
            with contextlib.suppress(Exception):
                await self._db.close()
            self._db = None

    def _not_sent(self, exc: Exception) -> NotSentError:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return NotSentError(
            f"the account's shared limits in {self.limits.name} could not be read "
            f"({reason.replace(self.limits.url, self.limits.name)}): nothing was sent"
        )


def _running(
    task: asyncio.Task[None] | None, work: Callable[[], Coroutine[Any, Any, None]]
) -> asyncio.Task[None]:
    """``task`` while it runs, else a new task doing ``work``."""
    if task is not None and not task.done():
        return task
    return asyncio.get_running_loop().create_task(work())


def _fail(waiting: deque[Any], count: int, exc: Exception) -> None:
    for _ in range(min(count, len(waiting))):
        future = waiting.popleft()
        if not future.done():
            future.set_exception(exc)
