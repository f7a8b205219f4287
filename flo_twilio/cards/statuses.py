"""The order of a message's statuses, from Twilio's message lifecycle: scheduled, accepted
(by a Messaging Service), queued, sending, sent, then one end (delivered, undelivered,
failed, canceled, partially_delivered), and read (WhatsApp, after delivered). Callbacks
may arrive out of order; a status earlier in this order than one seen is stale."""

from __future__ import annotations

PROGRESS = {
    "scheduled": 0,
    "accepted": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    "delivered": 5,
    "undelivered": 5,
    "failed": 5,
    "canceled": 5,
    "partially_delivered": 5,
    "read": 6,
}


def earlier_statuses(status: str) -> list[str]:
    """The statuses before ``status`` (none for a status outside the order)."""
    rank = PROGRESS.get(status)
    return [] if rank is None else [s for s, r in PROGRESS.items() if r < rank]


def is_earlier(status: str, than: str) -> bool:
    """Whether ``status`` comes before ``than`` (statuses outside the order never do)."""
    return status in PROGRESS and than in PROGRESS and PROGRESS[status] < PROGRESS[than]
