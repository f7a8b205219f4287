"""The event store's schema, versioned in ``events_schema_version`` by the journal's
migrations (``journal_schema.migrate``): in SQLite (``events.db``) or beside the journal's
tables in its PostgreSQL database."""

from __future__ import annotations

from flo_twilio.runner.journal_schema import Migration, Schema
from flo_twilio.runner.journal_store import Connection, Store

FIRST_TABLES = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, route TEXT, outputs TEXT, run_id TEXT, status TEXT,
    received REAL, updated REAL
);
CREATE TABLE IF NOT EXISTS event_keys (
    route TEXT, key TEXT, event_id INTEGER, PRIMARY KEY (route, key)
);
CREATE TABLE IF NOT EXISTS cursors (route TEXT PRIMARY KEY, cursor TEXT);
CREATE TABLE IF NOT EXISTS attachments (route TEXT, url TEXT, data TEXT, PRIMARY KEY (route, url))
"""
# Replicas: each flo serve beats in ``replicas``; an event is owned by the replica running
# it; an attachment is held by every replica attached (the last one leaving puts it back).
REPLICA_TABLES = """
ALTER TABLE events ADD COLUMN owner TEXT;
CREATE INDEX IF NOT EXISTS events_unfinished ON events (route) WHERE status NOT IN ('done', 'failed');
CREATE TABLE IF NOT EXISTS replicas (owner TEXT PRIMARY KEY, beat REAL, started REAL);
CREATE TABLE IF NOT EXISTS attachment_holders (
    route TEXT, url TEXT, owner TEXT, PRIMARY KEY (route, url, owner)
)
"""


def _tables(text: str) -> Migration:
    def create(db: Connection, store: Store) -> None:
        for statement in store.ddl(text).split(";"):
            db.execute(statement)

    return create


# Version 1: the tables kept before versions were (events.db files made then have them).
EVENTS = Schema(
    "event store", "events_schema_version", [_tables(FIRST_TABLES), _tables(REPLICA_TABLES)]
)
