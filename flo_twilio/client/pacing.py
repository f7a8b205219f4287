"""Requests per second for one account: each request starts at least 1/rate seconds after
the one before it (Twilio sends a long code's messages at about 1 per second, and queues
or refuses what comes faster)."""

from __future__ import annotations

import asyncio
import time


class Pacer:
    """Spaces the starts of requests ``1 / per_second`` apart; with no rate, waits for
    nothing. Each caller takes the next free moment, so callers start in turn."""

    def __init__(self, per_second: float | None = None) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        moment = max(now, self._next)
        self._next = moment + self.interval
        if moment > now:
            await asyncio.sleep(moment - now)
