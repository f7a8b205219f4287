"""What the list cards share: the first ``limit`` records of a paged list, each shown as
the card's outputs show it, reading no page more than needed (``ListCard``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, ClassVar

from flo_twilio.card import Card, CardContext
from flo_twilio.client import TwilioClient

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


class ListCard(Card):
    """A card whose outputs are the first ``limit`` records of a list (``key``) and
    ``count``: ``pages`` reads the list, ``show`` makes a record the card's outputs."""

    key: ClassVar[str]
    max_page_size = 1000  # Twilio's largest page

    def pages(
        self, client: TwilioClient, inputs: Mapping[str, Any], page_size: int
    ) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError

    def show(self, record: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        limit = inputs.get("limit", DEFAULT_LIMIT)
        pages = self.pages(ctx.client, inputs, min(limit, self.max_page_size))
        found = await first(pages, limit, self.show)
        return {self.key: found, "count": len(found)}
