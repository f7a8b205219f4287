"""What the inbox page shows of an account: its messages as phone threads (one per
counterpart), its calls with their TwiML and recordings, its verifications with their codes, and the
webhook log; all narrowed by a search for a number or a text."""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, field
from typing import Any
from xml.dom import minidom
from xml.parsers.expat import ExpatError

from flo_twilio.sandbox import api_calls
from flo_twilio.sandbox.message_rules import (
    content_type,
    encoding,
    message_status,
    render,
)
from flo_twilio.sandbox.state import SandboxState
from flo_twilio.sandbox.webhook_log import WebhookLog, WebhookRecord

MAX_MESSAGES = 200  # the newest ones shown: a bulk send of thousands stays quick to show
ERROR_DOCS = "https://www.twilio.com/docs/errors/{code}"
FINAL = ("delivered", "undelivered", "failed", "canceled", "received", "read")


@dataclass
class Thread:
    """The messages exchanged with one counterpart, oldest first."""

    counterpart: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return "thread-" + re.sub(r"[^0-9A-Za-z]", "", self.counterpart)


@dataclass
class InboxView:
    threads: list[Thread]
    calls: list[dict[str, Any]]
    verifications: list[dict[str, Any]]
    webhooks: list[WebhookRecord]
    hidden: int  # messages older than the newest MAX_MESSAGES


def matches(query: str, *texts: str | None) -> bool:
    """Whether ``query`` is in any of ``texts`` (case aside); a number also matches
    written with spaces, dashes or brackets (``206 555-1212`` finds ``+12065551212``)."""
    wanted = query.strip().casefold()
    if not wanted:
        return True
    digits = re.sub(r"[\s().-]", "", wanted)
    return any(
        wanted in text.casefold() or (digits and digits in text.casefold())
        for text in texts
        if text
    )


def build(state: SandboxState, log: WebhookLog, account_sid: str, query: str = "") -> InboxView:
    """The account's inbox now, narrowed to what ``query`` matches."""
    sids = state.order[account_sid]
    newest = sids[-MAX_MESSAGES:]
    threads: dict[str, Thread] = {}
    for sid in newest:
        shown = message_view(state, state.messages[sid])
        if matches(query, shown["from"], shown["to"], shown["body"]):
            key = shown["counterpart"]
            threads.setdefault(key, Thread(key)).messages.append(shown)
    ordered = sorted(threads.values(), key=lambda t: t.messages[-1]["created"], reverse=True)
    calls = [
        call_view(state, call)
        for call in reversed(state.calls.values())
        if call["account_sid"] == account_sid and matches(query, call["to"], call["from"])
    ]
    verifications = [
        {
            "to": v.to,
            "channel": v.channel,
            "code": v.code,
            "status": v.status,
            "at": clock_time(v.created),
        }
        for v in reversed(state.verify.verifications.values())
        if v.account_sid == account_sid and matches(query, v.to)
    ]
    webhooks = [
        record
        for record in reversed(log.records)
        if ("AccountSid", account_sid) in record.params
        and matches(query, record.url, *(value for _, value in record.params))
    ]
    return InboxView(ordered, calls, verifications, webhooks, len(sids) - len(newest))


def changes(
    state: SandboxState, log: WebhookLog, account_sid: str, settled: set[str]
) -> tuple[Any, ...]:
    """A cheap mark of the account's inbox that differs whenever what ``build`` shows may:
    a message, call or verification added, removed or moved on, a webhook made or
    answered. What reached a final status is noted in ``settled`` and not looked at again."""
    moving = []
    for sid in state.order[account_sid][-MAX_MESSAGES:]:
        if sid not in settled:
            status, _ = message_status(state, state.messages[sid])
            moving.append(status)
            if status in FINAL:
                settled.add(sid)
    for sid, call in state.calls.items():
        if sid not in settled and call["account_sid"] == account_sid:
            status, _ = api_calls.call_status(state, call)
            moving.append(status)
            if status == api_calls.STATUSES[-1]:
                settled.add(sid)
    verifications = [(v.status, v.checks) for v in state.verify.verifications.values()]
    answered = sum(record.status is not None or bool(record.failure) for record in log)
    return (
        len(state.order[account_sid]),
        len(state.calls),
        len(state.recordings),
        len(settled),
        *moving,
        *verifications,
        log.count,
        len(log.records),
        answered,
    )


def message_view(state: SandboxState, message: dict[str, Any]) -> dict[str, Any]:
    """One message as its bubble shows it."""
    shown = render(state, message)
    inbound = shown["direction"] == "inbound"
    code = shown["error_code"]
    return {
        **shown,
        "inbound": inbound,
        "counterpart": shown["from"] if inbound else shown["to"],
        "ours": shown["to"] if inbound else shown["from"] or "(Messaging Service)",
        "created": message["created"],
        "at": clock_time(message["created"]),
        "encoding": encoding(shown["body"]),
        "final": shown["status"] in FINAL,
        "error_docs": ERROR_DOCS.format(code=code) if code else "",
        "media": [
            {"url": url, "image": content_type(url).startswith("image/")}
            for url in message["media"]
        ],
    }


def call_view(state: SandboxState, call: dict[str, Any]) -> dict[str, Any]:
    """One call as the page shows it: its TwiML and its recordings (a player each)."""
    shown = api_calls.render(state, call)
    return {
        **shown,
        "at": clock_time(call["created"]),
        "twiml": pretty_xml(call.get("twiml", "")),
        "url": call.get("url", ""),
        "recordings": [
            {
                "sid": recording["sid"],
                "duration": recording["duration"],
                "audio": shown["uri"].split("/Calls/")[0] + f"/Recordings/{recording['sid']}.wav",
                "transcription": recording["transcription"],
            }
            for recording in state.recordings.values()
            if recording["call_sid"] == call["sid"]
        ],
    }


def pretty_xml(text: str) -> str:
    """``text`` indented, if it is XML; as it is otherwise."""
    with contextlib.suppress(ExpatError, ValueError):
        pretty = minidom.parseString(text).toprettyxml(indent="  ")
        return "\n".join(line for line in pretty.splitlines()[1:] if line.strip())
    return text


def clock_time(moment: float) -> str:
    """``14:03:07``, local time: when something happened, as a phone shows it."""
    return time.strftime("%H:%M:%S", time.localtime(moment))
