"""A host (Airflow, Prefect, Dagster...) in a virtual environment of its own, with its pinned
requirements and this checkout (editable), built once and kept under
``.cache/hostvenvs/<name>/<hash>``. The hash covers the requirements file, pyproject.toml,
this checkout's path and Python's version, so a change to any of them builds anew.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.helpers import ROOT
from tests.twilio_spec import CACHE, unavailable


def host_python(name: str, requirements: Path) -> Path:
    """The python of the venv ``name`` with ``requirements`` and flo-twilio installed;
    skipped (failed in CI) when it cannot be installed."""
    digest = hashlib.sha256()
    for part in (requirements.read_bytes(), (ROOT / "pyproject.toml").read_bytes()):
        digest.update(part)
    digest.update(f"{ROOT.resolve()}\n{sys.version}".encode())
    folder = CACHE / "hostvenvs" / name
    target = folder / digest.hexdigest()[:16]
    python = target / "bin" / "python"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; the others wait for it
        if (target / ".complete").exists():
            return python
        for stale in folder.iterdir():
            if stale.is_dir():
                shutil.rmtree(stale)
        started = time.monotonic()
        install(target, requirements)
        (target / ".complete").write_text(f"built in {time.monotonic() - started:.0f} s\n")
    return python


def install(target: Path, requirements: Path) -> None:
    steps = (
        [sys.executable, "-m", "venv", str(target)],
        [
            str(target / "bin" / "python"),
            *("-m", "pip", "install", "-q", "--disable-pip-version-check"),
            *("-r", str(requirements), "-e", str(ROOT)),
        ],
    )
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            unavailable(f"{' '.join(step[:4])} took over 15 minutes")
        if done.returncode != 0:
            unavailable(f"{' '.join(step[:4])} failed: {done.stderr.strip()[-500:]}")


def requirements_files() -> dict[str, Path]:
    """Each host's pinned requirements, by host name (``<name>-requirements.txt``)."""
    here = Path(__file__).parent
    return {p.name.removesuffix("-requirements.txt"): p for p in here.glob("*-requirements.txt")}


def build_ahead(names: set[str]) -> threading.Thread:
    """Build the hosts' venvs one after another on a thread, while the rest of the suite runs
    (a fresh CI machine spends minutes on them); a host's tests wait for its build (the
    lock), and one that failed here fails again there, with its reason."""

    def build() -> None:
        for name, requirements in sorted(requirements_files().items()):
            if name in names:
                with contextlib.suppress(BaseException):  # reported by the host's tests
                    host_python(name, requirements)

    thread = threading.Thread(target=build, name="host-venvs", daemon=True)
    thread.start()
    return thread
