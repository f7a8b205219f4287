"""Peak memory (RSS) of `flo run`, `flo resume` and `flo runs show` for a small and a big bulk
send, against the sandbox in another process. Flat memory: the big run's peaks are close to
the small run's (outputs stay in the journal, resume and show read it in pages).

The resume is of a second run killed with SIGKILL once 90% of its items were journalled: it
reads every row of the journal, reconciles what was in flight, sends the rest and prints all
the outputs.

    python -m bench.bench_memory [SMALL BIG]
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import SID, TOKEN
from tests.sandbox_process import sandbox_process

ROOT = Path(__file__).parent.parent
FLOW = str(ROOT / "sample_flows/bulk_sms.yaml")


def flo(
    home: Path, *args: str, launcher: bool = False, **kwargs: object
) -> subprocess.Popen[bytes]:
    """``flo ARGS`` (with ``launcher``, ``python ARGS``) with its own FLO_HOME."""
    env = {**os.environ, "FLO_HOME": str(home), "FLO_SETTLE_SECONDS": "2"}
    return subprocess.Popen(
        [sys.executable, *([] if launcher else ["-m", "flo_twilio.cli"]), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **kwargs,  # type: ignore[call-overload]
    )


# The child's own peak: a process's maxrss counts the memory of the process it was forked
# from, so flo is started from this small launcher rather than from the benchmark itself.
LAUNCHER = """
import os, sys
pid = os.posix_spawn(sys.executable, [sys.executable, *sys.argv[2:]], os.environ)
_, status, usage = os.wait4(pid, 0)
open(sys.argv[1], "w").write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def peak_mb(home: Path, *args: str) -> float:
    """Run ``flo ARGS`` to its end; its peak resident memory in MB."""
    report = home / "peak"
    flo_args = ["-m", "flo_twilio.cli", *args]
    flo(home, "-c", LAUNCHER, str(report), *flo_args, launcher=True).wait()
    code, kilobytes = report.read_text().split()
    if int(code) not in (0, 1):
        raise SystemExit(f"flo {' '.join(args)} exited with {code}")
    return int(kilobytes) / 1024  # KB on Linux


def journal_value(home: Path, query: str) -> object:
    try:
        with sqlite3.connect(f"file:{home / 'runs.db'}?mode=ro", uri=True) as db:
            row = db.execute(query).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def measure(rows: int, url: str, folder: Path) -> dict[str, float]:
    home = folder / f"home-{rows}"
    home.mkdir(mode=0o700)
    add = flo(home, "accounts", "add", "bench", "--account-sid", SID, "--auth-token", "-",
              "--api-base-url", url, stdin=subprocess.PIPE)  # fmt: skip
    add.communicate(TOKEN.encode())
    csv = folder / f"rows-{rows}.csv"
    csv.write_text("phone,name\n" + "".join(f"+1206{i:07d},Name{i}\n" for i in range(rows)))
    recipients = f"recipients=@{csv}"
    started = time.perf_counter()
    figures = {"run": peak_mb(home, "run", FLOW, "--input", recipients)}
    seconds = time.perf_counter() - started
    first = str(journal_value(home, "SELECT id FROM runs"))
    figures["runs show"] = peak_mb(home, "runs", "show", first)
    killed = flo(home, "run", FLOW, "--input", recipients)
    while killed.poll() is None:
        done = journal_value(home, f"SELECT COUNT(*) FROM items WHERE run_id != '{first}'")
        if isinstance(done, int) and done >= rows * 0.9:
            killed.send_signal(signal.SIGKILL)
        time.sleep(0.05)
    second = str(journal_value(home, f"SELECT id FROM runs WHERE id != '{first}'"))
    figures["resume"] = peak_mb(home, "resume", second)
    print(
        f"{rows:>8,} rows: run {figures['run']:6.1f} MB ({rows / seconds:.0f} rows/s), "
        f"resume {figures['resume']:6.1f} MB, runs show {figures['runs show']:6.1f} MB",
        flush=True,
    )
    return figures


def main(small: int = 10_000, big: int = 200_000) -> None:
    with tempfile.TemporaryDirectory() as tmp, sandbox_process("--status-delay", "3600") as url:
        low = measure(small, url, Path(tmp))
        high = measure(big, url, Path(tmp))
    for what in low:
        print(f"{what:<10} {big:,} rows / {small:,} rows: {high[what] / low[what]:.2f}x")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
