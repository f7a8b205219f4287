"""The journal in PostgreSQL, named by a URL (``postgresql://USER:PASSWORD@HOST/DB``): every
machine that reaches the database shares its runs, keys, claims and owners.

PIDs and boot ids mean nothing across machines (nor across containers, where PIDs
collide): a run's owner is a random token of the process that opened the journal, with
its host name for people to read, and it is alive while its heartbeat is younger than
``MISSED_BEATS`` beats (the machines' clocks must agree, as NTP keeps them). A lost
connection (the server restarted, the network cut) is waited for, up to
$FLO_JOURNAL_WAIT_SECONDS (60 s), and writes go on where they stopped. The URL's password
is never shown: every message names the URL with it masked."""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import re
import secrets
import time
from contextlib import AbstractContextManager
from typing import Any, cast
from urllib.parse import unquote

from flo_twilio.errors import InvalidInputError, Problem
from flo_twilio.redaction import MASK, register_secret
from flo_twilio.runner import process
from flo_twilio.runner.journal_store import Connection

try:
    import psycopg
    from psycopg import pq
except ImportError:  # the core install has no psycopg: say which extra brings it
    raise InvalidInputError(
        [
            Problem(
                "a journal in PostgreSQL needs psycopg 3, which is not installed",
                hint="pip install 'flo-twilio[postgres]'",
            )
        ]
    ) from None

WAIT_VARIABLE = "FLO_JOURNAL_WAIT_SECONDS"
DEFAULT_WAIT = 60.0
CONNECT_SECONDS = 10  # to open a connection, before it counts as out of reach
# flo's tables live in a schema of their own, so a database a host keeps its own tables in
# (Dagster's has a "runs", Prefect's an "events") can hold flo's journal too.
SCHEMA = "flo"
# libpq's parameters whose values are secrets, masked wherever a URL is shown.
_SECRET_PARAMETERS = ("password", "sslpassword", "oauth_client_secret", r"scram_\w+_key")
_PASSWORD_PAIR = re.compile(rf"\b((?:{'|'.join(_SECRET_PARAMETERS)})=)([^&\s]+)", re.IGNORECASE)


def masked_url(url: str) -> str:
    """``url`` with its password (in the address or as a parameter) replaced by ***: all
    between the user's ``:`` and the last ``@``, so a ``/``, ``?``, ``#`` or ``@`` left
    unencoded in the password is masked too."""
    scheme, separator, rest = url.partition("://")
    user_info, at, address = rest.rpartition("@")
    if separator and at and ":" in user_info:
        url = f"{scheme}://{user_info.partition(':')[0]}:{MASK}@{address}"
    return _PASSWORD_PAIR.sub(rf"\g<1>{MASK}", url)


def check_url(url: str, where: str) -> None:
    """Refuse a URL whose user or password holds an unencoded ``@``, ``/``, ``?`` or ``#``,
    or whose secret parameter is followed by what is not a parameter (an unencoded ``&`` in
    the password): libpq would read part of the password as the host, port, database or a
    parameter's name, and say it."""
    user_info, at, _ = url.partition("://")[2].rpartition("@")
    if at and any(character in user_info for character in "@/?#"):
        shown = masked_url(url)
        raise _unencoded(
            shown,
            where,
            "before its host",
            "@ as %40, / as %2F, ? as %3F, # as %23; in a parameter too",
        )
    pairs = url.partition("?")[2].split("&")
    for pair, following in itertools.pairwise(pairs):
        name, equals, _ = following.partition("=")
        if _PASSWORD_PAIR.match(pair) and not (equals and name.lower() in _parameter_names()):
            shown = f"{masked_url(url.partition('?')[0])}?{MASK}"  # the rest may be the password's
            raise _unencoded(shown, where, "in a password parameter", "& as %26")


def _unencoded(shown: str, where: str, place: str, encodings: str) -> InvalidInputError:
    return InvalidInputError(
        [
            Problem(
                f"the journal's URL {shown} has a character {place} that is not percent-encoded",
                where,
                f"percent-encode it ({encodings})",
            )
        ]
    )


@functools.cache
def _parameter_names() -> frozenset[str]:
    """The names of libpq's connection parameters."""
    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


def wait_seconds() -> float:
    """$FLO_JOURNAL_WAIT_SECONDS, else 60: how long a lost database is waited for."""
    text = os.environ.get(WAIT_VARIABLE, "").strip()
    try:
        seconds = float(text) if text else DEFAULT_WAIT
    except ValueError:
        seconds = -1
    if 0 <= seconds < math.inf:
        return seconds
    raise InvalidInputError(
        [Problem(f"{WAIT_VARIABLE} must be a number of seconds, 0 or more", hint="default: 60")]
    )


class _ClosedWhenDropped(psycopg.Connection[Any]):
    """A connection that a journal dropped without closing it closes, as SQLite's does."""

    def __del__(self, *_: Any) -> None:
        with contextlib.suppress(Exception):
            self.close()


class _Connection:
    """A psycopg connection (autocommit) taking the journal's ``?`` parameters."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def execute(self, sql: str, args: Any = ()) -> psycopg.Cursor[Any]:
        return self.raw.execute(sql.replace("?", "%s"), args)

    def executemany(self, sql: str, rows: Any) -> None:
        """Every row in one pipeline: one round trip (none in a pipeline already open)."""
        with self.raw.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)

    def pipeline(self) -> AbstractContextManager[Any]:
        return self.raw.pipeline()

    def close(self) -> None:
        self.raw.close()


class PostgresStore:
    """The journal in the PostgreSQL database at ``url``; ``where`` names where the URL was
    given, for messages."""

    errors: tuple[type[Exception], ...] = (psycopg.Error,)
    duplicate: type[Exception] = psycopg.errors.UniqueViolation
    begin = "BEGIN"
    schema_lock = "SELECT pg_advisory_xact_lock(4242424242)"
    lock_row = " FOR UPDATE"
    first_written = "MIN(started)"  # no rowid: a step's first item starts before the next's

    def __init__(self, url: str, where: str = "") -> None:
        check_url(url, where)
        self.url, self.where = url, where
        self.name = masked_url(url)
        self.passwords = _passwords(url)
        for password in self.passwords:
            register_secret(password)
        self.outage_seconds = wait_seconds()
        self.token = secrets.token_hex(8)  # this process's attempts, whatever its PID

    def connect(self) -> Connection:
        raw = _ClosedWhenDropped.connect(self.url, autocommit=True, connect_timeout=CONNECT_SECONDS)
        found = raw.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (SCHEMA,))
        if found.fetchone() is None:  # the first process: needs CREATE on the database
            with contextlib.suppress(psycopg.errors.UniqueViolation):  # another made it
                raw.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        raw.execute(f"SET search_path TO {SCHEMA}")
        return _Connection(raw)

    def batch(self, db: Connection) -> AbstractContextManager[Any]:
        """The statements run in it sent in one pipeline, waited for at its end (one round
        trip for a group commit's BEGIN, writes and COMMIT); an error is raised there."""
        return cast(_Connection, db).pipeline()

    def unreachable(self, exc: Exception) -> InvalidInputError:
        """Why the journal cannot be opened, located, with the password masked."""
        return InvalidInputError(
            [
                Problem(
                    f"cannot open the journal {self.name}: {self.reason(exc)}",
                    self.where,
                    "check the URL's host, port, database, user and password, and that the "
                    "server runs and this machine may reach it",
                )
            ]
        )

    def lost(self, exc: Exception) -> bool:
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)

    def reason(self, exc: Exception) -> str:
        text = " ".join(str(exc).split()) or type(exc).__name__
        for password in sorted(self.passwords, key=len, reverse=True):
            text = text.replace(password, MASK)
        return text

    def ddl(self, text: str) -> str:
        """SQLite's spelling in PostgreSQL's: a REAL is a double, a row id an identity."""
        text = text.replace(
            " INTEGER PRIMARY KEY", " BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
        )
        return text.replace(" REAL", " DOUBLE PRECISION")

    def columns(self, db: Any, table: str) -> set[str]:
        rows = db.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        ).fetchall()
        return {row[0] for row in rows}

    def owner(self) -> str:
        return f"{self.token}:{process.host_name()}"

    def alive(self, pid: Any, owner: Any, updated: Any) -> bool:
        """Alive while its heartbeat is fresh: PIDs say nothing across machines."""
        if not isinstance(updated, int | float):
            return False
        return time.time() - updated < process.MISSED_BEATS * process.heartbeat_seconds()

    def running_elsewhere(self, run_id: str, pid: Any, owner: Any, updated: Any) -> str:
        host = str(owner).partition(":")[2] or process.UNKNOWN
        age = time.time() - updated
        return (
            f"run {run_id} is running in process {pid} on {host} (its last heartbeat "
            f"{age:.0f} s ago); wait for it, or stop it first"
        )


def _passwords(url: str) -> set[str]:
    """The URL's password as written and decoded (libpq's messages may quote either), from
    the address (all between the user's ``:`` and the last ``@``, as ``masked_url`` reads
    it: ``urlsplit`` gave up on a URL libpq then quoted whole) or from ``password=``."""
    user_info, at, _ = url.partition("://")[2].rpartition("@")
    written = [user_info.partition(":")[2] if at else ""]
    written += [found.group(2) for found in _PASSWORD_PAIR.finditer(url)]
    return {form for password in written if password for form in (password, unquote(password))}
