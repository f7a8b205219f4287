"""What the list cards share: the first ``limit`` records of a paged list, each shown as
the card's outputs show it, reading no page more than needed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

DEFAULT_LIMIT = 50


async def first(
    records: AsyncIterator[dict[str, Any]],
    limit: int,
    show: Callable[[dict[str, Any]], dict[str, Any]],
) -> list[dict[str, Any]]:
    """The first ``limit`` of ``records``, each passed through ``show``."""
    found: list[dict[str, Any]] = []
    async with contextlib.aclosing(records):  # type: ignore[type-var]
        async for record in records:
            found.append(show(record))
            if len(found) == limit:
                break
    return found
