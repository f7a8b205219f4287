"""The order of a message's statuses, from Twilio's message lifecycle: scheduled, accepted
(by a Messaging Service), queued, sending, sent, then one end (delivered, undelivered,
failed, canceled, partially_delivered), and read (WhatsApp, after delivered); and of a
call's (queued, initiated, ringing, in-progress, then one end) and a recording's
(in-progress, then completed, absent or failed). Callbacks may arrive out of order; a
status earlier in its order than one seen is stale."""

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

CALL_PROGRESS = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    **dict.fromkeys(("completed", "busy", "failed", "no-answer", "canceled"), 4),
}
RECORDING_PROGRESS = {"in-progress": 0, "completed": 1, "absent": 1, "failed": 1}


def earlier_statuses(status: str, progress: dict[str, int] = PROGRESS) -> list[str]:
    """The statuses before ``status`` in ``progress`` (a message's by default; none for a
    status outside the order)."""
    rank = progress.get(status)
    return [] if rank is None else [s for s, r in progress.items() if r < rank]


def is_earlier(status: str, than: str) -> bool:
    """Whether ``status`` comes before ``than`` (statuses outside the order never do)."""
    return status in PROGRESS and than in PROGRESS and PROGRESS[status] < PROGRESS[than]
