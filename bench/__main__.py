"""flo's performance side by side in one run, as one table with the ratios the targets name.

    python -m bench            # the full run (about 10 minutes on 2 cores)
    python -m bench --quick    # small numbers: the figures are rough, the harness proven
    python -m bench --smoke    # smaller still, figures meaningless: what the tests run

Every number is settable (see --help). The sandbox runs in its own process; the benchmark
clients run in this one. Needs the bench extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bench import cases
from bench.cases import Lab, Row
from tests.postgres_server import ServerUnavailable


@dataclass
class Settings:
    messages: int = 5000
    concurrency: int = 16
    latency: float = 0.15
    latency_messages: int = 5000
    latency_concurrency: int = 25
    wide_messages: int = 5000  # the same latency, where CPU per message decides
    wide_concurrency: int = 200
    sdk_messages: int = 1000  # the SDK one at a time (its rate does not depend on how many)
    sdk_latency_messages: int = 40
    rate_429: float = 0.3
    messages_429: int = 1000
    rows: tuple[int, ...] = (10_000, 200_000)
    steps: int = 1000
    startup_runs: int = 5


QUICK = Settings(
    messages=300,
    concurrency=16,
    latency=0.05,
    latency_messages=100,
    wide_messages=200,
    wide_concurrency=50,
    sdk_messages=50,
    sdk_latency_messages=5,
    messages_429=60,
    rows=(200, 1000),
    steps=100,
    startup_runs=1,
)

# Smaller still (the verdicts name 16 and 25 in flight: those stay).
SMOKE = replace(
    QUICK, messages=40, latency_messages=20, sdk_messages=5,
    sdk_latency_messages=2, messages_429=30, rows=(50, 200), steps=20,
)  # fmt: skip
MODES = {"quick": QUICK, "smoke": SMOKE}


def parse(argv: list[str]) -> tuple[Settings, str]:
    """The settings, and the mode's name ("" for the full run)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--quick", action="store_true", help="small numbers: rough figures")
    modes.add_argument("--smoke", action="store_true", help="smaller: the harness runs through")
    base = Settings()
    for name, value in vars(base).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, tuple):
            parser.add_argument(flag, type=lambda t: tuple(int(x) for x in t.split(",")))
        else:
            parser.add_argument(flag, type=type(value))
    args = parser.parse_args(argv)
    mode = next((name for name in MODES if getattr(args, name)), "")
    given = {k: v for k, v in vars(args).items() if k not in MODES and v is not None}
    return Settings(**{**vars(MODES.get(mode, base)), **given}), mode


def measure(s: Settings, lab: Lab) -> list[Row]:
    rows: list[Row] = []

    def add(*measured: Row) -> None:
        for row in measured:
            print(
                f"  {row.case}: {row.who}: {row.seconds:.2f} s {row.note}",
                file=sys.stderr,
                flush=True,
            )
            rows.append(row)

    with cases.postgres_journal() as postgres:
        measure_sends(s, lab, postgres, add)
    add(cases.noop_steps(lab, s.steps))
    return rows


def measure_sends(
    s: Settings, lab: Lab, postgres: str | ServerUnavailable, add: Callable[..., None]
) -> None:
    """The cases that send, with flo's journal in SQLite and then in PostgreSQL."""
    loop = f"loopback, {s.concurrency} in flight, {s.messages:,} messages"
    with cases.sandbox() as url:
        account = lab.connect("loopback", url)
        add(cases.flo_cli(loop, lab, account, s.messages, s.concurrency))
        add(cases.flo_cli(loop, lab, account, s.messages, s.concurrency, postgres))
        add(cases.flo_in_process(loop, lab, account, s.messages, s.concurrency))
        add(cases.aiohttp_rows(loop, url, s.messages, s.concurrency))
        add(cases.sdk_one_at_a_time(loop, url, s.sdk_messages))
        add(cases.sdk_thread_pool(loop, url, s.messages, s.concurrency))
        add(cases.aiohttp_rows("the sandbox's own rate", url, s.messages, 64))
        add(*cases.startup(lab, account, s.startup_runs))
        add(*cases.peak_memory(lab, account, list(s.rows), s.concurrency))
    slow = (
        f"latency {s.latency * 1000:.0f} ms, {s.latency_concurrency} in flight, "
        f"{s.latency_messages:,} messages"
    )
    with cases.sandbox("--latency", str(s.latency)) as url:
        account = lab.connect("latency", url)
        add(cases.flo_cli(slow, lab, account, s.latency_messages, s.latency_concurrency))
        add(cases.flo_cli(slow, lab, account, s.latency_messages, s.latency_concurrency, postgres))
        add(cases.aiohttp_rows(slow, url, s.latency_messages, s.latency_concurrency))
        add(cases.sdk_thread_pool(slow, url, s.latency_messages, s.latency_concurrency))
        add(cases.sdk_one_at_a_time(slow, url, s.sdk_latency_messages))
        wide = (
            f"latency {s.latency * 1000:.0f} ms, {s.wide_concurrency} in flight, "
            f"{s.wide_messages:,} messages"
        )
        wide_account = lab.connect("latency-wide", url, max_in_flight=s.wide_concurrency)
        add(cases.flo_cli(wide, lab, wide_account, s.wide_messages, s.wide_concurrency))
        add(cases.aiohttp_rows(wide, url, s.wide_messages, s.wide_concurrency))
    busy = f"{s.rate_429:.0%} answered 429, {s.concurrency} in flight, {s.messages_429:,} messages"
    with cases.sandbox("--rate-429", str(s.rate_429), warm=False) as url:
        account = lab.connect("busy", url)
        row = cases.flo_cli(busy, lab, account, s.messages_429, s.concurrency)
        reached, twice, total = cases.sent_exactly_once(url, s.messages_429)
        row.note = (
            f"{reached:,} of {s.messages_429:,} numbers reached, {twice} twice ({total:,} messages)"
        )
        add(row)


def table(rows: list[Row]) -> str:
    lines = ["| case | who | N | rate /s | µs CPU each | note |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r.skipped:
            lines.append(f"| {r.case} | {r.who} | | | | {r.note} |")
            continue
        if r.case == "start-up":
            lines.append(f"| {r.case} | {r.who} | | | | {r.seconds:.3f} s ({r.note}) |")
            continue
        cpu = f"{r.cpu_us:,.0f}" if r.cpu_us is not None else ""
        lines.append(f"| {r.case} | {r.who} | {r.count:,} | {r.rate:,.0f} | {cpu} | {r.note} |")
    return "\n".join(lines)


def find(rows: list[Row], case_start: str, who_start: str, postgres: bool = False) -> Row:
    """The row of a case and client; flo's with its journal in SQLite unless ``postgres``."""
    return next(
        r
        for r in rows
        if r.case.startswith(case_start)
        and r.who.startswith(who_start)
        and r.who.endswith(cases.IN_POSTGRES) == postgres
    )


def postgres_verdict(s: Settings, rows: list[Row]) -> str:
    """The PostgreSQL journal's rate as a share of SQLite's, at latency and on loopback."""
    name = f"PostgreSQL journal at {s.latency * 1000:.0f} ms latency"
    pg, sqlite = find(rows, "latency", "flo run", True), find(rows, "latency", "flo run")
    if pg.skipped:
        return f"skipped {name}: {pg.note.removeprefix('skipped: ')}"
    ratio = pg.rate / sqlite.rate
    loop = find(rows, "loopback", "flo run", True).rate / find(rows, "loopback", "flo run").rate
    return (
        f"{'met    ' if ratio >= 0.9 else 'MISSED '} {name}: {ratio:.2f} of SQLite's rate "
        f"(target >= 0.9); on loopback {loop:.2f}"
    )


def verdicts(s: Settings, rows: list[Row]) -> list[str]:
    """The issue's targets, each with the ratio measured."""
    cli, aio = find(rows, "loopback", "flo run (whole"), find(rows, "loopback", "bare aiohttp")
    sdk, pool = (
        find(rows, "loopback", "Twilio SDK, one"),
        find(rows, "loopback", f"Twilio SDK, {s.concurrency} threads"),
    )
    inproc = find(rows, "loopback", "flo run in-process")
    lat_cli = find(rows, "latency", f"flo run (whole command), {s.latency_concurrency} in")
    lat_pool = find(rows, "latency", f"Twilio SDK, {s.latency_concurrency} threads")
    wide_cli = find(rows, "latency", f"flo run (whole command), {s.wide_concurrency} in")
    wide_aio = find(rows, "latency", f"bare aiohttp, {s.wide_concurrency} in")
    limit, wide_limit = s.latency_concurrency / s.latency, s.wide_concurrency / s.latency
    startup = {r.who: r.seconds for r in rows if r.case == "start-up"}
    sizes = [r for r in rows if r.case == "peak RSS"]
    mb = [float(r.note.split()[0]) for r in sizes]
    step = find(rows, "engine", "")
    busy = find(rows, f"{s.rate_429:.0%}", "flo run")

    def line(ok: bool, text: str) -> str:
        return f"{'met    ' if ok else 'MISSED '} {text}"

    return [
        line(cli.rate >= 0.5 * aio.rate, f"loopback rate, whole command: {cli.rate / aio.rate:.2f}x bare aiohttp (target >= 0.5x; in-process {inproc.rate / aio.rate:.2f}x)"),
        line(cli.cpu_us <= 2 * aio.cpu_us, f"loopback CPU per message: {cli.cpu_us / aio.cpu_us:.2f}x bare aiohttp (target <= 2x; in-process {inproc.cpu_us / aio.cpu_us:.2f}x)"),  # type: ignore[operator]
        line(cli.rate >= 3 * sdk.rate, f"loopback rate: {cli.rate / sdk.rate:.2f}x the SDK one at a time (target >= 3x); {cli.rate / pool.rate:.2f}x the SDK on {s.concurrency} threads"),
        line(lat_cli.rate >= 0.95 * limit, f"{s.latency * 1000:.0f} ms latency: {lat_cli.rate / limit:.2f} of in-flight/latency = {limit:.0f}/s (target >= 0.95)"),
        line(lat_cli.rate > lat_pool.rate, f"{s.latency * 1000:.0f} ms latency: {lat_cli.rate / lat_pool.rate:.2f}x the SDK on {s.latency_concurrency} threads (target > 1x)"),
        line(wide_cli.rate >= 0.8 * wide_aio.rate, f"{s.latency * 1000:.0f} ms latency, {s.wide_concurrency} in flight: {wide_cli.rate / wide_aio.rate:.2f}x bare aiohttp (target >= 0.8x); {wide_cli.rate / wide_limit:.2f} of in-flight/latency = {wide_limit:.0f}/s, bare aiohttp {wide_aio.rate / wide_limit:.2f}"),
        line(mb[-1] <= 1.3 * mb[0], f"peak RSS {sizes[-1].count:,} rows / {sizes[0].count:,} rows: {mb[-1] / mb[0]:.2f}x (target <= 1.3x)"),
        line(step.cpu_us < 100, f"engine: {step.seconds / step.count * 1e6:.0f} µs wall, {step.cpu_us:.0f} µs CPU per no-op step (target < 100 µs)"),  # type: ignore[operator]
        line(startup["flo run (one-step flow)"] < 0.4, f"start-up: flo run of a one-step flow {startup['flo run (one-step flow)']:.2f} s (target < 0.4 s); flo --version {startup['flo --version']:.2f} s (target < 0.2 s); python -c pass {startup['python -c pass']:.2f} s"),
        line(" 0 twice" in busy.note and busy.note.startswith(f"{s.messages_429:,} of"), f"{s.rate_429:.0%} 429s: {busy.note}"),
        postgres_verdict(s, rows),
    ]  # fmt: skip


def main(argv: list[str]) -> int:
    settings, mode = parse(argv)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        rows = measure(settings, Lab(Path(folder)))
    print(f"# flo benchmark, {time.strftime('%Y-%m-%d %H:%M')}{f' ({mode})' if mode else ''}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; load average before: {load}\n"
    )
    print(table(rows))
    print()
    results = verdicts(settings, rows)
    print("\n".join(results))
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
