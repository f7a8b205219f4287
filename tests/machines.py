"""Machines simulated on this one, for drills across machines: each process runs under
``unshare --uts --pid --fork --kill-child --mount-proc`` (its own host name, and its own
PID space, where it is PID 1: PIDs collide across machines), with its own empty local
folders mounted, as a container's are, at the same paths on every machine (FLO_HOME and
TMPDIR); all they may share is what the test gives them (a PostgreSQL URL). Killing a
machine's process (SIGKILL to its ``unshare``) kills everything in it.

Run as ``python -m tests.machines send ...``, this module is a host worker: one
``Sender.send_bulk`` attempt, printing how it ended as one JSON line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT

UNSHARE = ("unshare", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc")
SENDER = "+15005550006"


def machines_unavailable() -> str:
    """Why processes cannot be started as machines here ("" when they can)."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = subprocess.run(
        [*UNSHARE, "sh", "-c", "hostname probe && echo $$"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode or probe.stdout.split() != ["1"]:
        return f"unshare cannot make a machine here (needs root): {probe.stderr.strip()}"
    return ""


def recipients(count: int) -> list[dict[str, str]]:
    return [{"to": f"+1206555{n:04d}", "body": f"Hello {n}"} for n in range(count)]


@dataclass
class Machine:
    """One simulated machine: a host name, and its own empty folders under ``root`` that
    its processes see at ``root``/mounted/{home,tmp}, the same paths on every machine."""

    name: str
    mounts: dict[Path, Path]  # its own folder: where its processes see it
    environment: dict[str, str]

    @classmethod
    def make(cls, name: str, root: Path, **environment: str) -> Machine:
        mounts = {}
        for folder in ("home", "tmp"):
            own, seen = root / name / folder, root / "mounted" / folder
            own.mkdir(parents=True)
            seen.mkdir(parents=True, exist_ok=True)
            mounts[own] = seen
        home, temporary = mounts.values()
        variables = {**os.environ, **environment, "FLO_HOME": str(home), "TMPDIR": str(temporary)}
        variables.pop("FLO_JOURNAL", None)
        return cls(name, mounts, variables)

    def start(self, *argv: str, stdin: str | None = None) -> subprocess.Popen[str]:
        """``argv`` on this machine, in a PID space of its own; its output in pipes."""
        binds = "".join(f'mount --bind "{own}" "{seen}" && ' for own, seen in self.mounts.items())
        script = f'hostname "{self.name}" && {binds}exec "$@"'
        return subprocess.Popen(
            [*UNSHARE, "sh", "-c", script, "machine", *argv],
            cwd=ROOT,
            env=self.environment,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(
        self, *argv: str, stdin: str | None = None, timeout: float = 120
    ) -> tuple[int, str, str]:
        with self.start(*argv, stdin=stdin) as process:
            out, err = process.communicate(stdin, timeout=timeout)
        return process.returncode, out, err

    def worker(
        self, journal: str | None, key: str, first: int, count: int, concurrency: int
    ) -> subprocess.Popen[str]:
        """A host worker's attempt at ``count`` recipients from the ``first`` under ``key``."""
        argv = ["send", key, str(first), str(count), str(concurrency), journal or ""]
        return self.start(sys.executable, "-m", "tests.machines", *argv, stdin=None)

    def flo(self, *args: str) -> tuple[int, str, str]:
        return self.run(sys.executable, "-m", "flo_twilio.cli", *args)


def kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL a machine's process (its namespace goes with it) and reap it."""
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()


def ended(process: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    """How a worker's attempt ended: its JSON line."""
    out, err = process.communicate(timeout=timeout)
    lines = out.strip().splitlines()
    assert lines, f"the worker printed nothing (exit {process.returncode}): {err[-2000:]}"
    return json.loads(lines[-1])


def send(key: str, first: str, count: str, concurrency: str, journal: str) -> None:
    """The worker: one attempt, through the sandbox named by $FLO_DRILL_SANDBOX."""
    from flo_twilio.hosts import HostSendError, Sender, account_from

    fields = {"account_sid": SID, "auth_token": TOKEN}
    fields["api_base_url"] = os.environ["FLO_DRILL_SANDBOX"]
    account = account_from("drill", fields)
    sender = Sender(account, journal=journal or None, settle=float(os.environ["FLO_DRILL_SETTLE"]))
    try:
        result = sender.send_bulk_sync(
            key,
            "twilio.send_sms",
            {"from": SENDER},
            recipients(int(first) + int(count))[int(first) :],
            concurrency=int(concurrency),
        )
        said = {"outcome": "done", "done": result.done, "pid": os.getpid()}
    except HostSendError as error:
        said = {"outcome": "retry" if error.retryable else "final", "detail": str(error)}
    print(json.dumps(said), flush=True)


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    assert command == "send", command
    send(*arguments)
