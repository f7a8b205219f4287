"""How a count reads: "1 item", "2 items"."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """``count`` and ``noun``, plural unless the count is one: ``counted(1, "row")`` is "1 row"."""
    return f"{count:,} {noun}{'s' * (count != 1)}"
