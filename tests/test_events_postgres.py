"""``flo serve``'s event store shared by replicas in PostgreSQL (and its SQLite file
migrated): a key is accepted once whichever replica commits first, an unfinished event is
taken from a replica that stopped beating (after the window, not before; of two takers one
wins), and an attachment is held by every live replica."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flo_twilio.errors import InvalidInputError
from flo_twilio.runner import process
from flo_twilio.runner.events import EventStore, open_events
from flo_twilio.trigger import Event
from tests.postgres import flo_db

psycopg = pytest.importorskip("psycopg")

ROUTE = "/flows/auto_reply.yaml"
HEARTBEAT = 0.2  # a 1.2 s window: MISSED_BEATS beats


@pytest.fixture
def replicas(postgres_url, monkeypatch) -> Iterator[Callable[[], EventStore]]:
    """Replicas of one event store in a fresh PostgreSQL database, each beating once."""
    monkeypatch.setenv(process.HEARTBEAT_VARIABLE, str(HEARTBEAT))
    opened: list[EventStore] = []

    def replica() -> EventStore:
        store = EventStore(postgres_url)
        store.beat()
        opened.append(store)
        return store

    yield replica
    for store in opened:
        store.close()


def event(key: str) -> Event:
    return Event(outputs={"body": key}, keys=[key])


def stop_beating(store: EventStore, url: str) -> None:
    """As if the replica had been killed a window ago: its last beat is that old."""
    old = time.time() - process.MISSED_BEATS * HEARTBEAT - 0.1
    with flo_db(url, autocommit=True) as db:
        db.execute("UPDATE replicas SET beat = %s WHERE owner = %s", (old, store.owner))


def blocked_on_a_lock(url: str, count: int, seconds: float = 10) -> None:
    """Until ``count`` sessions wait for a lock (a row's, or a key's)."""
    deadline = time.monotonic() + seconds
    with flo_db(url, autocommit=True) as db:
        while True:
            waiting = db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            ).fetchone()[0]
            if waiting >= count:
                return
            assert time.monotonic() < deadline, "nobody waits for the lock"
            time.sleep(0.01)


def in_threads(*calls: Callable[[], Any]) -> tuple[list[threading.Thread], list[Any]]:
    results: list[Any] = []
    threads = [threading.Thread(target=lambda c=c: results.append(c())) for c in calls]
    for thread in threads:
        thread.start()
    return threads, results


def test_a_delivery_to_two_replicas_is_accepted_once(replicas):
    a, b = replicas(), replicas()
    first = a.accept(ROUTE, event("SM1"))
    assert first is not None
    assert b.accept(ROUTE, event("SM1")) is None
    assert b.accept("/another/flow.yaml", event("SM1")) is not None  # keys are per route


def test_of_two_replicas_accepting_at_once_the_keys_uniqueness_decides(replicas, postgres_url):
    """The other replica's transaction has the key, not yet committed: this one's look-up
    sees nothing, its insert waits for that transaction, then fails: a duplicate."""
    a = replicas()
    with flo_db(postgres_url) as other:  # a transaction left open
        other.execute("INSERT INTO event_keys VALUES (%s, 'SM2', 0)", (ROUTE,))
        threads, results = in_threads(lambda: a.accept(ROUTE, event("SM2")))
        blocked_on_a_lock(postgres_url, 1)
        other.commit()
        threads[0].join(10)
    assert results == [None]
    assert a.unfinished([ROUTE], set()) == []  # its event was rolled back with its key


def test_an_unfinished_event_is_taken_after_the_window_and_not_before(replicas, postgres_url):
    a, b = replicas(), replicas()
    event_id = a.accept(ROUTE, event("SM3"))
    assert b.unfinished([ROUTE], set()) == [] and not b.claim(event_id)
    assert [p.id for _, p in a.unfinished([ROUTE], set())] == [event_id]  # its own
    assert a.unfinished([ROUTE], {event_id}) == []  # at work there
    stop_beating(a, postgres_url)
    (route, pending), *_ = b.unfinished([ROUTE], set())
    assert (route, pending.id, pending.outputs) == (ROUTE, event_id, {"body": "SM3"})
    assert b.claim(event_id)
    assert not b.started(-1, "run-x") and not a.started(event_id, "run-a")  # a lost it
    assert b.started(event_id, "run-b")
    a.beat()  # back from a pause: it does not take the event back
    assert not a.claim(event_id) and a.unfinished([ROUTE], set()) == []
    b.update(event_id, "done")
    assert b.unfinished([ROUTE], set()) == [] and not b.claim(event_id)


def test_of_two_replicas_taking_one_event_one_wins(replicas, postgres_url):
    a, b, c = replicas(), replicas(), replicas()
    event_id = a.accept(ROUTE, event("SM4"))
    stop_beating(a, postgres_url)
    with flo_db(postgres_url) as other:  # holds the event's row
        other.execute("SELECT 1 FROM events WHERE id = %s FOR UPDATE", (event_id,))
        threads, results = in_threads(lambda: b.claim(event_id), lambda: c.claim(event_id))
        blocked_on_a_lock(postgres_url, 2)
        other.commit()
        for thread in threads:
            thread.join(10)
    assert sorted(results) == [False, True]


def test_a_clean_stop_leaves_its_events_to_others_at_once(replicas):
    a, b = replicas(), replicas()
    event_id = a.accept(ROUTE, event("SM5"))
    a.leave()
    assert b.claim(event_id)


def test_every_live_replica_holds_the_attachment(replicas, postgres_url):
    url = "https://flo.example.com/auto_reply"
    a, b = replicas(), replicas()
    a.hold(ROUTE, url)
    a.save_attachment(ROUTE, url, {"SmsUrl": "https://theirs.example.com"})
    b.hold(ROUTE, url)
    b.save_attachment(ROUTE, url, {"SmsUrl": url})  # found ours: the first one is kept
    assert b.attachments(ROUTE).get(url) == {"SmsUrl": "https://theirs.example.com"}
    assert len(a.other_holders(ROUTE, url)) == 1
    stop_beating(b, postgres_url)  # killed: its share does not count
    assert a.other_holders(ROUTE, url) == []
    assert len(b.other_holders(ROUTE, url)) == 1
    a.release(ROUTE, url)
    assert b.other_holders(ROUTE, url) == []


def test_a_replica_that_stopped_is_forgotten_at_the_next_beat(replicas, postgres_url):
    a, b = replicas(), replicas()
    stop_beating(a, postgres_url)
    b.beat()
    with flo_db(postgres_url) as db:
        owners = db.execute("SELECT owner FROM replicas").fetchall()
    assert owners == [(b.owner,)]


def test_the_events_live_beside_a_postgresql_journal(postgres, postgres_url, monkeypatch, tmp_path):
    monkeypatch.setenv("FLO_JOURNAL", postgres_url)
    store = open_events(None, lambda: pytest.fail("no local folder is needed"))
    assert store.name == postgres_url.replace(postgres.password, "***")
    store.close()
    monkeypatch.delenv("FLO_JOURNAL")
    given = open_events(postgres_url, lambda: pytest.fail("no local folder is needed"))
    assert given.name == store.name
    given.close()
    local = open_events(None, lambda: tmp_path)
    assert local.name == str(tmp_path / "events.db")
    local.close()


def test_a_newer_event_schema_is_refused(postgres, postgres_url):
    EventStore(postgres_url).close()
    with flo_db(postgres_url) as db:
        db.execute("INSERT INTO events_schema_version VALUES (99)")
    with pytest.raises(InvalidInputError) as refused:
        EventStore(postgres_url)
    message = str(refused.value)
    assert "event store" in message and "schema version 99" in message
    assert postgres.password not in message


OLD_SCHEMA = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY, route TEXT, outputs TEXT, run_id TEXT, status TEXT,
    received REAL, updated REAL
);
CREATE TABLE event_keys (route TEXT, key TEXT, event_id INTEGER, PRIMARY KEY (route, key));
CREATE TABLE cursors (route TEXT PRIMARY KEY, cursor TEXT);
CREATE TABLE attachments (route TEXT, url TEXT, data TEXT, PRIMARY KEY (route, url));
INSERT INTO events VALUES (7, '/flows/auto_reply.yaml', '{"body": "old"}', NULL, 'accepted', 0, 0);
INSERT INTO event_keys VALUES ('/flows/auto_reply.yaml', 'SM7', 7);
"""


def test_an_events_file_from_before_versions_is_migrated_and_finished(tmp_path):
    path = tmp_path / "events.db"
    with sqlite3.connect(path) as old:
        old.executescript(OLD_SCHEMA)
    store = EventStore(path)
    store.beat()
    ((route, pending),) = store.unfinished([ROUTE], set())
    assert (route, pending.id, pending.outputs) == (ROUTE, 7, {"body": "old"})
    assert store.claim(7) and store.accept(ROUTE, event("SM7")) is None
    assert store.accept(ROUTE, event("SM8")) == 8
    store.close()


@pytest.mark.anyio
async def test_an_event_whose_run_another_process_still_owns_waits_for_a_later_beat(tmp_path):
    """Taken over from a replica whose run's heartbeat is younger than its own: resuming it is
    refused for now (RunInUseError); the event stays unfinished and is queued again, not failed."""
    from types import SimpleNamespace

    from flo_twilio.errors import RunInUseError
    from flo_twilio.runner.events import Pending
    from flo_twilio.serve.server import Served, Server

    class Owned:
        def record(self, run_id: str) -> dict[str, Any]:
            return {"status": "running"}

        async def resume(self, *args: Any) -> None:
            raise RunInUseError("run-1", "run run-1 is running in process 7 on elsewhere")

    store = EventStore(tmp_path / "events.db")
    store.beat()
    event_id = store.accept(ROUTE, event("SM9"))
    assert event_id is not None and store.started(event_id, "run-1")
    flow = SimpleNamespace(name="auto_reply")
    served = Served(flow, None, {}, {}, "/auto_reply", "http://x/auto_reply", ROUTE)  # type: ignore[arg-type]
    said: list[str] = []
    server = Server(Owned(), None, None, {}, [served], store, "", say=said.append)  # type: ignore[arg-type]
    server.enqueue(served, Pending(event_id, {}, "run-1"))
    worker = asyncio.create_task(server.work())
    while server.busy:
        await asyncio.sleep(0.01)
    worker.cancel()
    assert said == [
        f"auto_reply: event {event_id} waits: run run-1 is running in process 7 on elsewhere"
    ]
    server.queue_unfinished()
    assert server.busy == {event_id} and server.queue.qsize() == 1
    store.close()
