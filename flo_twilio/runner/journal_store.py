"""Where a journal lives: a ``Store`` says how to connect to it and what differs between
databases (how a write transaction starts, which errors mean the connection was lost, who
owns a run and when its owner is alive). Two stores: SQLite in a local folder (the
default, ``$FLO_HOME/runs.db``: one machine) and PostgreSQL named by a URL
(``journal_postgres.py``: any machine that reaches the database).

Statements are written once, with ``?`` parameters; a store translates them if it must."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from flo_twilio.errors import FloError, InvalidInputError, Problem
from flo_twilio.runner import process
from flo_twilio.runner.database_files import check_database_file
from flo_twilio.runner.file_systems import on_network

Statement = tuple[str, tuple[Any, ...]]
JOURNAL_VARIABLE = "FLO_JOURNAL"
URL_SCHEMES = ("postgresql://", "postgres://")
# libpq's key=value form (host=... password=...), which is not a URL.
_CONNECTION_STRING = re.compile(
    r"(?:^|\s)(?:host|hostaddr|port|dbname|user|password|passfile|sslmode|service)\s*=",
    re.IGNORECASE,
)


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


class Connection(Protocol):
    """What the journal uses of a DB-API connection in autocommit mode."""

    @property
    def in_transaction(self) -> bool: ...
    def execute(self, sql: str, args: Any = ..., /) -> Cursor: ...
    def executemany(self, sql: str, rows: Any, /) -> Any: ...
    def close(self) -> None: ...


class Store(Protocol):
    """A journal's database: how to reach it, and what differs between databases."""

    name: str  # for messages (a URL's password masked)
    errors: tuple[type[Exception], ...]  # what a failed statement raises
    duplicate: type[Exception]  # a unique constraint refused a row
    begin: str  # starts a write transaction
    schema_lock: str  # run first in the transaction that migrates, when not empty
    lock_row: str  # appended to a SELECT in a transaction, to lock the row it reads
    first_written: str  # orders a run's steps by their first item
    outage_seconds: float  # how long a lost database is waited for

    def connect(self) -> Connection: ...
    def batch(self, db: Connection) -> AbstractContextManager[Any]: ...
    def unreachable(self, exc: Exception) -> Exception: ...
    def lost(self, exc: Exception) -> bool: ...
    def reason(self, exc: Exception) -> str: ...
    def ddl(self, text: str) -> str: ...
    def columns(self, db: Connection, table: str) -> set[str]: ...
    def owner(self) -> str: ...
    def alive(self, pid: Any, owner: Any, updated: Any) -> bool: ...
    def running_elsewhere(self, run_id: str, pid: Any, owner: Any, updated: Any) -> str: ...


class JournalUnreachable(FloError):
    """The journal's database stayed out of reach longer than its outage window."""


class SqliteStore:
    """The journal in a SQLite file (WAL) on a local disk: the processes of one machine.
    A run's owner is its process (PID, start time, boot, host), alive by PID here and by
    heartbeat when recorded on another machine sharing the folder."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error,)
    duplicate: type[Exception] = sqlite3.IntegrityError
    begin = "BEGIN IMMEDIATE"
    schema_lock = ""
    lock_row = ""  # BEGIN IMMEDIATE already holds the write lock
    first_written = "MIN(rowid)"
    outage_seconds = 0.0

    def __init__(self, path: Path, what: str = "the journal of runs") -> None:
        self.path = path
        self.name = str(path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if network := on_network(path.parent):
            raise InvalidInputError(
                [
                    Problem(
                        f"the journal {path} is on a network file system ({network}), where "
                        "SQLite's write-ahead log cannot keep intents safe: every process "
                        "using it must be on one machine, on a local disk",
                        hint="set FLO_HOME (or a host's state folder) to a local folder, and "
                        "run the sending tasks of a host on one machine, or give every "
                        f"machine one PostgreSQL journal ({JOURNAL_VARIABLE}=postgresql://...)",
                    )
                ]
            )
        check_database_file(path, what)

    def connect(self) -> Connection:
        new = not self.path.exists()
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        if new:
            os.chmod(self.path, 0o600)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # an intent survives a crash or power loss
        return db

    def batch(self, db: Connection) -> AbstractContextManager[Any]:
        """Statements run in it as they come: SQLite is in this process."""
        return contextlib.nullcontext()

    def unreachable(self, exc: Exception) -> Exception:
        return exc  # the caller names the folder

    def lost(self, exc: Exception) -> bool:
        return False  # a local file: any failure is final

    def reason(self, exc: Exception) -> str:
        return str(exc)

    def ddl(self, text: str) -> str:
        return text

    def columns(self, db: Connection, table: str) -> set[str]:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})").fetchall()}

    def owner(self) -> str:
        return process.identity()

    def alive(self, pid: Any, owner: Any, updated: Any) -> bool:
        """Whether the process recorded for a run lives (by PID alone for runs recorded
        before owners were); ``updated`` is its last heartbeat."""
        if owner:
            return process.alive(owner, updated if isinstance(updated, int | float) else None)
        return isinstance(pid, int) and process.alive(f"{process.UNKNOWN}:{pid}:{process.UNKNOWN}")

    def running_elsewhere(self, run_id: str, pid: Any, owner: Any, updated: Any) -> str:
        host = process.host_of(owner)
        where = f" on {host}" if host != process.UNKNOWN else ""
        return f"run {run_id} is running in process {pid}{where}; wait for it, or stop it first"


def is_url(target: Path | str) -> bool:
    return isinstance(target, str) and "://" in target


def open_store(target: Path | str, where: str = "", what: str = "the journal of runs") -> Store:
    """The store of ``target``: a PostgreSQL URL, or a SQLite file's path (holding ``what``).
    ``where`` names where the target was given (``--journal``, ``FLO_JOURNAL``), for messages."""
    if not is_url(target):
        if _CONNECTION_STRING.search(str(target)):
            raise InvalidInputError(
                [
                    Problem(
                        "the journal is given as PostgreSQL's key=value connection string, "
                        "which flo would take for a file's path (and its password for a "
                        "file name)",
                        where,
                        "give it as a URL: postgresql://USER:PASSWORD@HOST:5432/DATABASE",
                    )
                ]
            )
        return SqliteStore(Path(target), what)
    url = str(target)
    if not url.startswith(URL_SCHEMES):
        scheme = url.split("://", 1)[0]
        raise InvalidInputError(
            [
                Problem(
                    f"the journal's URL has the scheme {scheme!r}; flo keeps journals in "
                    "PostgreSQL (postgresql://...) or in a local SQLite file (a path)",
                    where,
                    "e.g. postgresql://USER:PASSWORD@HOST:5432/DATABASE",
                )
            ]
        )
    from flo_twilio.runner.journal_postgres import PostgresStore

    return PostgresStore(url, where)


def journal_target(
    given: Path | str | None, named: str = "--journal"
) -> tuple[Path | str | None, str]:
    """Where the journal is, and where that was said: ``given`` (``--journal``, a
    parameter), else $FLO_JOURNAL; None when neither says (the caller's default file)."""
    if given is not None and str(given).strip():
        return (str(given).strip() if is_url(given) else Path(given)), named
    if configured := os.environ.get(JOURNAL_VARIABLE, "").strip():
        return (configured if is_url(configured) else Path(configured)), JOURNAL_VARIABLE
    return None, ""
