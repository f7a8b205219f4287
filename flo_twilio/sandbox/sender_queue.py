"""Each sender's queue, as Twilio keeps it: a sender sends ``rate`` segments a second, so a
message waits for those before it; a queue may hold ``limit`` seconds of segments."""

from __future__ import annotations


class SenderQueues:
    """When each sender (a number or a Messaging Service) is free to send again."""

    def __init__(self) -> None:
        self.free: dict[str, float] = {}

    def admit(
        self, sender: str, segments: int, now: float, rate: float, limit: float
    ) -> float | None:
        """The moment a message of ``segments`` leaves ``sender``'s queue, or None when the
        queue already holds more than ``limit`` seconds of segments (nothing is queued)."""
        start = max(now, self.free.get(sender, now))
        if start - now > limit:
            return None
        self.free[sender] = start + segments / rate
        return start
