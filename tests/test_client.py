"""TwilioClient unit tests against httpx.MockTransport: the fake server is a function."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import aiohttp
import httpx
import pytest

from flo_twilio.client import (
    Credentials,
    RetryPolicy,
    TwilioApiError,
    TwilioClient,
    TwilioTransportError,
    base_url,
    encode_form,
    parse_date,
)
from flo_twilio.client import core as client_core
from flo_twilio.client.retry import never_sent
from flo_twilio.client.transport import httpx_errors
from flo_twilio.errors import InvalidInputError, OutcomeUnknownError

pytestmark = pytest.mark.anyio

SID = "AC" + "a" * 32
TOKEN = "token-do-not-leak-1234567890abcdef"
KEY, KEY_SECRET = "SK" + "b" * 32, "key-secret-do-not-leak-0987654321"
NO_WAIT = RetryPolicy(max_attempts=4, base_delay=0, max_delay=0)


class Recorder:
    """A MockTransport handler that answers from a list and records each request."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def twilio_error(status: int, code: int, message: str = "nope") -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def make(handler, credentials=None, **kwargs) -> TwilioClient:
    return TwilioClient(
        credentials or Credentials.of(SID, auth_token=TOKEN),
        transport=httpx.MockTransport(handler),
        retry=kwargs.pop("retry", NO_WAIT),
        **kwargs,
    )


def basic(request: httpx.Request) -> tuple[str, str]:
    user, _, password = (
        base64.b64decode(request.headers["authorization"].split()[1]).decode().partition(":")
    )
    return user, password


async def test_auth_token_and_headers():
    recorder = Recorder(httpx.Response(200, json={"sid": SID, "auth_token": TOKEN}))
    async with make(recorder) as client:
        account = await client.fetch_account()
    request = recorder.requests[0]
    assert str(request.url) == f"https://api.twilio.com/2010-04-01/Accounts/{SID}.json"
    assert basic(request) == (SID, TOKEN)
    assert request.headers["user-agent"].startswith("flo-twilio/")
    assert request.headers["accept"] == "application/json"
    assert "auth_token" not in account  # never handed on


async def test_api_key_auth_keeps_the_account_in_the_path():
    recorder = Recorder(httpx.Response(201, json={"sid": "SM" + "c" * 32}))
    credentials = Credentials.of(SID, api_key=KEY, api_secret=KEY_SECRET)
    async with make(recorder, credentials) as client:
        await client.create_message({"To": "+1", "Body": "x"})
    assert basic(recorder.requests[0]) == (KEY, KEY_SECRET)
    assert f"/Accounts/{SID}/Messages.json" in str(recorder.requests[0].url)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "https://api.twilio.com"),
        ({"edge": "dublin", "region": "ie1"}, "https://api.dublin.ie1.twilio.com"),
        ({"edge": "sydney"}, "https://api.sydney.us1.twilio.com"),
        ({"region": "ie1"}, "https://api.ie1.twilio.com"),
        ({"api_base_url": "http://127.0.0.1:4010"}, "http://127.0.0.1:4010"),
        ({"api_base_url": "http://localhost:4010/"}, "http://localhost:4010"),
        ({"api_base_url": "https://proxy.example.com"}, "https://proxy.example.com"),
    ],
)
def test_hosts(kwargs, expected):
    assert base_url("api", **kwargs) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com",
        "ftp://127.0.0.1",
        "https://x.com/path",
        "https://u:p@x.com",
        "nonsense",
    ],
)
def test_unsafe_base_urls_are_refused(url):
    with pytest.raises(InvalidInputError):
        base_url("api", api_base_url=url)


# Base URLs that hold a user name ("alice7") and a password, however they break the URL (or
# a token in the query).
SECRET_URLS = [
    "https://alice7:hunter2pw@proxy.example",
    "http://alice7:hunter2pw@api.example.com",
    "https://alice7:hunter2pw@proxy.example/v1?x=1",
    "https://alice7:hunter2pw@proxy.example:99999",
    "https://alice7:hunter2pw@[::1",
    "https://alice7:hunter 2pw@proxy.example",
    "https://alice7:hunter2pw\uff20proxy.example",
    "https://alice7:hunt/er2@pw@proxy.example",
    "https://alice7:hunt#er2pw@proxy.example",
    "ftp://alice7:hunter2pw@proxy.example",
    "alice7:hunter2pw@proxy.example",
    "https://proxy.example/?token=hunter2pw",
]


@pytest.mark.parametrize("url", SECRET_URLS)
def test_a_refused_base_url_is_shown_without_its_user_name_or_password(url):
    """Wherever a base URL is checked (a client, flo accounts add, an account read from the
    accounts file or given by a host), the refusal names the field and the fix."""
    from flo_twilio.cards.twilio_connection import TWILIO

    with pytest.raises(InvalidInputError) as refused:
        base_url("api", api_base_url=url)
    problems = TWILIO.problems({"account_sid": SID, "auth_token": TOKEN, "api_base_url": url})
    assert [str(p) for p in problems] == [str(refused.value)]
    [problem] = problems
    assert problem.message.startswith("api_base_url '") and problem.hint
    for part in ("alice7", "hunt", "er2", "2pw"):
        assert part not in str(problem)


def test_user_info_is_refused_with_the_fix():
    with pytest.raises(InvalidInputError) as refused:
        base_url("api", api_base_url="https://alice7:hunter2pw@proxy.example")
    assert str(refused.value) == (
        "api_base_url 'https://***@proxy.example' holds a user name or password (remove them "
        "and the '@', e.g. https://proxy.example.com; the credentials sent are the account's own)"
    )


async def test_regional_requests_go_to_the_regional_host():
    recorder = Recorder(httpx.Response(200, json={"sid": SID}))
    async with make(recorder, edge="dublin", region="ie1") as client:
        await client.fetch_account()
    assert recorder.requests[0].url.host == "api.dublin.ie1.twilio.com"


def test_form_encoding():
    when = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    encoded = encode_form(
        {
            "To": "+12065551212",
            "MediaUrl": ["https://a/1.png", "https://a/2.png"],
            "ShortenUrls": True,
            "SendAsMms": False,
            "SendAt": when,
            "Skip": None,
            "ContentVariables": {"1": "Ada"},
        }
    )
    assert parse_qsl(encoded.decode()) == [
        ("To", "+12065551212"),
        ("MediaUrl", "https://a/1.png"),
        ("MediaUrl", "https://a/2.png"),
        ("ShortenUrls", "true"),
        ("SendAsMms", "false"),
        ("SendAt", "2026-11-27T10:00:00Z"),
        ("ContentVariables", '{"1":"Ada"}'),
    ]


def test_rfc2822_dates_parse_timezone_aware():
    parsed = parse_date("Thu, 30 Jul 2015 20:12:31 +0000")
    assert parsed == datetime(2015, 7, 30, 20, 12, 31, tzinfo=UTC) and parsed.tzinfo is not None
    assert parse_date(None) is None


async def test_api_error_text_and_fields():
    recorder = Recorder(twilio_error(400, 21211, "Invalid 'To' Phone Number: +1555"))
    async with make(recorder) as client:
        with pytest.raises(TwilioApiError) as info:
            await client.create_message({"To": "+1555"})
    assert str(info.value) == (
        "Twilio error 21211 (HTTP 400): Invalid 'To' Phone Number: +1555 - https://www.twilio.com/docs/errors/21211"
    )
    assert (info.value.status, info.value.code, info.value.method) == (400, 21211, "POST")
    assert info.value.path.endswith("/Messages.json")


async def test_429_is_retried_with_retry_after_then_succeeds(monkeypatch):
    waits = []

    async def fake_sleep(seconds):
        waits.append(seconds)

    monkeypatch.setattr(client_core.asyncio, "sleep", fake_sleep)
    limited = twilio_error(429, 20429, "Too Many Requests")
    limited.headers["Retry-After"] = "2"
    recorder = Recorder(limited, twilio_error(429, 20429), httpx.Response(201, json={"sid": "SM1"}))
    async with make(
        recorder, retry=RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=8)
    ) as client:
        assert (await client.create_message({"To": "+1"}))["sid"] == "SM1"
    assert len(recorder.requests) == 3
    assert waits[0] == 2.0 and 0 <= waits[1] <= 1.0  # Retry-After, then jittered backoff


async def test_a_429_that_refuses_for_minutes_is_not_retried():
    recorder = Recorder(twilio_error(429, 60202, "Max check attempts reached"))
    async with make(recorder) as client:
        with pytest.raises(TwilioApiError, match="60202"):
            await client.create_message({"To": "+1"})
    assert len(recorder.requests) == 1


async def test_429_retries_are_capped():
    recorder = Recorder(twilio_error(429, 20429))
    async with make(recorder) as client:
        with pytest.raises(TwilioApiError, match="20429"):
            await client.create_message({"To": "+1"})
    assert len(recorder.requests) == NO_WAIT.max_attempts


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 1), (2, 2), (3, 4), (4, 5), (10, 5)])
def test_backoff_is_full_jitter_under_a_cap_that_doubles(attempt, ceiling):
    """Spread over all of [0, min(max_delay, base * 2^(attempt-1))]: never always 0, never
    always the cap. (400 draws: a correct policy fails this with odds below 1e-15.)"""
    policy = RetryPolicy(base_delay=1, max_delay=5)
    waits = [policy.delay(attempt) for _ in range(400)]
    assert all(0 <= wait <= ceiling for wait in waits)
    assert max(waits) > 0.9 * ceiling and min(waits) < 0.1 * ceiling
    assert 0.4 * ceiling < sum(waits) / len(waits) < 0.6 * ceiling


def test_retry_after_is_honoured_within_the_cap():
    policy = RetryPolicy(base_delay=1, max_delay=8)
    assert policy.delay(1, "2") == 2.0 and policy.delay(5, "0.5") == 0.5
    assert policy.delay(1, "120") == 8.0 and policy.delay(1, "-3") == 0.0
    assert 0 <= policy.delay(1, "soon") <= 1  # not seconds: the backoff instead


@dataclass(frozen=True)
class Scripted(RetryPolicy):
    """Waits 0.01 s times the attempt (plus 0.5 with a Retry-After), and records each ask."""

    asked: list = field(default_factory=list)

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        self.asked.append((attempt, retry_after))
        return 0.01 * attempt + (0.5 if retry_after else 0)


@pytest.mark.parametrize(
    ("method", "answers", "asked"),
    [
        ("POST", ["429:2", 429, 201], [(1, "2"), (2, None)]),
        (
            "POST",
            [httpx.ConnectError("refused"), httpx.ConnectError("refused"), 201],
            [(1, None), (2, None)],
        ),
        ("GET", [500, httpx.ReadTimeout("slow"), 200], [(1, None), (2, None)]),
    ],
    ids=["429-retry-after", "never-connected", "get-5xx-and-timeout"],
)
async def test_the_client_sleeps_what_the_policy_says_before_every_retry(
    monkeypatch, method, answers, asked
):
    waits = []

    async def fake_sleep(seconds):
        waits.append(seconds)

    monkeypatch.setattr(client_core.asyncio, "sleep", fake_sleep)
    responses = []
    for answer in answers:
        if isinstance(answer, Exception):
            responses.append(answer)
            continue
        status, _, retry_after = str(answer).partition(":")
        headers = {"Retry-After": retry_after} if retry_after else {}
        responses.append(httpx.Response(int(status), json={"sid": "SM1"}, headers=headers))
    policy = Scripted(max_attempts=5)
    async with make(Recorder(*responses), retry=policy) as client:
        assert (await client.request_json(method, "/x"))["sid"] == "SM1"
    assert policy.asked == asked
    assert waits == [0.01 * attempt + (0.5 if after else 0) for attempt, after in asked]


@pytest.mark.parametrize(
    "answer", [httpx.Response(500), httpx.Response(503), httpx.ReadTimeout("slow")]
)
async def test_an_ambiguous_post_is_never_resent(answer):
    recorder = Recorder(answer)
    async with make(recorder) as client:
        with pytest.raises(OutcomeUnknownError, match="may have been processed"):
            await client.create_message({"To": "+1"})
    assert len(recorder.requests) == 1


async def test_a_post_that_never_connected_is_retried():
    recorder = Recorder(httpx.ConnectError("refused"), httpx.Response(201, json={"sid": "SM1"}))
    async with make(recorder) as client:
        assert (await client.create_message({"To": "+1"}))["sid"] == "SM1"
    assert len(recorder.requests) == 2


async def test_a_post_that_never_connected_gives_up_clearly():
    recorder = Recorder(httpx.ConnectError("refused"))
    async with make(recorder) as client:
        with pytest.raises(TwilioTransportError, match="no answer after 4 tries"):
            await client.create_message({"To": "+1"})


@pytest.mark.parametrize("answer", [httpx.Response(500), httpx.ReadTimeout("slow")])
async def test_get_is_retried_on_5xx_and_timeouts(answer):
    recorder = Recorder(answer, httpx.Response(200, json={"ok": 1}))
    async with make(recorder) as client:
        assert await client.request_json("GET", "/x") == {"ok": 1}
    assert len(recorder.requests) == 2


def test_aiohttp_disconnects_are_not_mistaken_for_refused_connections():
    def wrapped(cause: Exception) -> httpx.TransportError:
        # what the transport maps both to
        with pytest.raises(httpx.ConnectTimeout) as mapped, httpx_errors():
            raise cause
        return mapped.value

    assert not never_sent(wrapped(aiohttp.ServerDisconnectedError()))
    refused = aiohttp.ClientConnectorError(None, OSError(111, "refused"))  # type: ignore[arg-type]
    assert never_sent(wrapped(refused))
    assert never_sent(httpx.ConnectError("refused"))
    assert not never_sent(httpx.ReadError("reset"))


async def test_paging_follows_next_page_uri_to_the_end():
    pages = {
        None: {
            "messages": [{"sid": "1"}, {"sid": "2"}],
            "next_page_uri": "/2010-04-01/p2?PageToken=PA2",
        },
        "PA2": {"messages": [{"sid": "3"}], "next_page_uri": "/2010-04-01/p3?PageToken=PA3"},
        "PA3": {"messages": [], "next_page_uri": None},
    }

    def handler(request):
        return httpx.Response(200, json=pages[request.url.params.get("PageToken")])

    async with make(handler) as client:
        sids = [m["sid"] async for m in client.messages(page_size=2)]
    assert sids == ["1", "2", "3"]


async def test_in_flight_requests_are_capped():
    in_flight = peak = 0

    async def handler(request):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        return httpx.Response(200, json={})

    async with make(handler, max_in_flight=3) as client:
        await asyncio.gather(*(client.request("GET", "/x") for _ in range(20)))
    assert peak == 3


async def test_segments_per_second_space_the_starts_of_a_senders_messages():
    started: list[float] = []

    async def handler(request):
        started.append(time.monotonic())
        return httpx.Response(201, json={"sid": "SM1"})

    message = {"To": "+12065550100", "From": "+15005550006", "Body": "hi"}
    async with make(handler, max_per_second=40) as client:
        await asyncio.gather(*(client.create_message(message) for _ in range(8)))
        await asyncio.gather(*(client.request("GET", "/x") for _ in range(8)))  # not paced
    assert len(started) == 16 and started[7] - started[0] >= 0.9 * 7 / 40  # 8 in turn
    assert started[-1] - started[8] < 7 / 40


async def test_redirects_are_not_followed():
    recorder = Recorder(httpx.Response(302, headers={"Location": "https://evil.example/steal"}))
    async with make(recorder) as client:
        response = await client.request("GET", "/x", raise_for_status=False)
    assert response.status_code == 302 and len(recorder.requests) == 1


async def test_timeouts_are_on_by_default():
    recorder = Recorder(httpx.Response(200))
    async with make(recorder) as client:
        await client.request("GET", "/x")
    timeout = recorder.requests[0].extensions["timeout"]
    assert timeout["connect"] == 10.0 and timeout["read"] == 30.0


async def test_secrets_never_reach_logs_reprs_or_errors(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "flo_twilio"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    recorder = Recorder(twilio_error(401, 20003, "Authenticate"))
    key_client = make(recorder, Credentials.of(SID, api_key=KEY, api_secret=KEY_SECRET))
    errors = []
    for client in (make(recorder), key_client):
        async with client:
            logging.getLogger("flo_twilio.test").debug(
                "token is %s, header %s",
                TOKEN,
                base64.b64encode(f"{SID}:{TOKEN}".encode()).decode(),
            )
            with pytest.raises(TwilioApiError) as info:
                await client.fetch_account()
            errors.append(info.value)
            try:
                raise RuntimeError(f"boom {KEY_SECRET}")
            except RuntimeError:
                logging.getLogger("httpx").exception("failed")
            texts = [repr(client), repr(client.credentials), str(info.value), repr(info.value)]
    texts += [record.getMessage() for record in caplog.records]
    texts += [caplog.text]
    assert any("token is ***" in t for t in texts)  # the redaction really ran
    for text in texts:
        for secret in (TOKEN, KEY_SECRET, base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()):
            assert secret not in text


def test_redaction_masks_real_secrets_but_not_short_strings():
    from flo_twilio.redaction import redact, register_secret

    register_secret("tiny")
    register_secret("a-long-enough-secret-value")
    assert redact("tiny a-long-enough-secret-value") == "tiny ***"


@pytest.mark.parametrize("method", ["DELETE", "POST", "PUT", "PATCH"])
@pytest.mark.parametrize("answer", [httpx.Response(500), httpx.ReadError("reset")])
async def test_only_reads_are_asked_again_after_a_lost_answer(method, answer):
    """A DELETE whose answer was lost may have deleted: asked again it would find nothing
    (404) and look failed. Its outcome is unknown, for the caller to look up."""
    recorder = Recorder(answer, twilio_error(404, 20404))
    async with make(recorder) as client:
        with pytest.raises(OutcomeUnknownError, match="may have been processed"):
            await client.request(method, "/x")
    assert len(recorder.requests) == 1


async def test_a_delete_that_never_connected_is_retried_and_not_sent_when_it_gives_up():
    recorder = Recorder(httpx.ConnectError("refused"), httpx.Response(204))
    async with make(recorder) as client:
        assert (await client.request("DELETE", "/x")).status_code == 204
    recorder = Recorder(httpx.ConnectError("refused"))
    async with make(recorder) as client:
        with pytest.raises(TwilioTransportError, match="no answer after 4 tries"):
            await client.request("DELETE", "/x")
