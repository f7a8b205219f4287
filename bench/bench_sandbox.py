"""How many message creates per second the sandbox answers over loopback, with full
validation, on one uvicorn worker (the sandbox in its own process, the client in this one).

    python -m bench.bench_sandbox [REQUESTS]
"""

from __future__ import annotations

import asyncio
import sys
import time

from bench.common import FORM, report, with_aiohttp
from tests.sandbox_process import sandbox_process

MMS = {**FORM, "MediaUrl": ["https://example.com/a.png", "https://example.com/b.jpg"]}
UNICODE = {**FORM, "Body": "Grüße aus Köln — ünïcödé " * 8}


def main(count: int = 5000) -> None:
    with sandbox_process("--status-delay", "3600") as url:
        asyncio.run(with_aiohttp(url, 500, 16))  # warm up
        for name, form, concurrency in [
            ("SMS, 16 in flight", FORM, 16),
            ("SMS, 64 in flight", FORM, 64),
            ("MMS with 2 media, 16 in flight", MMS, 16),
            ("UCS-2 body (4 segments), 16", UNICODE, 16),
        ]:
            started = time.perf_counter()
            asyncio.run(with_aiohttp(url, count, concurrency, form))
            report(name, count, time.perf_counter() - started)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
