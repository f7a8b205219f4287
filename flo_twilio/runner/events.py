"""The events ``flo serve`` accepted: in SQLite (WAL, ``synchronous=FULL``) at
``$FLO_HOME/events.db``, or in the journal's PostgreSQL database (``FLO_JOURNAL`` /
``--journal``), shared by every replica serving the same flows. An event is committed before
the provider is answered, so one that was acknowledged is never lost; its keys make a second
delivery of it a duplicate, whichever replica gets it (the keys' uniqueness decides, in the
accepting transaction); it is pending until its run ends. Also kept per served flow (its
*route*, a key that names what the flow listens to, not where its file is): the polling
cursor and what ``--attach`` replaced, to put back even after a crash.

Replicas: each store is a replica (its ``owner``), alive while it beats (``beat``; on SQLite,
while its process lives). An event is owned by the replica that accepted or claimed it; one
whose owner stopped is ``claim``-ed by another (of two claimers, one wins). Every replica
attached to a number ``hold``-s the attachment; the last one leaving puts it back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flo_twilio.redaction import safe_json
from flo_twilio.runner.events_schema import EVENTS
from flo_twilio.runner.journal_schema import migrate
from flo_twilio.runner.journal_store import Connection, is_url, journal_target, open_store
from flo_twilio.runner.journal_writer import GroupCommit
from flo_twilio.trigger import Event

# A run that ended so; any other status is pending, finished by its owner or a claimer.
# Spelled out in SQL (not as parameters) so that the events_unfinished index serves.
FINAL = ("done", "failed")
UNFINISHED = "status NOT IN ('done', 'failed')"
# The tables keyed by route, with the rest of their primary key (None: no key to keep).
ROUTED: dict[str, tuple[str, ...] | None] = {
    "events": None,
    "event_keys": ("key",),
    "cursors": (),
    "attachments": ("url",),
    "attachment_holders": ("url", "owner"),
}


@dataclass
class Pending:
    """An accepted event whose run has not ended: ``run_id`` is None until it starts."""

    id: int
    outputs: dict[str, Any]
    run_id: str | None


class EventStore:
    """The events in ``target``: a SQLite file's path or a ``postgresql://`` URL (``where``
    names where it was given, for messages). Its schema is migrated, or refused when newer
    than this flo's, before anything is read."""

    def __init__(self, target: Path | str, where: str = "") -> None:
        self.store = open_store(target, where, "the accepted events")
        self.name = self.store.name
        self.owner = self.store.owner()  # this replica
        try:
            self._db = GroupCommit(self.store)
        except self.store.errors as exc:
            raise self.store.unreachable(exc) from None
        try:
            self._db.transact(lambda db: migrate(db, self.store, EVENTS))
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    # Events.

    def accept(self, route: str, event: Event) -> int | None:
        """Commit ``event`` for ``route``, owned by this replica; its id, or None when one of
        its keys was seen or superseded (by any replica)."""
        now = time.time()

        def insert(db: Connection) -> int | None:
            marks = ",".join("?" * len(event.keys))
            seen = db.execute(
                f"SELECT 1 FROM event_keys WHERE route = ? AND key IN ({marks})",
                (route, *event.keys),
            ).fetchone()
            if seen:
                return None
            event_id = int(
                db.execute(
                    "INSERT INTO events (route, outputs, status, received, updated, owner) "
                    "VALUES (?, ?, 'accepted', ?, ?, ?) RETURNING id",
                    (route, safe_json(event.outputs), now, now, self.owner),
                ).fetchone()[0]
            )
            for key in event.keys:  # a replica accepting it at once waits here, then fails
                db.execute("INSERT INTO event_keys VALUES (?, ?, ?)", (route, key, event_id))
            for key in event.supersedes:  # stale from now on, if not seen already
                db.execute(
                    "INSERT INTO event_keys VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (route, key, event_id),
                )
            return event_id

        try:
            return self._db.transact(insert)
        except self.store.duplicate:
            return None

    def unfinished(self, routes: list[str], busy: set[int]) -> list[tuple[str, Pending]]:
        """The events of ``routes`` whose run has not ended, oldest first, that this replica
        may take: its own (but those in ``busy``, at work here) and those whose owner
        stopped. Not yet claimed: ``claim`` each."""
        if not routes:
            return []
        marks = ",".join("?" * len(routes))
        rows = self._db.read(
            f"SELECT e.id, e.route, e.outputs, e.run_id, e.owner, r.beat FROM events e "
            f"LEFT JOIN replicas r ON r.owner = e.owner "
            f"WHERE e.{UNFINISHED} AND e.route IN ({marks}) ORDER BY e.id",
            tuple(routes),
        )
        return [
            (route, Pending(event_id, json.loads(outputs), run_id))
            for event_id, route, outputs, run_id, owner, beat in rows
            if event_id not in busy and self._takeable(owner, beat)
        ]

    def claim(self, event_id: int) -> bool:
        """Make this replica the event's owner, if it is unfinished and its owner is this
        replica or stopped; False when another replica has it (two claimers: one wins)."""
        store = self.store

        def take(db: Connection) -> bool:
            row = db.execute(
                f"SELECT owner FROM events WHERE id = ? AND {UNFINISHED}{store.lock_row}",
                (event_id,),
            ).fetchone()
            if row is None:
                return False
            beat = db.execute("SELECT beat FROM replicas WHERE owner = ?", (row[0],)).fetchone()
            if not self._takeable(row[0], beat[0] if beat else None):
                return False
            db.execute("UPDATE events SET owner = ? WHERE id = ?", (self.owner, event_id))
            return True

        return self._db.transact(take)

    def _takeable(self, owner: Any, beat: Any) -> bool:
        return owner in (None, self.owner) or not self.store.alive(None, owner, beat)

    def started(self, event_id: int, run_id: str) -> bool:
        """Record the event's run, once started, if this replica still owns the event (False:
        another took it over, thinking this one stopped)."""
        return self._db.transact(
            lambda db: (
                db.execute(
                    "UPDATE events SET status = 'running', run_id = ?, updated = ? "
                    "WHERE id = ? AND owner = ?",
                    (run_id, time.time(), event_id, self.owner),
                ).rowcount
                == 1
            )
        )

    def update(self, event_id: int, status: str) -> None:
        """Record how the event's run went."""
        self._db.write(
            "UPDATE events SET status = ?, updated = ? WHERE id = ?",
            (status, time.time(), event_id),
        )

    # Routes.

    def routes(self) -> list[str]:
        """Every route the store keeps something for."""
        union = " UNION ".join(f"SELECT route FROM {table}" for table in ROUTED)
        return [row[0] for row in self._db.read(union)]

    def move_route(self, old: str, new: str) -> None:
        """Keep under ``new`` what was kept under ``old`` (a route's key changed), in one
        transaction; what ``new`` has already is kept."""
        if old == new:
            return

        def move(db: Connection) -> None:
            for table, key in ROUTED.items():
                kept = ""
                if key is not None:  # a row the new route has already is kept
                    same = "".join(f" AND kept.{column} = {table}.{column}" for column in key)
                    kept = (
                        f" AND NOT EXISTS (SELECT 1 FROM {table} kept WHERE kept.route = ?{same})"
                    )
                db.execute(
                    f"UPDATE {table} SET route = ? WHERE route = ?{kept}",
                    (new, old, new) if kept else (new, old),
                )
                db.execute(f"DELETE FROM {table} WHERE route = ?", (old,))

        self._db.transact(move)

    # Replicas.

    def beat(self) -> None:
        """Say that this replica still runs; forget the replicas that stopped."""
        now = time.time()
        self._db.write(
            "INSERT INTO replicas (owner, beat, started) VALUES (?, ?, ?) "
            "ON CONFLICT (owner) DO UPDATE SET beat = excluded.beat",
            (self.owner, now, now),
        )
        for owner, beat in self._db.read("SELECT owner, beat FROM replicas"):
            if not self.store.alive(None, owner, beat):
                self._db.write("DELETE FROM replicas WHERE owner = ?", (owner,))

    def leave(self) -> None:
        """This replica stops: its unfinished events are anyone's at once."""
        self._db.write("DELETE FROM replicas WHERE owner = ?", (self.owner,))

    # Polling.

    def cursor(self, route: str) -> Any:
        rows = self._db.read("SELECT cursor FROM cursors WHERE route = ?", (route,))
        return json.loads(rows[0][0]) if rows else None

    def save_cursor(self, route: str, cursor: Any) -> None:
        self._db.write(
            "INSERT INTO cursors VALUES (?, ?) "
            "ON CONFLICT (route) DO UPDATE SET cursor = excluded.cursor",
            (route, json.dumps(cursor)),
        )

    # Attachments.

    def attachments(self, route: str) -> dict[str, dict[str, Any]]:
        """What ``--attach`` replaced for ``route`` and has not put back yet, by the URL it
        attached (more than one only when a server was killed, then started elsewhere)."""
        rows = self._db.read("SELECT url, data FROM attachments WHERE route = ?", (route,))
        return {url: dict(json.loads(data)) for url, data in rows}

    def save_attachment(self, route: str, url: str, data: dict[str, Any]) -> None:
        """Keep ``data`` unless an attachment is kept already (the first one is the original)."""
        self._db.write(
            "INSERT INTO attachments VALUES (?, ?, ?) ON CONFLICT (route, url) DO NOTHING",
            (route, url, json.dumps(data)),
        )

    def forget_attachment(self, route: str, url: str) -> None:
        self._db.write("DELETE FROM attachments WHERE route = ? AND url = ?", (route, url))

    def hold(self, route: str, url: str) -> None:
        """This replica is attached at ``url`` for ``route`` (before it attaches)."""
        self._db.write(
            "INSERT INTO attachment_holders VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (route, url, self.owner),
        )

    def release(self, route: str, url: str) -> None:
        self._db.write(
            "DELETE FROM attachment_holders WHERE route = ? AND url = ? AND owner = ?",
            (route, url, self.owner),
        )

    def other_holders(self, route: str, url: str) -> list[float]:
        """The last beats of the other replicas holding the attachment that may be alive."""
        rows = self._db.read(
            "SELECT h.owner, r.beat FROM attachment_holders h "
            "LEFT JOIN replicas r ON r.owner = h.owner "
            "WHERE h.route = ? AND h.url = ? AND h.owner <> ?",
            (route, url, self.owner),
        )
        return [beat for owner, beat in rows if self.store.alive(None, owner, beat)]


def open_events(journal: str | None, folder: Callable[[], Path]) -> EventStore:
    """The events beside the journal (``journal``: ``--journal``, else $FLO_JOURNAL) when it
    is in PostgreSQL, so that replicas share them; else ``events.db`` in ``folder()``."""
    target, where = journal_target(journal)
    if target is not None and is_url(target):
        return EventStore(target, where)
    return EventStore(folder() / "events.db")
