"""The sandbox's inbox page (``/``), without a browser: what it shows, that every value in
it stays text, search, its boxes, and whom it answers. tests/test_inbox_browser.py drives
it in Chromium."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from html.parser import HTMLParser

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.callbacks import signature
from flo_twilio.sandbox.inbox_view import changes, matches
from flo_twilio.sandbox.limits import SHUTDOWN_GRACE
from flo_twilio.sandbox.message_rules import encoding
from flo_twilio.sandbox.server import banner
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.sandbox_process import free_port, wait_until_serving

pytestmark = pytest.mark.anyio

BASE = "http://127.0.0.1:4010"
SAME_ORIGIN = {"Origin": BASE}
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"
NUMBERS = f"/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json"
OURS = "+15017122661"
SCRIPT = "<script>alert(1)</script>"
ONERROR_URL = 'http://127.0.0.1:9/cat.png?" onerror="alert(2)'  # refused at once


def page_client(app, base: str = BASE) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=base)


class Elements(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


async def send(c: httpx.AsyncClient, to: str, body: str, **more: str) -> dict:
    answer = await c.post(
        MESSAGES, data={"From": OURS, "To": to, "Body": body, **more}, auth=(SID, TOKEN)
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_a_script_body_and_an_onerror_media_url_stay_text():
    state = SandboxState()
    app = create_app(state)
    async with page_client(app) as c:
        sent = await send(c, "+12065550100", SCRIPT)
        # The API refuses such a URL; one kept in an older --db file is still shown safely.
        state.messages[sent["sid"]]["media"] = [ONERROR_URL]
        page = await c.get("/")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    elements = Elements(page.text).tags
    scripts = [attrs for tag, attrs in elements if tag == "script"]
    assert scripts == [{"src": "/_inbox/static/inbox.js", "defer": None}]
    assert not [attrs for _, attrs in elements if any(name.startswith("on") for name in attrs)]
    images = [attrs["src"] for tag, attrs in elements if tag == "img"]
    assert images == [ONERROR_URL]
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_threads_show_each_counterpart_with_segments_encoding_price_and_errors():
    state = SandboxState(status_delay=0)
    app = create_app(state)
    async with page_client(app) as c:
        await send(c, "+12065550100", "Hello Ada")
        await send(c, "+12065550100", "Ünïcødé ☃ " * 10)
        await send(c, "+150055530003", "to a handset that is unreachable")
        page = (await c.get("/")).text
    threads = [a["id"] for t, a in Elements(page).tags if t == "article"]
    assert threads == ["thread-150055530003", "thread-12065550100"]  # newest first
    assert "1 segment, GSM-7" in page and "2 segments, UCS-2" in page
    assert "-0.00790 USD" in page
    assert "error 30003: Unreachable destination handset" in page
    assert 'href="https://www.twilio.com/docs/errors/30003"' in page
    assert page.count('data-status="delivered"') == 2 and 'data-status="undelivered"' in page


async def test_search_narrows_by_number_or_text():
    app = create_app(SandboxState())
    async with page_client(app) as c:
        await send(c, "+12065550100", "Hello Ada")
        await send(c, "+12065550101", "Hello Grace")
        by_number = (await c.get("/", params={"q": "206 555-0101"})).text
        by_text = (await c.get("/", params={"q": "ada"})).text
        nothing = (await c.get("/", params={"q": "Katherine"})).text
    assert "Hello Grace" in by_number and "Hello Ada" not in by_number
    assert "Hello Ada" in by_text and "Hello Grace" not in by_text
    assert "No messages match" in nothing
    assert matches("", "anything") and not matches("x", None)
    assert (encoding("{ok}"), encoding("☃")) == ("GSM-7", "UCS-2")


async def test_calls_show_their_twiml_pretty_printed_and_verifications_their_codes():
    app = create_app(SandboxState())
    async with page_client(app) as c:
        twiml = "<Response><Say>Hi &amp; <b>bye</b></Say></Response>"
        form = {"From": OURS, "To": "+12065550100", "Twiml": twiml}
        calls = f"/2010-04-01/Accounts/{SID}/Calls.json"
        assert (await c.post(calls, data=form, auth=(SID, TOKEN))).status_code == 201
        verify = f"/verify/v2/Services/VA{SID[2:]}/Verifications"
        form = {"To": "+12065550100", "Channel": "sms"}
        assert (await c.post(verify, data=form, auth=(SID, TOKEN))).status_code == 201
        page = (await c.get("/")).text
    code = app.state.sandbox.state.verify.code_for(SID, "+12065550100").code
    assert f'<code class="code">{code}</code>' in page
    assert "&lt;Response&gt;\n  &lt;Say&gt;\n    Hi &amp;amp; \n    &lt;b&gt;bye" in page


def receiver(status: int):
    """A webhook receiver answering ``status``; what it got."""
    got: list[httpx.Headers] = []

    async def hook(request: Request) -> Response:
        got.append(httpx.Headers(request.headers))
        return PlainTextResponse("forbidden <b>here</b>", status_code=status)

    return Starlette(routes=[Route("/sms", hook, methods=["POST"])]), got


async def test_the_text_box_fires_the_sms_url_and_the_log_shows_the_signature_and_answer():
    hooks, got = receiver(403)
    app = create_app(SandboxState(), callback_transport=httpx.ASGITransport(hooks))
    async with page_client(app) as c:
        numbers = (await c.get(NUMBERS, auth=(SID, TOKEN))).json()["incoming_phone_numbers"]
        [number] = [n for n in numbers if n["phone_number"] == OURS]
        path = f"/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers/{number['sid']}.json"
        url = "http://127.0.0.1:9/sms"
        await c.post(path, data={"SmsUrl": url}, auth=(SID, TOKEN))
        form = {"from": "+12065551212", "to": OURS, "body": "hi <there>"}
        answer = await c.post("/_inbox/text", data=form, headers=SAME_ORIGIN)
        assert (answer.status_code, answer.headers["location"]) == (303, "/#thread-12065551212")
        page = (await c.get("/")).text
    [headers] = got
    assert headers["x-twilio-signature"] in page
    record = app.state.sandbox.callbacks.log.records[0]
    assert signature(TOKEN, url, record.params) == headers["x-twilio-signature"]
    assert (record.kind, record.status, record.method, record.url) == ("SmsUrl", 403, "POST", url)
    assert '<span class="answer bad">403</span>' in page
    assert "forbidden &lt;b&gt;here&lt;/b&gt;" in page
    assert "hi &lt;there&gt;" in page


async def test_a_bad_text_or_fault_is_shown_with_what_to_fix_and_a_good_fault_is_set():
    app = create_app(SandboxState(), faults=Faults())
    async with page_client(app) as c:
        bad = {"from": "206", "to": OURS, "body": "hi"}
        answer = await c.post("/_inbox/text", data=bad, headers=SAME_ORIGIN)
        assert answer.status_code == 400
        assert "from must be a phone number in E.164 form" in answer.text
        assert 'value="206"' in answer.text  # what was typed stays in the box
        answer = await c.post("/_inbox/faults", data={"rate_500": "2"}, headers=SAME_ORIGIN)
        assert answer.status_code == 400 and "rate_500 must be a share from 0 to 1" in answer.text
        assert '<details class="box" open>' in answer.text and 'value="2"' in answer.text
        answer = await c.post("/_inbox/faults", data={"latency": "x"}, headers=SAME_ORIGIN)
        assert answer.status_code == 400 and "latency must be a number of seconds" in answer.text
        form = {"rate_500": "0.25", "latency": "0.5"}
        answer = await c.post("/_inbox/faults", data=form, headers=SAME_ORIGIN)
        assert answer.status_code == 303
    faults = app.state.sandbox.faults
    assert (faults.rate_500, faults.latency) == (0.25, 0.5)


async def test_clear_all_forgets_the_accounts_messages_calls_verifications_and_webhooks():
    state = SandboxState()
    app = create_app(state)
    async with page_client(app) as c:
        await send(c, "+12065550100", "Hello Ada")
        calls = f"/2010-04-01/Accounts/{SID}/Calls.json"
        form = {"From": OURS, "To": "+12065550100", "Twiml": "<Response/>"}
        await c.post(calls, data=form, auth=(SID, TOKEN))
        assert (await c.post("/_inbox/clear", headers=SAME_ORIGIN)).status_code == 303
        page = (await c.get("/")).text
    assert not state.messages and not state.calls and state.order[SID] == []
    assert "No messages yet" in page and "No calls." in page


async def test_only_this_machine_and_this_page_may_use_it():
    app = create_app(SandboxState())
    async with page_client(app, "http://rebound.example.com") as c:
        assert (await c.get("/")).status_code == 403  # DNS rebinding: not a loopback Host
    async with page_client(app) as c:
        for headers in ({}, {"Origin": "https://evil.example.com"}):
            form = {"from": "+12065551212", "to": OURS, "body": "hi"}
            answer = await c.post("/_inbox/text", data=form, headers=headers)
            assert answer.status_code == 403
            assert (await c.post("/_inbox/clear", headers=headers)).status_code == 403
    assert not app.state.sandbox.state.messages
    async with page_client(app, "http://localhost:4010") as c:
        assert (await c.get("/")).status_code == 200


async def test_an_account_with_its_own_token_asks_for_it():
    app = create_app(SandboxState(auth_token="a-secret-token"))
    async with page_client(app) as c:
        asked = await c.get("/")
        assert asked.status_code == 401 and asked.headers["www-authenticate"].startswith("Basic")
        assert (await c.get("/", auth=(SID, "wrong"))).status_code == 401
        assert (await c.get("/", auth=(SID, "a-secret-token"))).status_code == 200


@pytest.mark.slow
def test_the_live_stream_sends_the_page_and_ends_when_flo_sandbox_stops():
    """The page's server-sent events over real HTTP; Ctrl-C ends the stream at once rather
    than waiting out the grace a stopping sandbox gives requests in progress."""
    port = free_port()
    command = [sys.executable, "-m", "flo_twilio.cli", "sandbox", "--port", str(port)]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as c:
            wait_until_serving(process, lambda: c.get("/").raise_for_status())
            form = {"From": OURS, "To": "+12065550100", "Body": "Hello Ada"}
            c.post(MESSAGES, data=form, auth=(SID, TOKEN)).raise_for_status()
            with c.stream("GET", "/_inbox/events") as events:
                assert events.headers["content-type"].startswith("text/event-stream")
                said = (line for line in events.iter_lines() if "Hello" in line)
                assert next(said) == 'data:         <p class="body">Hello Ada</p>'
                process.send_signal(signal.SIGINT)
                stopping = time.monotonic()
                assert process.wait(10) == 0
        assert time.monotonic() - stopping < SHUTDOWN_GRACE - 1
    finally:
        process.kill()
        process.wait()


def test_the_banner_says_where_the_inbox_is():
    assert "inbox:        http://127.0.0.1:4010/ (in a browser" in banner(
        SandboxState(), "127.0.0.1", 4010
    )


async def test_the_live_mark_moves_with_each_change_and_settled_messages_are_left_alone():
    now = [1000.0]
    state = SandboxState(status_delay=1.0, clock=lambda: now[0])
    hooks, _ = receiver(200)
    app = create_app(state, callback_transport=httpx.ASGITransport(hooks))
    log, settled = app.state.sandbox.callbacks.log, set[str]()

    def mark() -> tuple:
        return changes(state, log, SID, settled)

    async with page_client(app) as c:
        empty = mark()
        sent = await send(c, "+12065550100", "Hello Ada")
        queued = mark()
        now[0] += 1.0
        on_its_way = mark()
        now[0] += 1.0
        delivered = mark()
        assert len({empty, queued, on_its_way, delivered}) == 4
        assert settled == {sent["sid"]}
        assert mark() == mark()  # nothing moves any more
        form = {"from": "+12065551212", "to": OURS, "body": "hi"}
        await c.post("/_inbox/text", data=form, headers=SAME_ORIGIN)
        assert mark() != delivered


async def test_status_callbacks_are_logged_with_their_status_and_signature():
    hooks, got = receiver(204)
    state = SandboxState(status_delay=0.05)
    app = create_app(state, callback_transport=httpx.ASGITransport(hooks))
    log = app.state.sandbox.callbacks.log
    url = "http://127.0.0.1:9/sms"
    async with page_client(app) as c:
        await send(c, "+12065550100", "Hello Ada", StatusCallback=url)
        with anyio.fail_after(10):
            while len([r for r in log if r.status]) < 2:  # sent, delivered
                await anyio.sleep(0.01)
        page = (await c.get("/")).text
    sent, delivered = log.records
    assert (sent.kind, sent.status, dict(sent.params)["MessageStatus"]) == (
        "StatusCallback",
        204,
        "sent",
    )
    assert dict(delivered.params)["MessageStatus"] == "delivered"
    assert [h["x-twilio-signature"] for h in got] == [sent.signature, delivered.signature]
    assert page.count("StatusCallback POST") == 2


async def test_a_webhook_nobody_answers_is_logged_with_why():
    app = create_app(SandboxState())
    number = app.state.sandbox.state.number(SID, OURS)
    number.sms_url = f"http://127.0.0.1:{free_port()}/sms"  # nothing listens there
    async with page_client(app) as c:
        form = {"from": "+12065551212", "to": OURS, "body": "anyone?"}
        assert (await c.post("/_inbox/text", data=form, headers=SAME_ORIGIN)).status_code == 303
        page = (await c.get("/")).text
    [record] = app.state.sandbox.callbacks.log.records
    assert (record.status, record.failure) == (None, "ConnectError")
    assert '<span class="answer bad">ConnectError</span>' in page


async def test_each_account_sees_only_its_own_messages_and_webhooks():
    other, token = "AC" + "0" * 31 + "2", "other-token-000000000000000000002"
    state = SandboxState()
    state.add_account(other, token, ["+15557654321"])
    state.number(other, "+15557654321").sms_url = f"http://127.0.0.1:{free_port()}/sms"
    app = create_app(state)
    async with page_client(app) as c:
        text = {"from": "+12065551212", "to": "+15557654321", "body": "for the other one"}
        answer = await c.post("/_sandbox/inbound", json=text, auth=(other, token))
        assert answer.status_code == 201
        mine = (await c.get("/")).text
        theirs = (await c.get("/", auth=(other, token))).text
    assert "for the other one" not in mine and "No webhooks sent yet" in mine
    assert "for the other one" in theirs and "ConnectError" in theirs
