"""Segments per second, per sender: Twilio sends each sender's messages at its own rate (a
US long code about one segment a second, a toll-free number a few, a short code 100) and
queues, then refuses (21611) or fails (30001), what comes faster. A message of ``n``
segments holds its sender for ``n / rate`` seconds; the next one from that sender starts
after it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from flo_twilio.connection import Gate


class Pacer:
    """Spaces starts by their weight: a start of weight ``w`` holds the next one back
    ``w / per_second`` seconds; with no rate, waits for nothing. Each caller takes the next
    free moment, so callers start in turn."""

    def __init__(self, per_second: float | None = None) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0

    async def wait(self, weight: float = 1.0) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        moment = max(now, self._next)
        self._next = moment + weight * self.interval
        if moment > now:
            await asyncio.sleep(moment - now)


GateFor = Callable[[str, float], Gate]


class SenderPacing:
    """The pace of each sender (a phone number or a Messaging Service SID): its rate in
    ``sender_rates``, else ``per_second`` (None: not paced). With ``gate_for`` (the
    account's limits shared across processes), a sender's pace is its gate's, shared.

    ``segments`` counts what was paced; ``seconds`` is the time the pacing needed: the
    longest any one sender's segments took at its rate."""

    def __init__(
        self,
        per_second: float | None = None,
        sender_rates: Mapping[str, float] | None = None,
        gate_for: GateFor | None = None,
    ) -> None:
        self.per_second, self.sender_rates = per_second, dict(sender_rates or {})
        self.gate_for = gate_for
        self.segments = 0
        self._pacers: dict[str, Pacer | Gate] = {}
        self._needed: dict[str, float] = {}

    def rate(self, sender: str) -> float | None:
        return self.sender_rates.get(sender, self.per_second)

    @property
    def seconds(self) -> float:
        return max(self._needed.values(), default=0.0)

    async def wait(self, sender: str, segments: int) -> None:
        """Wait for ``sender``'s turn to send ``segments`` segments."""
        self.segments += segments
        rate = self.rate(sender)
        if not rate:
            return
        self._needed[sender] = self._needed.get(sender, 0.0) + segments / rate
        pacer = self._pacers.get(sender)
        if pacer is None:
            pacer = self.gate_for(sender, rate) if self.gate_for else Pacer(rate)
            self._pacers[sender] = pacer
        if isinstance(pacer, Pacer):
            await pacer.wait(segments)
        else:
            await pacer.start(segments)

    async def aclose(self) -> None:
        for pacer in self._pacers.values():
            if not isinstance(pacer, Pacer):
                await pacer.aclose()
