"""Twilio's opt-out handling as flo sees it: the keywords a recipient texts to opt out of a
sender or back in (matched as Twilio matches them: the whole body, trimmed, in any case),
and the error code Twilio answers a send to a recipient who opted out."""

from __future__ import annotations

OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"
# Twilio's default keywords for long codes, toll-free numbers and messaging services.
OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})  # HELP (and INFO) change nothing


def keyword_consent(body: str) -> bool | None:
    """True for an opt-out keyword, False for an opt-in one, None for any other body."""
    word = body.strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return True
    return False if word in OPT_IN_KEYWORDS else None
