"""The benchmark harness runs end to end in its smoke mode, so it cannot rot unnoticed
(its figures are not checked here: performance is measured by benchmarks, not tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import cases
from bench.__main__ import Settings, postgres_verdict, table
from bench.cases import Lab, Row
from tests.postgres_server import ServerUnavailable

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_the_smoke_benchmark_prints_every_case_and_every_target():
    done = run_module("bench", "--smoke", timeout=300)
    table = done.stdout
    for case in [
        "flo run (whole command)",
        "flo run in-process",
        "16 in flight, journal in PostgreSQL",
        "25 in flight, journal in PostgreSQL",
        "bare aiohttp, 16 in flight",
        "Twilio SDK, one at a time",
        "Twilio SDK, 16 threads",
        "Twilio SDK, 25 threads",
        "latency 50 ms, 50 in flight, 200 messages",
        "bare aiohttp, 50 in flight",
        "the sandbox's own rate",
        "python -c pass",
        "flo run (one-step flow)",
        "peak RSS",
        "no-op steps",
    ]:
        assert case in table, case
    verdicts = [line for line in table.splitlines() if line.startswith(("met", "MISSED"))]
    assert len(verdicts) == 11
    assert "50 in flight: " in verdicts[5], verdicts  # flo beside bare aiohttp
    assert "PostgreSQL journal at 50 ms latency: " in verdicts[-1]
    # the 429 case checks the sandbox itself: every number reached, none twice
    assert "30 of 30 numbers reached, 0 twice" in table


def test_without_postgresql_its_rows_and_verdict_say_skipped_and_why(tmp_path):
    settings = Settings()
    why = ServerUnavailable("no /usr/lib/postgresql/*/bin")
    lab = Lab(tmp_path)
    rows = [
        Row("latency 150 ms", "flo run (whole command), 25 in flight", 1500, 10.0, 1.0),
        cases.flo_cli("latency 150 ms", lab, "a", 1500, 25, why),
    ]
    assert table(rows).splitlines()[-1] == (
        "| latency 150 ms | flo run (whole command), 25 in flight, journal in PostgreSQL "
        "| | | | skipped: no PostgreSQL server (no /usr/lib/postgresql/*/bin) |"
    )
    assert postgres_verdict(settings, rows) == (
        "skipped PostgreSQL journal at 150 ms latency: "
        "no PostgreSQL server (no /usr/lib/postgresql/*/bin)"
    )


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
