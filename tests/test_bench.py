"""The benchmark harness runs end to end in its quick mode, so it cannot rot unnoticed
(its figures are not checked here: performance is measured by benchmarks, not tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_the_quick_benchmark_prints_every_case_and_every_target():
    done = run_module("bench", "--quick", timeout=300)
    table = done.stdout
    for case in [
        "flo run (whole command)",
        "flo run in-process",
        "bare aiohttp, 16 in flight",
        "Twilio SDK, one at a time",
        "Twilio SDK, 16 threads",
        "Twilio SDK, 25 threads",
        "the sandbox's own rate",
        "python -c pass",
        "flo run (one-step flow)",
        "peak RSS",
        "no-op steps",
    ]:
        assert case in table, case
    verdicts = [line for line in table.splitlines() if line.startswith(("met", "MISSED"))]
    assert len(verdicts) == 9
    # the 429 case checks the sandbox itself: every number reached, none twice
    assert "60 of 60 numbers reached, 0 twice" in table


@pytest.mark.slow
def test_the_phase_tracer_still_finds_every_phase_of_a_run():
    done = run_module("bench.bench_phases", "40", "4", "0.01", timeout=120)
    for phase in ["render to intent", "intent to durable", "durable to request", "request"]:
        line = next(line for line in done.stdout.splitlines() if line.strip().startswith(phase))
        assert "mean" in line and " 0.00 ms" not in line.split("p50")[0], line
    assert "40 messages, 4 in flight" in done.stdout


@pytest.mark.slow
def test_the_shared_limits_benchmark_counts_statements_per_message(postgres_url):
    done = run_module("bench.bench_shared_limits", postgres_url, "40", "4", "0.01", timeout=120)
    lines = done.stdout.splitlines()
    assert "***" in lines[0] and postgres_url not in done.stdout  # the password masked
    counted = [line for line in lines if "statements/message" in line]
    assert len(counted) == 4 and " 0.00 statements" in counted[0], counted
    assert all(" 0.00 statements" not in line for line in counted[1:]), counted
    assert lines[-1].startswith("one at a time: a start")


def run_module(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m ARGS`` from the project's root, ended well."""
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done
