"""Recordings: list them (``Recordings.json``, and a call's, ``Calls/{sid}/Recordings.json``),
fetch and delete one (``Recordings/{sid}.json``), and its audio (``Recordings/{sid}``,
``.wav`` or ``.mp3``; like Twilio's by default, the audio needs no credentials: its URL is
the secret). ``call_script`` makes them when a call's TwiML says ``<Record>``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flo_twilio.sandbox import audio
from flo_twilio.sandbox.state import SandboxAccount, SandboxState
from flo_twilio.sandbox.wire import ACCOUNT, V, error, not_found, paged, twilio_date

if TYPE_CHECKING:
    from flo_twilio.sandbox.guards import Sandbox

PRICE_PER_MINUTE = 0.0025
MEDIA = {"wav": ("audio/x-wav", audio.wav), "mp3": ("audio/mpeg", audio.mp3)}


def routes(sandbox: Sandbox) -> list[Route]:
    g, one = sandbox.guarded, f"{ACCOUNT}/Recordings/{{sid}}"
    return [
        Route(f"{ACCOUNT}/Recordings.json", g(list_recordings), methods=["GET"]),
        Route(f"{ACCOUNT}/Calls/{{call_sid}}/Recordings.json", g(list_recordings), methods=["GET"]),
        Route(f"{one}.json", g(fetch), methods=["GET"]),
        Route(f"{one}.json", g(delete), methods=["DELETE"]),
        *(Route(f"{one}.{kind}", _media(sandbox, kind), methods=["GET", "HEAD"]) for kind in MEDIA),
        Route(one, _media(sandbox, "wav"), methods=["GET", "HEAD"]),
    ]


def media_url(base_url: str, recording: dict[str, Any]) -> str:
    """Where the recording's audio is (Twilio's ``media_url``: WAV; add .mp3 for MP3)."""
    return f"{base_url.rstrip('/')}{V}/Accounts/{recording['account_sid']}/Recordings/{recording['sid']}"


def render(state: SandboxState, recording: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The recording as Twilio's JSON."""
    uri = f"{V}/Accounts/{recording['account_sid']}/Recordings/{recording['sid']}"
    minutes = max(1, -(-recording["duration"] // 60))
    return {
        "account_sid": recording["account_sid"],
        "api_version": "2010-04-01",
        "call_sid": recording["call_sid"],
        "conference_sid": None,
        "channels": 1,
        "date_created": twilio_date(recording["created"]),
        "date_updated": twilio_date(recording["created"] + recording["duration"]),
        "start_time": twilio_date(recording["created"]),
        "duration": str(recording["duration"]),
        "sid": recording["sid"],
        "price": f"-{PRICE_PER_MINUTE * minutes:.5f}",
        "price_unit": "USD",
        "status": "completed",
        "source": "RecordVerb",
        "error_code": None,
        "uri": f"{uri}.json",
        "encryption_details": None,
        "subresource_uris": {
            "add_on_results": f"{uri}/AddOnResults.json",
            "transcriptions": f"{uri}/Transcriptions.json",
        },
        "media_url": media_url(base_url, recording),
    }


def render_for_call(
    state: SandboxState, recording: dict[str, Any], base_url: str
) -> dict[str, Any]:
    """The recording as Twilio's JSON under its call (``Calls/{sid}/Recordings``): its
    price a number, a ``track``, no media URL."""
    shown = render(state, recording, base_url)
    del shown["media_url"], shown["subresource_uris"]
    call_uri = f"{V}/Accounts/{recording['account_sid']}/Calls/{recording['call_sid']}"
    return {
        **shown,
        "price": float(shown["price"]),
        "track": "both",
        "uri": f"{call_uri}/Recordings/{recording['sid']}.json",
    }


def _day(value: str) -> str | None:
    """The YYYY-MM-DD of a DateCreated filter (a date or an ISO date-time), None if neither."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d")
    except ValueError:
        return None


async def list_recordings(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    state, query = sandbox.state, request.query_params
    call_sid = request.path_params.get("call_sid") or query.get("CallSid")
    bounds = {}
    for name, compare in (
        ("DateCreated", str.__eq__),
        ("DateCreated<", str.__le__),
        ("DateCreated>", str.__ge__),
    ):
        if name in query:
            day = _day(query[name])
            if day is None:
                return error(400, 20001, f"{name} must be a date, YYYY-MM-DD")
            bounds[day, name] = compare
    records = [
        r
        for r in reversed(state.recordings.values())
        if r["account_sid"] == account.sid
        and (not call_sid or r["call_sid"] == call_sid)
        and all(
            compare(datetime.fromtimestamp(r["created"], UTC).strftime("%Y-%m-%d"), day)
            for (day, _), compare in bounds.items()
        )
    ]
    base = str(request.base_url)
    show = render_for_call if "call_sid" in request.path_params else render
    return paged(request, records, "recordings", lambda r: show(state, r, base))


def owned(sandbox: Sandbox, request: Request, account_sid: str) -> dict[str, Any] | None:
    recording = sandbox.state.recordings.get(request.path_params["sid"])
    return recording if recording and recording["account_sid"] == account_sid else None


async def fetch(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    recording = owned(sandbox, request, account.sid)
    if not recording:
        return not_found(request)
    return JSONResponse(render(sandbox.state, recording, str(request.base_url)))


async def delete(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    recording = owned(sandbox, request, account.sid)
    if not recording:
        return not_found(request)
    sandbox.state.delete_recording(recording["sid"])
    return Response(status_code=204)


def _media(sandbox: Sandbox, kind: str) -> Any:
    content_type, make = MEDIA[kind]

    async def endpoint(request: Request) -> Response:
        recording = owned(sandbox, request, request.path_params["account_sid"])
        if not recording:
            return not_found(request)
        return Response(make(recording["duration"]), media_type=content_type)

    return endpoint
