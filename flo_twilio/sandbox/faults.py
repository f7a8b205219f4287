"""Fault drills: what the sandbox does wrong on purpose, set at start or at run time."""

from __future__ import annotations

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
    - ``latency``: seconds added to every request.
    """

    max_concurrency: int | None = None
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    ambiguous_rate: float = 0.0
    ambiguous_mode: str = "500"
    latency: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def update(self, changes: dict[str, Any]) -> None:
        """Change faults at run time; raises ValueError (naming the field) on a bad value."""
        known = [f.name for f in fields(self)]
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(known)}")
            if not _fits(name, value):
                raise ValueError(f"{name} must be {_KINDS.get(name, 'a number of 0 or more')}")
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


_KINDS = {
    "max_concurrency": "a whole number or null",
    "seed": "a whole number or null",
    "ambiguous_mode": "500 or drop",
}


def _fits(name: str, value: Any) -> bool:
    if name in ("max_concurrency", "seed"):
        return value is None or (isinstance(value, int) and not isinstance(value, bool))
    if name == "ambiguous_mode":
        return value in ("500", "drop")
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
