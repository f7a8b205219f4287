"""Which process runs a run: its PID with its start time, the machine's boot and its host
name, so that a PID the system has since given to an unrelated process is not mistaken for
the runner. A run owned on another machine (workers sharing a state folder) cannot be
checked by PID: it lives while its heartbeat, written every $FLO_HEARTBEAT_SECONDS, is
fresh."""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from flo_twilio.errors import InvalidInputError, Problem

UNKNOWN = "-"
HEARTBEAT_VARIABLE = "FLO_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT = 5.0
MISSED_BEATS = 6  # a run elsewhere that missed this many beats in a row has stopped


def _boot_id() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return UNKNOWN


def host_name() -> str:
    """This machine's host name (no colons: owners are colon-separated)."""
    return socket.gethostname().replace(":", "_") or UNKNOWN


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or UNKNOWN."""
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name may hold spaces
    return UNKNOWN


def identity(pid: int | None = None) -> str:
    """``boot:pid:start:host`` of ``pid`` (default: this process)."""
    pid = pid or os.getpid()
    return f"{_boot_id()}:{pid}:{_start_time(pid)}:{host_name()}"


def heartbeat_seconds() -> float:
    """$FLO_HEARTBEAT_SECONDS, else 5: how often a running run says it still runs."""
    text = os.environ.get(HEARTBEAT_VARIABLE, "").strip()
    with contextlib.suppress(ValueError):
        seconds = float(text) if text else DEFAULT_HEARTBEAT
        if 0 < seconds < math.inf:
            return seconds
    hint = "the same on every worker sharing a state folder; the default is 5"
    raise InvalidInputError(
        [Problem(f"{HEARTBEAT_VARIABLE} must be a number of seconds above 0", hint=hint)]
    )


def host_of(owner: str | None) -> str:
    """The host name in ``owner`` (an ``identity``), or UNKNOWN (recorded before hosts were)."""
    parts = (owner or "").split(":")
    return parts[3] if len(parts) == 4 else UNKNOWN


def alive(owner: str | None, last_beat: float | None = None) -> bool:
    """Whether the process ``owner`` (an ``identity``) still runs: on this machine by its PID
    and start time; elsewhere (another host, or this one before it restarted) while its
    heartbeat ``last_beat`` (a ``time.time()``) is younger than ``MISSED_BEATS`` beats."""
    parts = (owner or "").split(":")
    try:
        boot, pid_text, start = parts[:3]
        pid = int(pid_text)
    except ValueError:
        return False
    if boot not in (UNKNOWN, _boot_id()) or host_of(owner) not in (UNKNOWN, host_name()):
        age = time.time() - last_beat if last_beat is not None else math.inf
        return age < MISSED_BEATS * heartbeat_seconds()
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user
    return start == UNKNOWN or _start_time(pid) in (start, UNKNOWN)


@contextlib.contextmanager
def beating(beat: Callable[[], None], every: float) -> Iterator[None]:
    """Call ``beat`` every ``every`` seconds while the block runs, on a thread of its own
    (a busy event loop does not stop it)."""
    stop = threading.Event()

    def beat_until_stopped() -> None:
        while not stop.wait(every):
            beat()

    threading.Thread(target=beat_until_stopped, name="flo-heartbeat", daemon=True).start()
    try:
        yield
    finally:
        stop.set()
