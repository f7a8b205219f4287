"""Helpers for tests that run the ``flo`` command as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parent.parent


@dataclass
class Result:
    code: int
    out: str
    err: str


def flo(
    *args: str, input: str | None = None, cwd: Path | None = None, env: dict | None = None
) -> Result:
    """Run ``python -m flo_twilio.cli ARGS`` in a subprocess with the test's environment."""
    proc = subprocess.run(
        [sys.executable, "-m", "flo_twilio.cli", *args],
        input=input,
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)
