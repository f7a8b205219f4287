"""Which network transport should TwilioClient use? Message creates against the sandbox
(in its own process) at 16 concurrent requests, side by side in one run.

    python -m bench.bench_transport [REQUESTS]
"""

from __future__ import annotations

import asyncio
import sys
import time

import httpx

from bench.common import (
    FORM,
    MESSAGES_PATH,
    SID,
    TOKEN,
    fan_out,
    report,
    with_aiohttp,
)
from flo_twilio.client import Credentials, TwilioClient
from flo_twilio.client.transport import AiohttpTransport
from tests.sandbox_process import sandbox_process

CONCURRENCY = 16


async def with_httpx(url: str, count: int, transport: httpx.AsyncBaseTransport | None) -> None:
    async with httpx.AsyncClient(base_url=url, auth=(SID, TOKEN), transport=transport) as client:

        async def send() -> None:
            (await client.post(MESSAGES_PATH, data=FORM)).raise_for_status()

        await fan_out(count, CONCURRENCY, send)


async def with_flo_client(url: str, count: int) -> None:
    credentials = Credentials.of(SID, auth_token=TOKEN)
    async with TwilioClient(credentials, api_base_url=url, max_in_flight=CONCURRENCY) as client:
        await fan_out(count, CONCURRENCY, lambda: client.create_message(FORM))


def with_twilio_sdk(url: str, count: int) -> None:
    from twilio.rest import Client

    sdk = Client(SID, TOKEN)
    sdk.api.base_url = url
    for _ in range(count):
        sdk.messages.create(to=FORM["To"], from_=FORM["From"], body=FORM["Body"])


def measure(name: str, count: int, run) -> float:
    started, cpu = time.perf_counter(), time.process_time()
    run()
    return report(name, count, time.perf_counter() - started, time.process_time() - cpu)


def main(count: int = 2000) -> None:
    with sandbox_process("--status-delay", "3600") as url:
        asyncio.run(with_aiohttp(url, 200, CONCURRENCY))  # warm the server up
        rates = {
            "httpx default transport": measure(
                "httpx default transport", count, lambda: asyncio.run(with_httpx(url, count, None))
            ),
            "httpx client + flo's aiohttp transport": measure(
                "httpx client + flo's aiohttp transport",
                count,
                lambda: asyncio.run(with_httpx(url, count, AiohttpTransport())),
            ),
            "flo TwilioClient (chosen)": measure(
                "flo TwilioClient (chosen)", count, lambda: asyncio.run(with_flo_client(url, count))
            ),
            "bare aiohttp": measure(
                "bare aiohttp", count, lambda: asyncio.run(with_aiohttp(url, count, CONCURRENCY))
            ),
            "twilio SDK, one at a time": measure(
                "twilio SDK, one at a time", count // 4, lambda: with_twilio_sdk(url, count // 4)
            ),
        }
    base = rates["httpx default transport"]
    print("\nratios to httpx's default transport:")
    for name, rate in rates.items():
        print(f"  {name:<34} {rate / base:5.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
