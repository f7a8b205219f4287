"""What an account's limits shared through a PostgreSQL journal cost a bulk run: its rate and
the statements its gate sends per message, with no limit set, with ``max_in_flight``, with
``max_per_second`` (set too high to wait: the statements alone) and with both; then one
request at a time, which pays each round trip in full.

    python -m bench.bench_shared_limits postgresql://USER:PASSWORD@HOST/DB
    python -m bench.bench_shared_limits URL 600 25 0.15   # messages, in flight, latency (s)

The sandbox runs in its own process; the run in this one, journalled in the database
(which it makes its tables in).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import cases
from bench.common import SID, TOKEN
from flo_twilio import load_registry
from flo_twilio.accounts import Account
from flo_twilio.runner.api import Runner
from flo_twilio.runner.journal import Journal
from flo_twilio.runner.journal_postgres import masked_url
from flo_twilio.runner.shared_limits import PostgresGate, PostgresLimits

FAST = "100000"  # starts a second: a pace that never waits


def limit_cases(in_flight: int) -> dict[str, dict[str, str]]:
    return {
        "no limit set": {},
        f"max_in_flight={in_flight}": {"max_in_flight": str(in_flight)},
        f"max_per_second={FAST}": {"max_per_second": FAST},
        "both": {"max_in_flight": str(in_flight), "max_per_second": FAST},
    }


async def bulk(url: str, sandbox: str, flow: Path, rows: Path, limits: dict[str, str]) -> str:
    """One bulk run with the account's ``limits``: its rate and statements per message."""
    gates: list[PostgresGate] = []
    made = PostgresLimits.gate

    def counted(self: PostgresLimits, *args: Any) -> PostgresGate:
        gates.append(made(self, *args))
        return gates[-1]

    PostgresLimits.gate = counted  # type: ignore[method-assign]
    try:
        values = {"account_sid": SID, "api_base_url": sandbox, **limits}
        account = Account("bench", "twilio", values=values, secrets={"auth_token": TOKEN})
        runner = Runner(load_registry(), Journal(url), settle=2)
        run = runner.start(runner.plan(flow, [f"recipients=@{rows}"]), account)
        started = time.perf_counter()
        outcome = await run.execute()
        seconds = time.perf_counter() - started
    finally:
        PostgresLimits.gate = made  # type: ignore[method-assign]
    count = outcome.tally.done
    statements = sum(gate.round_trips for gate in gates)
    return f"{count / seconds:8.1f} messages/s  {statements / count:5.2f} statements/message"


async def one_at_a_time(url: str, calls: int) -> str:
    """A start and a slot for one request at a time: each statement's round trip."""
    gate = PostgresLimits(url).gate(f"bench:{time.time()}", 1, float(FAST))
    try:
        await gate.start()  # connected, tables made
        started = time.perf_counter()
        for _ in range(calls):
            await gate.start()
        start = (time.perf_counter() - started) / calls
        started = time.perf_counter()
        for _ in range(calls):
            async with gate.slot():
                pass
        slot = (time.perf_counter() - started) / calls
    finally:
        await gate.aclose()
    return f"one at a time: a start {start * 1000:.2f} ms, a slot taken and given back {slot * 1000:.2f} ms"


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    url = argv[0]
    count = int(argv[1]) if len(argv) > 1 else 600
    in_flight = int(argv[2]) if len(argv) > 2 else 25
    latency = float(argv[3]) if len(argv) > 3 else 0.15
    print(f"{count} messages, {in_flight} in flight, {latency * 1000:g} ms; {masked_url(url)}")
    with tempfile.TemporaryDirectory() as folder:
        lab = cases.Lab(Path(folder))
        flow, rows = lab.bulk_flow(in_flight), lab.rows(count)
        with cases.sandbox("--latency", str(latency)) as sandbox:
            for name, limits in limit_cases(in_flight).items():
                print(f"{name:26s}", asyncio.run(bulk(url, sandbox, flow, rows, limits)))
    print(asyncio.run(one_at_a_time(url, min(count, 200))))


if __name__ == "__main__":
    main(sys.argv[1:])
