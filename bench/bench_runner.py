"""End to end: `flo run` of a bulk send (journal, validation, rendering, the client) against
the sandbox in another process, side by side with the bare client at the same concurrency.

    python -m bench.bench_runner [ROWS]
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import FORM, SID, TOKEN, fan_out, report
from flo_twilio.client import Credentials, TwilioClient
from flo_twilio.sandbox.server import sandbox_process

CONCURRENCY = 20
ROOT = Path(__file__).parent.parent


async def bare_client(url: str, count: int) -> None:
    async with TwilioClient(Credentials.of(SID, auth_token=TOKEN), api_base_url=url) as client:
        await fan_out(count, CONCURRENCY, lambda: client.create_message(FORM))


def flo_run(url: str, rows: Path, home: Path) -> float:
    env = {**os.environ, "FLO_HOME": str(home)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "flo_twilio.cli",
            "accounts",
            "add",
            "bench",
            "--account-sid",
            SID,
            "--auth-token",
            "-",
            "--api-base-url",
            url,
        ],
        input=TOKEN,
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "flo_twilio.cli",
            "run",
            str(ROOT / "sample_flows/bulk_sms.yaml"),
            "--input",
            f"recipients=@{rows}",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main(count: int = 3000) -> None:
    with tempfile.TemporaryDirectory() as tmp, sandbox_process("--status-delay", "3600") as url:
        rows = Path(tmp) / "rows.csv"
        rows.write_text("phone,name\n" + "".join(f"+1206{i:07d},Name{i}\n" for i in range(count)))
        started = time.perf_counter()
        asyncio.run(bare_client(url, count))
        bare = report("TwilioClient alone, 20 in flight", count, time.perf_counter() - started)
        runner = report(
            "flo run bulk_sms.yaml (whole command)", count, flo_run(url, rows, Path(tmp) / "home")
        )
    print(
        f"\nflo run reaches {runner / bare:.2f}x the bare client's rate (journal: a durable intent before each send)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
