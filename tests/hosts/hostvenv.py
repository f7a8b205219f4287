"""A host's own virtual environment (Airflow, Prefect, Dagster...): its pinned
requirements (tests/hosts/NAME_requirements.txt) plus this package, editable, cached under
.cache/hostvenvs/NAME/ by a digest of the requirements, pyproject.toml and Python version.

In CI a failed install fails the tests; elsewhere the tests that need it skip with the reason.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import ROOT
from tests.twilio_spec import CACHE, unavailable

HERE = Path(__file__).parent


def host_python(name: str) -> Path:
    """The Python of host ``name``'s venv, made (and the stale ones removed) when missing."""
    requirements = HERE / f"{name}_requirements.txt"
    digest = hashlib.sha256(
        requirements.read_bytes() + (ROOT / "pyproject.toml").read_bytes() + sys.version.encode()
    ).hexdigest()[:16]
    folder = CACHE / "hostvenvs" / name / digest
    python = folder / "bin" / "python"
    if (folder / "installed").exists():
        return python
    shutil.rmtree(folder.parent, ignore_errors=True)  # earlier digests, a half-made venv
    started = time.monotonic()
    steps = (
        [sys.executable, "-m", "venv", str(folder)],
        [str(python), "-m", "pip", "install", "-q", "-r", str(requirements), "-e", str(ROOT)],
    )
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            unavailable(f"{name}'s venv: {' '.join(step[:4])}... took over 900 s")
        if done.returncode != 0:
            unavailable(f"{name}'s venv could not be installed: {done.stderr.strip()[-500:]}")
    (folder / "installed").write_text(f"{time.monotonic() - started:.0f} s to install\n")
    return python
