"""The measurements `python -m bench` makes, each returning rows of the table: flo (the whole
CLI command, and in-process), bare aiohttp and Twilio's Python SDK against the sandbox in its
own process; start-up, peak memory and the engine's cost per step."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bench_memory import peak_mb
from bench.common import FORM, SID, TOKEN, with_aiohttp
from tests.postgres_server import ServerUnavailable, start_server

FROM = "+15005550006"


@dataclass
class Row:
    """One measured line of the table."""

    case: str
    who: str
    count: int
    seconds: float
    cpu: float | None = None  # seconds of CPU, this process's or the child's
    note: str = ""

    @property
    def skipped(self) -> bool:
        return self.count == 0

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def cpu_us(self) -> float | None:
        return None if self.cpu is None else self.cpu / self.count * 1e6


def timed(case: str, who: str, count: int, work: Callable[[], object], note: str = "") -> Row:
    """Run ``work`` and time it, wall clock and this process's CPU (all its threads)."""
    started, cpu = time.perf_counter(), time.process_time()
    work()
    return Row(case, who, count, time.perf_counter() - started, time.process_time() - cpu, note)


# The world the cases run in: a FLO_HOME with one account per sandbox, flows, row files.


class Lab:
    """A temporary FLO_HOME and folder; ``connect`` adds an account for a sandbox URL."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.home = folder / "home"
        self.home.mkdir(mode=0o700)
        # Bytecode is written and reused, as in an installed flo: with PYTHONDONTWRITEBYTECODE
        # set, an editable checkout's flo_twilio would be compiled again by every command
        # (about 0.2 s of each start-up).
        environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env = {**environ, "FLO_HOME": str(self.home), "FLO_SETTLE_SECONDS": "2"}

    def flo(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flo_twilio.cli", *args],
            input=stdin,
            env=self.env,
            text=True,
            capture_output=True,
            check=False,
        )

    def connect(self, name: str, url: str, max_in_flight: int | None = None) -> str:
        """An account for the sandbox at ``url``; its in-flight cap ``max_in_flight`` when
        given (flo's default is 25 requests at once an account)."""
        cap = ["--max-in-flight", str(max_in_flight)] if max_in_flight else []
        done = self.flo(
            "accounts", "add", name, "--account-sid", SID, "--auth-token", "-",
            "--api-base-url", url, *cap, stdin=TOKEN,
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(f"flo accounts add failed: {done.stderr}")
        return name

    def rows(self, count: int) -> Path:
        path = self.folder / f"rows-{count}.csv"
        if not path.exists():
            with path.open("w") as out:
                out.write("phone,name\n")
                out.writelines(f"+1206{i:07d},Name{i}\n" for i in range(count))
        return path

    def bulk_flow(self, concurrency: int) -> Path:
        """The README's bulk send (sample_flows/bulk_sms.yaml) at ``concurrency``."""
        path = self.folder / f"bulk-{concurrency}.yaml"
        path.write_text(
            "flo: 1\nname: bench_bulk\ninputs:\n  recipients:\n    type: array\n"
            "    items: {type: object, required: [phone, name]}\n"
            "steps:\n  - id: send\n    card: twilio.send_sms\n"
            "    for_each: ${{ inputs.recipients }}\n"
            f"    concurrency: {concurrency}\n    on_error: continue\n"
            f'    options: {{from: "{FROM}"}}\n'
            '    inputs:\n      to: ${{ item.phone }}\n      body: "Hi ${{ item.name }}, welcome aboard"\n'
            "outputs:\n  sent: ${{ steps.send.outputs }}\n"
        )
        return path

    def one_step_flow(self) -> Path:
        path = self.folder / "one-step.yaml"
        path.write_text(
            "flo: 1\nname: one_step\nsteps:\n  - id: send\n    card: twilio.send_sms\n"
            f'    options: {{from: "{FROM}"}}\n    inputs: {{to: "+12065551212", body: "Hi"}}\n'
        )
        return path

    def run_args(self, account: str, count: int, concurrency: int) -> list[str]:
        flow, rows = self.bulk_flow(concurrency), self.rows(count)
        return ["run", str(flow), "--input", f"recipients=@{rows}", "--account", account]

    def cli(self, *args: str) -> tuple[float, float]:
        """``flo ARGS`` to its end: wall seconds, and the child's CPU seconds."""
        started = time.perf_counter()
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(
                [sys.executable, "-m", "flo_twilio.cli", *args],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            seconds = time.perf_counter() - started
            if proc.returncode:
                errors.seek(0)
                raise SystemExit(
                    f"flo {' '.join(args)} exited {proc.returncode}: {errors.read()!r}"
                )
        return seconds, usage.ru_utime + usage.ru_stime

    def in_process(self, *args: str) -> None:
        """``flo ARGS`` in this process (imports done, no start-up), output thrown away."""
        from flo_twilio.cli import main

        saved = os.environ.get("FLO_HOME")
        os.environ["FLO_HOME"] = str(self.home)
        try:
            with (
                open(os.devnull, "w") as sink,
                contextlib.redirect_stdout(sink),
                contextlib.redirect_stderr(sink),
            ):
                code = main(list(args))
        finally:
            if saved is None:
                del os.environ["FLO_HOME"]
            else:
                os.environ["FLO_HOME"] = saved
        if code:
            raise SystemExit(f"flo {' '.join(args)} (in-process) exited {code}")


@contextlib.contextmanager
def sandbox(*args: str, warm: bool = True) -> Iterator[str]:
    """The sandbox in its own process (its own core), warmed up."""
    from tests.sandbox_process import sandbox_process

    with sandbox_process("--status-delay", "3600", *args) as url:
        if warm:
            asyncio.run(with_aiohttp(url, 100, 8))
        yield url


# Clients to compare with.


def aiohttp_rows(case: str, url: str, count: int, concurrency: int) -> Row:
    return timed(
        case,
        f"bare aiohttp, {concurrency} in flight",
        count,
        lambda: asyncio.run(with_aiohttp(url, count, concurrency)),
    )


def sdk_client(url: str) -> Any:
    from twilio.rest import Client

    sdk = Client(SID, TOKEN)
    sdk.api.base_url = url
    return sdk


def sdk_one_at_a_time(case: str, url: str, count: int) -> Row:
    sdk = sdk_client(url)

    def send_all() -> None:
        for _ in range(count):
            sdk.messages.create(to=FORM["To"], from_=FROM, body=FORM["Body"])

    return timed(case, "Twilio SDK, one at a time", count, send_all)


def sdk_thread_pool(case: str, url: str, count: int, threads: int) -> Row:
    """The 10-line thread pool a user would write around the SDK: one client per thread."""
    local = threading.local()

    def send(_: int) -> None:
        if not hasattr(local, "sdk"):
            local.sdk = sdk_client(url)
        local.sdk.messages.create(to=FORM["To"], from_=FROM, body=FORM["Body"])

    def send_all() -> None:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(send, range(count)))

    return timed(case, f"Twilio SDK, {threads} threads", count, send_all)


@contextlib.contextmanager
def postgres_journal() -> Iterator[str | ServerUnavailable]:
    """A journal's URL on a PostgreSQL server of its own on loopback (the tests' server,
    tests/postgres_server.py), or why there is none. Its commits wait for their fsync, as
    the SQLite journal's do (synchronous=FULL)."""
    try:
        server = start_server(fsync="on", full_page_writes="on")
    except ServerUnavailable as why:
        yield why
        return
    try:
        yield server.url()
    finally:
        server.discard()


# flo.

IN_POSTGRES = ", journal in PostgreSQL"


def flo_cli(
    case: str,
    lab: Lab,
    account: str,
    count: int,
    concurrency: int,
    journal: str | ServerUnavailable | None = None,
) -> Row:
    """``flo run`` of the bulk flow, its journal in FLO_HOME (SQLite) or at ``journal``
    (a PostgreSQL URL; a row marked skipped when there is no server)."""
    who = f"flo run (whole command), {concurrency} in flight{IN_POSTGRES if journal else ''}"
    if isinstance(journal, ServerUnavailable):
        return Row(case, who, 0, 0.0, note=f"skipped: no PostgreSQL server ({journal})")
    args = lab.run_args(account, count, concurrency)
    seconds, cpu = lab.cli(*args, *(["--journal", journal] if journal else []))
    return Row(case, who, count, seconds, cpu)


def flo_in_process(case: str, lab: Lab, account: str, count: int, concurrency: int) -> Row:
    args = lab.run_args(account, count, concurrency)
    return timed(
        case, f"flo run in-process, {concurrency} in flight", count, lambda: lab.in_process(*args)
    )


def sent_exactly_once(url: str, count: int) -> tuple[int, int, int]:
    """(messages to each row's number at least once, sent more than once, total) on the
    sandbox, read back through its API."""
    from flo_twilio.client import Credentials, TwilioClient

    async def read() -> Counter[str]:
        async with TwilioClient(Credentials.of(SID, auth_token=TOKEN), api_base_url=url) as c:
            return Counter([m["to"] async for m in c.messages(page_size=1000)])

    seen = asyncio.run(read())
    wanted = [f"+1206{i:07d}" for i in range(count)]
    return (
        sum(1 for n in wanted if seen[n]),
        sum(1 for n in wanted if seen[n] > 1),
        sum(seen.values()),
    )


def startup(lab: Lab, account: str, runs: int) -> list[Row]:
    """Best of ``runs`` wall times: the interpreter alone, flo --version, a one-step run."""
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "flo --version": [sys.executable, "-m", "flo_twilio.cli", "--version"],
        "flo run (one-step flow)": [
            sys.executable, "-m", "flo_twilio.cli", "run", str(lab.one_step_flow()),
            "--account", account,
        ],
    }  # fmt: skip
    rows = []
    for name, command in commands.items():
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(command, env=lab.env, capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        rows.append(Row("start-up", name, 1, min(times), note=f"best of {runs}"))
    return rows


def peak_memory(lab: Lab, account: str, sizes: list[int], concurrency: int) -> list[Row]:
    rows = []
    for size in sizes:
        args = lab.run_args(account, size, concurrency)
        started = time.perf_counter()
        megabytes = peak_mb(lab.home, *args)
        seconds = time.perf_counter() - started
        rows.append(
            Row("peak RSS", f"flo run, {size:,} rows", size, seconds, note=f"{megabytes:.1f} MB")
        )
    return rows


def noop_steps(lab: Lab, steps: int) -> Row:
    """The engine's own cost per step: a flow of ``steps`` steps of a card that does
    nothing, run in-process with a real journal."""
    from bench.noop import run_noop_flow

    seconds, cpu = run_noop_flow(lab.folder, steps)
    return Row("engine", f"{steps:,} no-op steps", steps, seconds, cpu)
