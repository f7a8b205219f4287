"""A host (Airflow, Prefect, Dagster...) in its own virtual environment, installed from a
pinned requirements file plus this checkout (editable), cached under .cache/hostvenvs/NAME
and rebuilt when the pins or this package's dependencies change. In CI a failed install
fails the tests; elsewhere (say, offline) they skip with the reason."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
import tomllib
import venv
from pathlib import Path

from tests.helpers import ROOT
from tests.twilio_spec import unavailable

CACHE = ROOT / ".cache" / "hostvenvs"
STAMP = "flo-pins.sha256"


def pins_hash(requirements: Path) -> str:
    """What the environment is built from: the pins, this package's dependencies and entry
    points (an editable install reads the code live, not those), and the Python."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    built_from = [
        requirements.read_text(),
        project["dependencies"],
        project.get("entry-points", {}),
        sys.version_info[:2],
    ]
    return hashlib.sha256(json.dumps(built_from).encode()).hexdigest()


def host_python(name: str, requirements: Path) -> Path:
    """The Python of the host's environment, built first when missing or stale."""
    folder = CACHE / name
    python = folder / "bin" / "python"
    wanted = pins_hash(requirements)
    stamp = folder / STAMP
    if stamp.exists() and stamp.read_text() == wanted and python.exists():
        return python
    shutil.rmtree(folder, ignore_errors=True)
    venv.create(folder, with_pip=True)
    started = time.monotonic()
    installed = subprocess.run(
        [python, "-m", "pip", "install", "-q", "-r", requirements, "-e", ROOT],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if installed.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        unavailable(f"pip could not install {requirements.name}: {installed.stderr[-600:]}")
    stamp.write_text(wanted)
    (folder / "flo-install-seconds").write_text(f"{time.monotonic() - started:.0f}\n")
    return python
