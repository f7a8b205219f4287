"""What reconciliation reads: the records of a newest-first list made since an intent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from flo_twilio.client import TwilioClient, parse_date

# How much earlier than the intent (in the API's clock, measured from its Date header) a
# found record may say it was created: date_created has whole seconds, and the hosts
# behind the API keep their clocks to well within a second of each other.
CREATED_MARGIN = 2.0
# The same, when the API sends no Date header to measure its clock by.
UNMEASURED_SLACK = 120.0


async def created_since(
    client: TwilioClient, records: AsyncIterator[dict[str, Any]], since: float
) -> AsyncIterator[dict[str, Any]]:
    """The ``records`` (newest first) created at or after ``since`` (epoch seconds on this
    machine's clock), read until the first older one."""
    cutoff: float | None = None
    async for record in records:
        if cutoff is None:  # the first page's Date header has measured the API's clock
            cutoff = client.clock.earliest_api_time(since, UNMEASURED_SLACK) - CREATED_MARGIN
        created = parse_date(record.get("date_created"))
        if created is None:
            continue
        if created.timestamp() < cutoff:
            return  # the list is newest first: nothing older can be ours
        yield record
