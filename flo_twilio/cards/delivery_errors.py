"""What Twilio's errors for a message that failed after it was accepted mean, and what to
do about each (from Twilio's error pages)."""

from __future__ import annotations

DELIVERY_ERRORS = {
    30001: (
        "queue overflow: the sender's queue held more than it may",
        "send slower from that sender (flo accounts add ... --sender-rate SENDER=RATE) or "
        "spread the sends over more senders",
    ),
    30003: (
        "unreachable destination handset: the phone is off, out of coverage or cannot "
        "take the message now",
        "try again later; if it keeps failing, ask the recipient to check their phone",
    ),
    30005: (
        "unknown destination handset: the number does not exist or is no longer in service",
        "remove it from the list, or check it with Lookup before sending",
    ),
    30006: (
        "landline or unreachable carrier: the number cannot receive SMS",
        "check the line type with Lookup before sending, and remove landlines",
    ),
    30007: (
        "message filtered: the carrier blocked it as spam or against its policy",
        "register the sender (A2P 10DLC or toll-free verification), send only with consent, "
        "and avoid link shorteners and spam-like wording",
    ),
    30034: (
        "message from an unregistered number: US carriers refuse A2P 10DLC traffic from a "
        "long code not registered to an approved campaign",
        "register the brand and campaign, and add the number to the campaign's Messaging Service",
    ),
}


def explained(status: str, code: int | None) -> str | None:
    """A line for a run's summary about a message that ended ``status`` with ``code``, if
    Twilio's meaning of it is known."""
    if code not in DELIVERY_ERRORS:
        return None
    meaning, advice = DELIVERY_ERRORS[code]
    return f"{status} with {code} ({meaning}); what to do: {advice}"
