"""Which process runs a run: its PID with its start time and the machine's boot, so that a PID
the system has since given to an unrelated process is not mistaken for the runner."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

UNKNOWN = "-"


def _boot_id() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return UNKNOWN


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or UNKNOWN."""
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name may hold spaces
    return UNKNOWN


def identity(pid: int | None = None) -> str:
    """``boot:pid:start`` of ``pid`` (default: this process)."""
    pid = pid or os.getpid()
    return f"{_boot_id()}:{pid}:{_start_time(pid)}"


def alive(owner: str | None) -> bool:
    """Whether the process ``owner`` (an ``identity``) still runs."""
    try:
        boot, pid_text, start = (owner or "").split(":")
        pid = int(pid_text)
    except ValueError:
        return False
    if pid <= 0 or (boot != UNKNOWN and boot != _boot_id()):
        return False  # the machine has restarted since
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user
    return start == UNKNOWN or _start_time(pid) in (start, UNKNOWN)
