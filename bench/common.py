"""What the benchmarks share: the sandbox in its own process, clients, and reporting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN

FORM = {"To": "+12065551212", "From": "+15005550006", "Body": "Benchmark message"}
MESSAGES_PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"


def report(name: str, count: int, seconds: float, cpu: float | None = None) -> float:
    rate = count / seconds
    extra = f", {cpu / count * 1000:.2f} ms CPU each" if cpu is not None else ""
    print(f"{name:<34} {rate:8.0f} requests/s{extra}", flush=True)
    return rate


async def fan_out(count: int, concurrency: int, send: Callable[[], Awaitable[Any]]) -> None:
    """Call ``send`` ``count`` times with ``concurrency`` calls in flight."""
    queue = iter(range(count))

    async def worker() -> None:
        for _ in queue:
            await send()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def with_aiohttp(
    url: str, count: int, concurrency: int, form: dict[str, Any] | None = None
) -> None:
    """Create ``count`` messages with bare aiohttp: the cheapest client there is."""
    headers = {"Authorization": aiohttp.BasicAuth(SID, TOKEN).encode()}
    async with aiohttp.ClientSession(url, headers=headers) as session:

        async def send() -> None:
            async with session.post(MESSAGES_PATH, data=form or FORM) as response:
                response.raise_for_status()
                await response.read()

        await fan_out(count, concurrency, send)
