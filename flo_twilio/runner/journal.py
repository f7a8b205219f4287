"""The run journal: SQLite (WAL) under FLO_HOME. An item's intent is committed before a
card that changes the world is called, its outcome after; a resumed run reads both."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flo_twilio.errors import InvalidInputError
from flo_twilio.redaction import safe_json

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, flow TEXT, flow_path TEXT, account TEXT, arguments TEXT,
    status TEXT, created REAL, updated REAL, summary TEXT, pid INTEGER
);
CREATE TABLE IF NOT EXISTS items (
    run_id TEXT, step_id TEXT, idx INTEGER, key TEXT, state TEXT,
    inputs TEXT, outputs TEXT, error TEXT, started REAL, updated REAL,
    PRIMARY KEY (run_id, step_id, idx)
);
"""

# intent: committed before the call; done / failed: its outcome; unknown: the call may
# have happened and reconciliation could not tell.
FINISHED = ("done", "failed")


@dataclass
class Item:
    step_id: str
    index: int
    key: str
    state: str
    inputs: Any
    outputs: Any
    error: Any
    started: float


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def scrub(value: Any) -> str:
    """JSON text of ``value`` with credential fields masked and registered secrets redacted."""
    return safe_json(value)


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        new = not path.exists()
        self.db = sqlite3.connect(path, isolation_level=None)
        if new:
            os.chmod(path, 0o600)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # an intent survives a crash or power loss
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # Runs.

    def start_run(self, flow: str, flow_path: str, account: str, arguments: dict[str, Any]) -> str:
        run_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        now = time.time()
        self.db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, 'running', ?, ?, '{}', ?)",
            (run_id, flow, flow_path, account, scrub(arguments), now, now, os.getpid()),
        )
        return run_id

    def claim(self, run_id: str) -> None:
        """Mark the run as running in this process; refuse when another live process runs it
        (two processes resuming one run could both send an item)."""
        with self.lock():
            row = self.db.execute("SELECT status, pid FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row and row[0] == "running" and row[1] != os.getpid() and alive(row[1]):
                raise InvalidInputError(
                    f"run {run_id} is running in process {row[1]}; wait for it, or stop it first"
                )
            self.db.execute(
                "UPDATE runs SET status = 'running', pid = ?, updated = ? WHERE id = ?",
                (os.getpid(), time.time(), run_id),
            )

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def set_status(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        self.db.execute(
            "UPDATE runs SET status = ?, updated = ?, summary = COALESCE(?, summary) WHERE id = ?",
            (status, time.time(), scrub(summary) if summary is not None else None, run_id),
        )

    def run(self, run_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._run_row(row) if row else None

    def runs(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM runs ORDER BY created DESC").fetchall()
        return [self._run_row(row) for row in rows]

    def _run_row(self, row: tuple[Any, ...]) -> dict[str, Any]:
        run_id, flow, flow_path, account, arguments, status, created, updated, summary, pid = row
        if status == "running" and not alive(pid):
            status = "interrupted"  # its process is gone (killed, or the machine stopped)
        counts = dict(
            self.db.execute(
                "SELECT state, COUNT(*) FROM items WHERE run_id = ? GROUP BY state", (run_id,)
            ).fetchall()
        )
        return {
            "id": run_id,
            "flow": flow,
            "flow_path": flow_path,
            "account": account,
            "arguments": json.loads(arguments),
            "status": status,
            "created": created,
            "updated": updated,
            "summary": json.loads(summary),
            "counts": counts,
        }

    # Items.

    def items(self, run_id: str) -> list[Item]:
        rows = self.db.execute(
            "SELECT step_id, idx, key, state, inputs, outputs, error, started FROM items "
            "WHERE run_id = ? ORDER BY step_id, idx",
            (run_id,),
        ).fetchall()
        return [
            Item(
                s,
                i,
                k,
                st,
                json.loads(inp),
                json.loads(out) if out else None,
                json.loads(err) if err else None,
                started,
            )
            for s, i, k, st, inp, out, err, started in rows
        ]

    def intent(self, run_id: str, step_id: str, index: int, key: str, inputs: Any) -> float:
        """Commit that this item is about to be called; returns the time recorded."""
        now = time.time()
        self.db.execute(
            "INSERT INTO items VALUES (?, ?, ?, ?, 'intent', ?, NULL, NULL, ?, ?) "
            "ON CONFLICT (run_id, step_id, idx) DO UPDATE SET state = 'intent', "
            "key = excluded.key, inputs = excluded.inputs, started = excluded.started, "
            "updated = excluded.updated, error = NULL",
            (run_id, step_id, index, key, scrub(inputs), now, now),
        )
        return now

    def finish(
        self,
        run_id: str,
        step_id: str,
        index: int,
        state: str,
        *,
        key: str = "",
        inputs: Any = None,
        outputs: Any = None,
        error: Any = None,
    ) -> None:
        """Record an item's outcome (creating its row when no intent was needed)."""
        now = time.time()
        self.db.execute(
            "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id, step_id, idx) DO UPDATE SET state = excluded.state, "
            "outputs = excluded.outputs, error = excluded.error, updated = excluded.updated",
            (
                run_id,
                step_id,
                index,
                key,
                state,
                scrub(inputs),
                scrub(outputs) if outputs is not None else None,
                scrub(error) if error is not None else None,
                now,
                now,
            ),
        )
