"""Messages as Twilio makes them: validation with Twilio's error codes, segments, prices,
and statuses that move on with the sandbox's clock."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flo_twilio.sandbox.state import SandboxState, new_sid
from flo_twilio.sandbox.wire import twilio_date

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")

# Twilio's magic test numbers (see the reference): To -> error, From -> error.
MAGIC_TO = {
    "+15005550001": 21211,
    "+15005550002": 21612,
    "+15005550003": 21408,
    "+15005550004": 21610,
    "+15005550009": 21614,
}
# What a phone texting one of the account's numbers does to its consent, as Twilio reads
# the whole body, trimmed, in any case: True opts out of that number, False opts back in.
KEYWORDS = dict.fromkeys(
    ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"), True
) | dict.fromkeys(("START", "YES", "UNSTOP"), False)
MAGIC_FROM = {"+15005550001": 21212, "+15005550007": 21606, "+15005550008": 21611}
ALWAYS_ACCEPTED_FROM = "+15005550006"
# Sandbox numbers whose messages fail on delivery: +1500555 followed by the error code.
DELIVERY_FAILURES = {
    "+150055530003": ("undelivered", "Unreachable destination handset"),
    "+150055530005": ("undelivered", "Unknown destination handset"),
    "+150055530006": ("undelivered", "Landline or unreachable carrier"),
    "+150055530007": ("failed", "Message filtered"),
    "+150055530008": ("failed", "Unknown error"),
    "+150055530034": ("undelivered", "Message from an unregistered number"),
}
QUEUE_OVERFLOW = 30001
# The moment a message of so many segments leaves its sender's queue (None: the queue is full).
Pace = Callable[[str, int, float], float | None]
MESSAGES = {
    21211: "Invalid 'To' Phone Number",
    21212: "Invalid 'From' Phone Number",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21602: "Message body is required.",
    21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
    21604: "A 'To' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account.",
    21610: "Attempt to send to unsubscribed recipient",
    21611: "This 'From' number has exceeded the maximum number of queued messages",
    21612: "The 'To' phone number is not currently reachable using the 'From' phone number via SMS.",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21620: "Invalid media URL(s).",
    21623: "Number of media files exceeds allowed limit.",
    21609: "Invalid StatusCallback URL.",
    21701: "The Messaging Service Sid is invalid.",
    35111: "Invalid ScheduleType.",
    35114: "SendAt must be between 15 minutes and 35 days in the future.",
    35118: "MessagingServiceSid is required to schedule a message.",
    21910: "Invalid From and To pair. From and To should be of the same channel.",
}

GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")
SMS_PRICE, MMS_PRICE = "-0.00790", "-0.02000"


class MessageError(Exception):
    """A Twilio error answer: HTTP 400 and a code from MESSAGES."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        super().__init__(f"{MESSAGES[code]}{': ' + detail if detail else ''}")


def encoding(body: str) -> str:
    """The alphabet an SMS of ``body`` travels in: GSM-7, or UCS-2 for anything else."""
    return "GSM-7" if all(c in GSM7 or c in GSM7_EXTENDED for c in body) else "UCS-2"


def segments(body: str) -> int:
    """SMS segments: GSM-7 (160, or 153 per part) or UCS-2 (70, or 67 per part)."""
    if not body:
        return 1
    if encoding(body) == "GSM-7":
        length = len(body) + sum(c in GSM7_EXTENDED for c in body)
        single, part = 160, 153
    else:
        length = len(body.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if length <= single else -(-length // part)


def create_message(
    state: SandboxState, account_sid: str, form: dict[str, list[str]], pace: Pace | None = None
) -> dict[str, Any]:
    """Validate a ``POST Messages.json`` form as Twilio does, then store the message
    (nothing is stored when any check fails). With ``pace``, it waits its turn in its
    sender's queue: a full queue refuses it (21611), or, for a Messaging Service, fails it
    after creation (30001)."""
    first = {k: v[0] for k, v in form.items() if v}
    to, sender = first.get("To"), first.get("From")
    service, body = first.get("MessagingServiceSid"), first.get("Body")
    media, content_sid = form.get("MediaUrl", []), first.get("ContentSid")
    if not to:
        raise MessageError(21604)
    if not sender and not service:
        raise MessageError(21603)
    if not body and not media and not content_sid:
        raise MessageError(21602)
    if body and len(body) > 1600:
        raise MessageError(21617)
    if len(media) > 10:
        raise MessageError(21623)
    if not all(map(is_http_url, media)):
        raise MessageError(21620)
    callback = first.get("StatusCallback")
    if callback and not is_http_url(callback):
        raise MessageError(21609)
    _check_to(state, to)
    if sender:
        _check_from(state, account_sid, sender, to, bool(media))
    if service and service != state.services[account_sid]:
        raise MessageError(21701, service)
    _check_consent(state, account_sid, sender, service, to)
    send_at = _send_at(state, first, service)
    now = state.clock()
    leaves = (
        pace(service or sender or "", 1 if media else segments(body or ""), now)
        if pace and not send_at  # a scheduled message queues when it is due
        else now
    )
    if leaves is None and not service:
        raise MessageError(21611)
    message = {
        "sid": new_sid("MM" if media else "SM"),
        "account_sid": account_sid,
        "to": to,
        "from": sender,
        "body": body or "",
        "media": media,
        "messaging_service_sid": service,
        "status_callback": callback,
        "created": now,
        "send_at": send_at,
        "leaves": leaves,  # None: its queue was full (30001)
        "canceled": False,
        "updated": now,
    }
    state.save_message(message)
    return message


NOT_IN_URLS = frozenset('"<>\\^`{|}')
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def is_http_url(url: str) -> bool:
    """Whether Twilio would take ``url`` as a media or callback URL: http(s), a host, a
    valid port, no spaces, control characters or other characters a URL cannot hold (RFC
    3986), and each % followed by two hex digits."""
    if any(c.isspace() or not c.isprintable() or c in NOT_IN_URLS for c in url):
        return False
    if BAD_ESCAPE.search(url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:  # e.g. http://[10.1.2.3]/, not an IPv6 address in brackets
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_to(state: SandboxState, to: str) -> None:
    if to in MAGIC_TO:
        raise MessageError(MAGIC_TO[to])
    if not E164.match(to.removeprefix("whatsapp:")):
        raise MessageError(21211, to)
    if to in state.unsubscribed:
        raise MessageError(21610)


def _check_from(state: SandboxState, account_sid: str, sender: str, to: str, media: bool) -> None:
    if sender in MAGIC_FROM:
        raise MessageError(MAGIC_FROM[sender])
    if sender.startswith("whatsapp:") != to.startswith("whatsapp:"):
        raise MessageError(21910)
    if sender == ALWAYS_ACCEPTED_FROM or ALPHANUMERIC_SENDER.match(sender):
        return
    if not E164.match(sender.removeprefix("whatsapp:")):
        raise MessageError(21212, sender)
    number = state.number(account_sid, sender)
    if number is None or not number.capabilities.get("mms" if media else "sms"):
        raise MessageError(21606)


def _check_consent(
    state: SandboxState, account_sid: str, sender: str | None, service: str | None, to: str
) -> None:
    """21610 when ``to`` texted STOP to the sender, or (sending through the service alone)
    to any of the service's numbers: the sandbox's service holds all the account's numbers."""
    numbers = [sender] if sender else [n.phone_number for n in state.numbers[account_sid]]
    if any((account_sid, number, to) in state.opted_out for number in numbers):
        raise MessageError(21610)


def _service_sender(state: SandboxState, account_sid: str, to: str) -> str:
    prefix = "whatsapp:" if to.startswith("whatsapp:") else ""
    return prefix + state.numbers[account_sid][0].phone_number


def _send_at(state: SandboxState, first: dict[str, str], service: str | None) -> float | None:
    if "SendAt" not in first and "ScheduleType" not in first:
        return None
    if first.get("ScheduleType") != "fixed" or "SendAt" not in first:
        raise MessageError(35111)
    if not service:
        raise MessageError(35118)
    try:
        when = datetime.fromisoformat(first["SendAt"]).timestamp()
    except ValueError:
        raise MessageError(35114) from None
    ahead = when - state.clock()
    if not timedelta(minutes=15).total_seconds() <= ahead <= timedelta(days=35).total_seconds():
        raise MessageError(35114)
    return when


def message_status(state: SandboxState, message: dict[str, Any]) -> tuple[str, float | None]:
    """The message's status now, and when it was sent (None until then)."""
    if message.get("direction") == "inbound":
        return "received", message["created"]
    if message["canceled"]:
        return "canceled", None
    start = message["send_at"] or message["created"]
    if state.clock() < start:
        return "scheduled", None
    start = max(start, message.get("leaves") or start)  # its turn in its sender's queue
    elapsed = state.clock() - start
    delay = state.status_delay
    first = "accepted" if message["messaging_service_sid"] else "queued"
    if elapsed < delay:
        return first, None
    failure = delivery_failure(message)
    final = failure[0] if failure else "delivered"
    if final == "failed":
        return "failed", start + delay
    return ("sent" if elapsed < 2 * delay else final), start + delay


def delivery_failure(message: dict[str, Any]) -> tuple[str, int, str] | None:
    """How the message fails after it was created (its status, error code and message):
    its queue overflowed, or its To is one of the numbers whose messages fail."""
    if "leaves" in message and message["leaves"] is None:
        return "failed", QUEUE_OVERFLOW, "Queue overflow"
    to = message["to"].removeprefix("whatsapp:")
    if to in DELIVERY_FAILURES:
        status, text = DELIVERY_FAILURES[to]
        return status, int(to[-5:]), text
    return None


def render(state: SandboxState, message: dict[str, Any]) -> dict[str, Any]:
    """The message as Twilio's JSON."""
    status, sent = message_status(state, message)
    body, media = message["body"], message["media"]
    uri = f"/2010-04-01/Accounts/{message['account_sid']}/Messages/{message['sid']}"
    error_code = error_message = None
    failure = delivery_failure(message)
    if status in ("failed", "undelivered") and failure:
        _, error_code, error_message = failure
    priced = sent is not None and status != "failed"
    sender = message["from"]
    if sender is None and sent is not None:  # a Messaging Service picks its sender on sending
        sender = _service_sender(state, message["account_sid"], message["to"])
    return {
        "account_sid": message["account_sid"],
        "api_version": "2010-04-01",
        "body": body,
        "date_created": twilio_date(message["created"]),
        "date_sent": twilio_date(sent) if sent else None,
        "date_updated": twilio_date(max(message["updated"], sent or 0)),
        "direction": message.get("direction", "outbound-api"),
        "error_code": error_code,
        "error_message": error_message,
        "from": sender,
        "messaging_service_sid": message["messaging_service_sid"],
        "num_media": str(len(media)),
        "num_segments": str(segments(body)),
        "price": (MMS_PRICE if media else SMS_PRICE) if priced else None,
        "price_unit": "USD",
        "sid": message["sid"],
        "status": status,
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": message["to"],
        "uri": f"{uri}.json",
    }


def render_media(message: dict[str, Any]) -> list[dict[str, Any]]:
    uri = f"/2010-04-01/Accounts/{message['account_sid']}/Messages/{message['sid']}/Media"
    return [
        {
            "account_sid": message["account_sid"],
            "content_type": content_type(url),
            "date_created": twilio_date(message["created"]),
            "date_updated": twilio_date(message["created"]),
            "parent_sid": message["sid"],
            "sid": "ME" + message["sid"][2:-2] + f"{i:02x}",
            "uri": f"{uri}/ME{message['sid'][2:-2]}{i:02x}.json",
        }
        for i, url in enumerate(message["media"])
    ]


def content_type(url: str) -> str:
    lower = url.lower().split("?")[0]
    for ending, kind in (
        (".png", "image/png"),
        (".gif", "image/gif"),
        (".jpg", "image/jpeg"),
        (".jpeg", "image/jpeg"),
    ):
        if lower.endswith(ending):
            return kind
    return "application/octet-stream"
