"""The hosts' work files are written whole by any number of processes at once, also by
processes whose PIDs collide (each PID 1 in its own container, sharing a folder)."""

from __future__ import annotations

import os

from flo_twilio.hosts import work
from flo_twilio.hosts.work import write_once


def test_two_writers_with_one_pid_write_the_same_file_at_once(tmp_path, monkeypatch):
    """A second writer (another container, also PID 1) writes the file while the first
    is between writing its temporary file and renaming it: both end with the file whole."""
    monkeypatch.setattr(os, "getpid", lambda: 1)
    replace, written, others = os.replace, [], iter([1])

    def meanwhile(source, target):
        if next(others, None):  # once: the other container, at this moment
            written.append(write_once(tmp_path, "the work", ".json"))
        replace(source, target)

    monkeypatch.setattr(work.os, "replace", meanwhile)
    path = write_once(tmp_path, "the work", ".json")
    assert written == [path] and path.read_text() == "the work"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left
    assert path.stat().st_mode & 0o777 == 0o600
