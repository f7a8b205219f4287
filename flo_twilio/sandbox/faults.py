"""Fault drills: what the sandbox does wrong on purpose, set at start or at run time."""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Faults:
    """Each ``*_rate`` is a probability per request (0 to 1).

    - ``max_concurrency``: past this many requests in flight, answer 429 / 20429;
    - ``rate_429``, ``rate_500``, ``rate_503``: answer that status *without* processing;
    - ``ambiguous_rate``: create the message, then answer 500 (``ambiguous_mode="500"``)
      or drop the connection mid-response (``"drop"``): the client cannot know;
    - ``latency``: seconds added to every request;
    - ``sender_rate``: segments a second each sender sends (null: at once), as Twilio
      queues a sender's messages; a sender whose queue holds more than ``queue_seconds``
      of them refuses the next message with 21611 (sent From a number) or fails it after
      creation with 30001 (sent through a Messaging Service);
    - ``callbacks_disordered``: each status callback of a message is held until its last,
      then all are sent newest first, each twice (as Twilio's may arrive).
    """

    max_concurrency: int | None = None
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    ambiguous_rate: float = 0.0
    ambiguous_mode: str = "500"
    latency: float = 0.0
    sender_rate: float | None = None
    queue_seconds: float = 36000.0  # Twilio's queue holds up to 10 hours of segments
    callbacks_disordered: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        self.update(self.as_dict())  # the same checks as a change at run time
        self._random = random.Random(self.seed)

    def update(self, changes: object) -> None:
        """Change faults at run time, all or none; FaultError (naming the field) on a bad
        one, or when ``changes`` is not a mapping of fault names to values."""
        if not isinstance(changes, dict):
            raise FaultError("", 'give a JSON object of faults, e.g. {"rate_500": 0.1}')
        known = [f.name for f in fields(self)]
        for name, value in changes.items():
            if name not in known:
                raise FaultError(name, f"unknown fault {name!r}; known: {', '.join(known)}")
            if not _fits(name, value):
                raise FaultError(name, f"{name} must be {_KINDS.get(name, 'a share from 0 to 1')}")
        for name, value in changes.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def injected_status(self) -> int | None:
        """A status to answer instead of processing the request, or None."""
        for status, rate in ((429, self.rate_429), (500, self.rate_500), (503, self.rate_503)):
            if rate and self._random.random() < rate:
                return status
        return None

    def ambiguous(self) -> bool:
        return bool(self.ambiguous_rate) and self._random.random() < self.ambiguous_rate


class FaultError(ValueError):
    """A fault set to what it cannot be; ``field`` names it ("" for the whole change)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


MAX_LATENCY = 60.0  # seconds: longer, a request looks lost rather than slow
_KINDS = {
    "max_concurrency": "a whole number of 0 or more, or null",
    "seed": "a whole number or null",
    "ambiguous_mode": "500 or drop",
    "latency": f"a number of seconds from 0 to {MAX_LATENCY:g}",
    "sender_rate": "a number of segments a second above 0, or null",
    "queue_seconds": "a number of seconds from 0 to 36000",
    "callbacks_disordered": "true or false",
}


def _fits(name: str, value: Any) -> bool:
    if name == "seed":
        return value is None or _whole(value)
    if name == "max_concurrency":
        return value is None or (_whole(value) and value >= 0)
    if name == "ambiguous_mode":
        return value in ("500", "drop")
    if name == "callbacks_disordered":
        return isinstance(value, bool)
    if name == "sender_rate":
        return value is None or (_number(value) and 0 < value < math.inf)
    highest = {"latency": MAX_LATENCY, "queue_seconds": 36000.0}.get(name, 1.0)
    return _number(value) and 0 <= value <= highest  # NaN and infinities fail the comparison


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
