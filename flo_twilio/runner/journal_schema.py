"""The journal's schema, one for every store, with versioned migrations: a journal records
its version in ``schema_version``; an older one is migrated when it is opened, and one newer
than this flo knows is refused, before anything is read or sent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flo_twilio import __version__
from flo_twilio.errors import InvalidInputError, Problem
from flo_twilio.runner.journal_store import Connection, Store

TABLES = """
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
)
"""
# Columns added to runs before versions were kept: who runs the run, what it is bound to,
# and the key a host started it under (a run per key: a host's retry finds it again).
ADDED_COLUMNS = {"owner": "TEXT", "bound": "TEXT", "run_key": "TEXT"}


def first_schema(db: Connection, store: Store) -> None:
    """Version 1: runs (one per key), items and claims (one item per account's result);
    journals made before versions were kept get what they lack."""
    for statement in store.ddl(TABLES).split(";"):
        db.execute(statement)
    have = store.columns(db, "runs")
    for column, kind in ADDED_COLUMNS.items():
        if column not in have:
            db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS runs_by_key ON runs (run_key)")


def opt_out_list(db: Connection, store: Store) -> None:
    """Version 2: the opt-out list, per account and sender (``runner/optouts.py``)."""
    db.execute(
        store.ddl(
            "CREATE TABLE IF NOT EXISTS opt_outs (account TEXT NOT NULL, sender TEXT NOT NULL, "
            "recipient TEXT NOT NULL, source TEXT NOT NULL, updated REAL NOT NULL, "
            "PRIMARY KEY (account, sender, recipient))"
        )
    )


Migration = Callable[[Connection, Store], None]
MIGRATIONS: list[Migration] = [first_schema, opt_out_list]  # version = place + 1
VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Schema:
    """Tables versioned together: ``what`` they are (for messages), the table keeping their
    version, and their migrations (version = place + 1)."""

    what: str
    version_table: str
    migrations: Sequence[Migration]


JOURNAL = Schema("journal", "schema_version", MIGRATIONS)


def migrate(db: Connection, store: Store, schema: Schema = JOURNAL) -> None:
    """Bring ``schema`` to its last version (in the caller's transaction); refuse a newer one."""
    if store.schema_lock:  # one process migrates at a time; the others then find it done
        db.execute(store.schema_lock)
    table, last = schema.version_table, len(schema.migrations)
    db.execute(f"CREATE TABLE IF NOT EXISTS {table} (version INTEGER NOT NULL)")
    found = db.execute(f"SELECT MAX(version) FROM {table}").fetchone()[0] or 0
    if found > last:
        raise InvalidInputError(
            [
                Problem(
                    f"the {schema.what} {store.name} has schema version {found}, and this flo "
                    f"({__version__}) knows versions up to {last}",
                    hint="a newer flo wrote it: upgrade flo-twilio here to use it (every "
                    f"machine sharing a {schema.what} needs a flo that knows its schema)",
                )
            ]
        )
    for version in range(found + 1, last + 1):
        schema.migrations[version - 1](db, store)
        db.execute(f"INSERT INTO {table} (version) VALUES (?)", (version,))
