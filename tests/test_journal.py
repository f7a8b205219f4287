"""The journal's writer: intents durable before their call leaves, written together off the
event loop, and a failed commit stops every later send."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from flo_twilio import CardContext
from flo_twilio.runner.engine import Engine
from flo_twilio.runner.journal import Journal
from tests.test_engine import Send, bulk

pytestmark = pytest.mark.anyio


def committed_state(where: Path | str, index: int) -> str | None:
    """The item's state as another process would read it: committed rows only (in the
    SQLite file or the PostgreSQL database ``where``)."""
    if isinstance(where, str):
        import psycopg

        with psycopg.connect(where) as other:
            row = other.execute("SELECT state FROM items WHERE idx = %s", (index,)).fetchone()
    else:
        with sqlite3.connect(where) as other:
            row = other.execute("SELECT state FROM items WHERE idx = ?", (index,)).fetchone()
    return row[0] if row else None


class CountingCommits:
    """A journal's connection, counting its commits."""

    def __init__(self, db) -> None:
        self.db, self.commits = db, 0

    def execute(self, sql, args=()):
        self.commits += sql == "COMMIT"
        return self.db.execute(sql, args)

    def __getattr__(self, name):
        return getattr(self.db, name)


async def test_every_intent_is_committed_before_its_call_leaves(tmp_path, monkeypatch, journal_at):
    path = journal_at
    journal = Journal(path)
    seen: list[str | None] = []
    sent: list[str] = []
    run = Send.run

    async def checking_run(self, ctx, options, inputs):
        seen.append(committed_state(path, int(inputs["to"])))
        sent.append(inputs["to"])
        return await run(self, ctx, options, inputs)

    monkeypatch.setattr(Send, "run", checking_run)
    flow = bulk(tmp_path)
    engine = Engine(flow, CardContext(None, {"sid": "AC1"}), journal, "r1")
    await engine.run({"to": [str(i) for i in range(40)]})
    assert len(sent) == 40 and seen == ["intent"] * 40
    journal.close()
    assert {committed_state(path, i) for i in range(40)} == {"done"}


async def test_intents_ready_together_are_committed_together(journal_at):
    journal = Journal(journal_at)
    counting = journal._writes.db = CountingCommits(journal._db)

    async def item(index: int) -> None:
        journal.intent("r1", "s", index, "k", {"to": index})
        await journal.durable()

    await asyncio.gather(*(item(i) for i in range(50)))
    assert 1 <= counting.commits <= 2
    assert {committed_state(journal_at, i) for i in range(50)} == {"intent"}


async def test_a_failed_commit_stops_every_later_send(tmp_path):
    journal = Journal(tmp_path / "runs.db")
    journal._db.execute("PRAGMA busy_timeout = 50")
    blocker = sqlite3.connect(tmp_path / "runs.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    journal.intent("r1", "s", 0, "k", {})
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await asyncio.wait_for(journal.durable(), 5)
    blocker.execute("ROLLBACK")
    journal.intent("r1", "s", 1, "k", {})  # the lock is free now, and still:
    with pytest.raises(sqlite3.OperationalError):
        await asyncio.wait_for(journal.durable(), 5)
    assert committed_state(tmp_path / "runs.db", 0) is None
    blocker.close()


def test_a_loop_that_ended_before_its_writes_were_committed_stalls_no_later_loop(journal_at):
    journal = Journal(journal_at)

    first = asyncio.new_event_loop()

    async def write_and_leave() -> None:
        journal.intent("r1", "s", 0, "k", {})
        first.stop()  # its loop ends before the writer is woken

    async def write_and_wait() -> None:
        journal.intent("r1", "s", 1, "k", {})
        await asyncio.wait_for(journal.durable(), 5)

    task = first.create_task(write_and_leave())
    first.run_forever()
    first.close()
    assert task.done()
    asyncio.run(write_and_wait())
    assert committed_state(journal_at, 0) == committed_state(journal_at, 1)
    assert committed_state(journal_at, 1) == "intent"


def test_a_journal_on_a_network_file_system_is_refused_before_anything_runs(tmp_path, monkeypatch):
    from flo_twilio import InvalidInputError
    from flo_twilio.runner import file_systems

    shared = tmp_path / "shared mount"
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/vda / ext4 rw 0 0\n"
        f"nas:/export {str(shared).replace(' ', chr(92) + '040')} nfs4 rw,relatime 0 0\n"
    )
    monkeypatch.setattr(file_systems, "MOUNTS", mounts)
    with pytest.raises(InvalidInputError, match=r"network file system \(nfs4\)") as refused:
        Journal(shared / "flo" / "runs.db")
    assert "FLO_HOME" in str(refused.value) and not (shared / "flo" / "runs.db").exists()
    assert file_systems.file_system(tmp_path) == "ext4"
    Journal(tmp_path / "local" / "runs.db").close()  # a local disk is fine
