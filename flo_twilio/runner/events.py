"""The events ``flo serve`` accepted, in SQLite (WAL, ``synchronous=FULL``) at
``$FLO_HOME/events.db``: an event is committed before the provider is answered, so one that
was acknowledged is never lost; its keys make a second delivery of it a duplicate; it is
pending until its run ends. Also kept per served flow (its *route*, a key that names what the
flow listens to, not where its file is): the polling cursor and what ``--attach`` replaced,
to put back even after a crash."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flo_twilio.redaction import safe_json
from flo_twilio.runner.database_files import check_database_file
from flo_twilio.trigger import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, route TEXT, outputs TEXT, run_id TEXT, status TEXT,
    received REAL, updated REAL
);
CREATE TABLE IF NOT EXISTS event_keys (
    route TEXT, key TEXT, event_id INTEGER, PRIMARY KEY (route, key)
);
CREATE TABLE IF NOT EXISTS cursors (route TEXT PRIMARY KEY, cursor TEXT);
CREATE TABLE IF NOT EXISTS attachments (route TEXT, url TEXT, data TEXT, PRIMARY KEY (route, url));
"""
FINAL = ("done", "failed")  # a run that ended so; any other status is finished on restart


@dataclass
class Pending:
    """An accepted event whose run has not ended: ``run_id`` is None until it starts."""

    id: int
    outputs: dict[str, Any]
    run_id: str | None


class EventStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        check_database_file(path, "the accepted events")
        new = not path.exists()
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        if new:
            os.chmod(path, 0o600)  # events hold phone numbers and message bodies
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def accept(self, route: str, event: Event) -> int | None:
        """Commit ``event`` for ``route``; its id, or None when one of its keys was seen."""
        now = time.time()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            marks = ",".join("?" * len(event.keys))
            seen = self.db.execute(
                f"SELECT 1 FROM event_keys WHERE route = ? AND key IN ({marks})",
                (route, *event.keys),
            ).fetchone()
            if seen:
                self.db.execute("ROLLBACK")
                return None
            cursor = self.db.execute(
                "INSERT INTO events (route, outputs, status, received, updated) "
                "VALUES (?, ?, 'accepted', ?, ?)",
                (route, safe_json(event.outputs), now, now),
            )
            event_id = int(cursor.lastrowid or 0)
            self.db.executemany(
                "INSERT INTO event_keys VALUES (?, ?, ?)",
                [(route, key, event_id) for key in event.keys],
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return event_id

    def pending(self, route: str) -> list[Pending]:
        """The route's events whose run has not ended, oldest first."""
        rows = self.db.execute(
            f"SELECT id, outputs, run_id FROM events WHERE route = ? AND status NOT IN "
            f"({','.join('?' * len(FINAL))}) ORDER BY id",
            (route, *FINAL),
        ).fetchall()
        return [Pending(row[0], json.loads(row[1]), row[2]) for row in rows]

    def routes(self) -> list[str]:
        """Every route the store keeps something for."""
        tables = ("events", "event_keys", "cursors", "attachments")
        union = " UNION ".join(f"SELECT route FROM {table}" for table in tables)
        return [row[0] for row in self.db.execute(union)]

    def move_route(self, old: str, new: str) -> None:
        """Keep under ``new`` what was kept under ``old`` (a route's key changed), in one
        transaction; what ``new`` has already is kept."""
        if old == new:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for table in ("events", "event_keys", "cursors", "attachments"):
                self.db.execute(
                    f"UPDATE OR IGNORE {table} SET route = ? WHERE route = ?", (new, old)
                )
                self.db.execute(f"DELETE FROM {table} WHERE route = ?", (old,))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def update(self, event_id: int, status: str, run_id: str | None = None) -> None:
        """Record the event's run (once started) and how it went."""
        self.db.execute(
            "UPDATE events SET status = ?, run_id = COALESCE(?, run_id), updated = ? WHERE id = ?",
            (status, run_id, time.time(), event_id),
        )

    def cursor(self, route: str) -> Any:
        row = self.db.execute("SELECT cursor FROM cursors WHERE route = ?", (route,)).fetchone()
        return json.loads(row[0]) if row else None

    def save_cursor(self, route: str, cursor: Any) -> None:
        self.db.execute(
            "INSERT INTO cursors VALUES (?, ?) ON CONFLICT (route) DO UPDATE SET cursor = excluded.cursor",
            (route, json.dumps(cursor)),
        )

    def attachments(self, route: str) -> dict[str, dict[str, Any]]:
        """What ``--attach`` replaced for ``route`` and has not put back yet, by the URL it
        attached (more than one only when a server was killed, then started elsewhere)."""
        rows = self.db.execute("SELECT url, data FROM attachments WHERE route = ?", (route,))
        return {url: dict(json.loads(data)) for url, data in rows}

    def save_attachment(self, route: str, url: str, data: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO attachments VALUES (?, ?, ?)", (route, url, json.dumps(data))
        )

    def forget_attachment(self, route: str, url: str) -> None:
        self.db.execute("DELETE FROM attachments WHERE route = ? AND url = ?", (route, url))
