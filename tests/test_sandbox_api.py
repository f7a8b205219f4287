"""The sandbox answers like Twilio: in-process over ASGI, checked against Twilio's spec."""

from __future__ import annotations

import httpx
import pytest

from flo_twilio.client.signature import is_valid, signature
from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.message_rules import segments
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests import twilio_spec

pytestmark = pytest.mark.anyio

ACCOUNT = "/2010-04-01/Accounts/{AccountSid}"
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"
OK = {"To": "+12065551212", "From": "+15005550006", "Body": "Hello"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def http(app, auth=(SID, TOKEN)) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://sandbox", auth=auth
    )


def conforms(response: httpx.Response, path: str, method: str) -> dict:
    """Assert the body matches the spec's schema for this operation and status."""
    body = response.json()
    validator = twilio_spec.response_validator(path, method, response.status_code)
    problems = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not problems, problems
    return body


async def test_create_message_matches_the_spec(sandbox_app):
    async with http(sandbox_app) as c:
        response = await c.post(MESSAGES, data=OK)
    assert response.status_code == 201
    body = conforms(response, f"{ACCOUNT}/Messages.json", "POST")
    assert body["sid"].startswith("SM") and len(body["sid"]) == 34
    assert body["status"] == "queued" and body["num_segments"] == "1"
    assert body["date_created"].endswith("+0000")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"To": None}, 21604),
        ({"From": None}, 21603),
        ({"Body": None}, 21602),
        ({"Body": "x" * 1601}, 21617),
        ({"MediaUrl": ["https://e.com/a.png"] * 11}, 21623),
        ({"MediaUrl": ["ftp://e.com/a.png"]}, 21620),
        ({"To": "2065551212"}, 21211),
        ({"To": "+15005550001"}, 21211),
        ({"To": "+15005550002"}, 21612),
        ({"To": "+15005550003"}, 21408),
        ({"To": "+15005550004"}, 21610),
        ({"To": "+15005550009"}, 21614),
        ({"To": "+447700900123"}, None),
        ({"From": "+15005550001"}, 21212),
        ({"From": "+15005550007"}, 21606),
        ({"From": "+15005550008"}, 21611),
        ({"From": "+14155550100"}, 21606),  # not a number of this account
        ({"From": "+15017122661", "MediaUrl": ["https://e.com/a.png"]}, 21606),  # no MMS
        ({"From": "+15017122661"}, None),  # owned and SMS-capable
        ({"From": "Flo Shop"}, None),  # alphanumeric sender ID
        ({"From": "whatsapp:+15005550006"}, 21910),
        ({"From": None, "MessagingServiceSid": "MG" + "f" * 32}, 21701),
        ({"StatusCallback": "ftp://x"}, 21609),
        ({"SendAt": "2030-01-01T00:00:00Z", "ScheduleType": "fixed"}, 35118),
    ],
)
async def test_validation_uses_twilio_error_codes(sandbox_app, changes, code):
    form = {k: v for k, v in {**OK, **changes}.items() if v is not None}
    async with http(sandbox_app) as c:
        response = await c.post(MESSAGES, data=form)
    if code is None:
        assert response.status_code == 201, response.text
        return
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == code and error["status"] == 400
    assert error["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert error["message"]


async def test_unsubscribed_recipients_are_refused():
    app = create_app(SandboxState(unsubscribed=["+12065550000"]))
    async with http(app) as c:
        response = await c.post(MESSAGES, data={**OK, "To": "+12065550000"})
    assert response.json()["code"] == 21610


@pytest.mark.parametrize(
    "auth", [None, (SID, "wrong"), ("AC" + "f" * 32, TOKEN), ("SK" + "0" * 32, "nope")]
)
async def test_bad_credentials_get_20003(sandbox_app, auth):
    async with http(sandbox_app, auth=auth) as c:
        response = await c.get(f"/2010-04-01/Accounts/{SID}.json")
    assert response.status_code == 401 and response.json()["code"] == 20003


async def test_api_keys_authenticate_for_their_account(sandbox_app):
    async with http(sandbox_app) as c:
        created = await c.post(
            f"/2010-04-01/Accounts/{SID}/Keys.json", data={"FriendlyName": "flo"}
        )
    key = conforms(created, f"{ACCOUNT}/Keys.json", "POST")
    assert key["sid"].startswith("SK") and key["secret"]
    async with http(sandbox_app, auth=(key["sid"], key["secret"])) as c:
        account = await c.get(f"/2010-04-01/Accounts/{SID}.json")
        assert conforms(account, "/2010-04-01/Accounts/{Sid}.json", "GET")["sid"] == SID
        other = await c.get("/2010-04-01/Accounts/AC" + "f" * 32 + ".json")
        assert other.status_code == 401


async def test_unknown_paths_and_methods(sandbox_app):
    async with http(sandbox_app) as c:
        missing = await c.get(f"/2010-04-01/Accounts/{SID}/Messages/SM{'0' * 32}.json")
        wrong = await c.put(MESSAGES)
        nowhere = await c.get("/2010-04-01/Nowhere.json")
    assert (missing.status_code, missing.json()["code"]) == (404, 20404)
    assert (wrong.status_code, wrong.json()["code"]) == (405, 20004)
    assert nowhere.json()["code"] == 20404


async def test_accounts_and_numbers_match_the_spec(sandbox_app):
    async with http(sandbox_app) as c:
        accounts = await c.get("/2010-04-01/Accounts.json")
        numbers = await c.get(
            f"/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json", params={"PageSize": 2}
        )
        rest = await c.get(numbers.json()["next_page_uri"])
    assert conforms(accounts, "/2010-04-01/Accounts.json", "GET")["accounts"][0]["sid"] == SID
    page1 = conforms(numbers, f"{ACCOUNT}/IncomingPhoneNumbers.json", "GET")
    page2 = conforms(rest, f"{ACCOUNT}/IncomingPhoneNumbers.json", "GET")
    listed = [
        n["phone_number"] for n in page1["incoming_phone_numbers"] + page2["incoming_phone_numbers"]
    ]
    assert listed == ["+15005550006", "+15017122661", "+15558675310"]
    assert page2["next_page_uri"] is None


async def test_messages_list_filters_and_pages(sandbox_app):
    async with http(sandbox_app) as c:
        for i in range(5):
            await c.post(MESSAGES, data={**OK, "To": f"+1206555000{i % 2}", "Body": f"m{i}"})
        first = await c.get(MESSAGES, params={"To": "+12065550000", "PageSize": 2})
        body = conforms(first, f"{ACCOUNT}/Messages.json", "GET")
        second = (await c.get(body["next_page_uri"])).json()
    bodies = [m["body"] for m in body["messages"] + second["messages"]]
    assert bodies == ["m4", "m2", "m0"]  # newest first, only To=+12065550000
    assert second["next_page_uri"] is None


async def test_statuses_move_with_the_clock_and_failures_carry_codes():
    clock = Clock()
    app = create_app(SandboxState(status_delay=10, clock=clock))
    async with http(app) as c:
        ok = (await c.post(MESSAGES, data=OK)).json()
        bad = (await c.post(MESSAGES, data={**OK, "To": "+150055530003"})).json()
        assert ok["status"] == "queued" and ok["price"] is None

        async def fetch(sid):
            response = await c.get(f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json")
            return conforms(response, f"{ACCOUNT}/Messages/{{Sid}}.json", "GET")

        clock.now += 10
        sent = await fetch(ok["sid"])
        assert sent["status"] == "sent" and sent["date_sent"] and sent["price"] == "-0.00790"
        clock.now += 10
        assert (await fetch(ok["sid"]))["status"] == "delivered"
        failed = await fetch(bad["sid"])
        assert (failed["status"], failed["error_code"]) == ("undelivered", 30003)


async def test_scheduled_messages_wait_and_can_be_canceled():
    clock = Clock()
    state = SandboxState(clock=clock)
    app = create_app(state)
    service = state.services[SID]
    async with http(app) as c:
        form = {
            "To": "+12065551212",
            "MessagingServiceSid": service,
            "Body": "later",
            "ScheduleType": "fixed",
            "SendAt": "2027-01-16T08:00:00Z",
        }  # 1 day after the clock
        scheduled = (await c.post(MESSAGES, data=form)).json()
        assert scheduled["status"] == "scheduled" and scheduled["from"] is None
        too_soon = await c.post(MESSAGES, data={**form, "SendAt": "2027-01-15T08:05:00Z"})
        assert too_soon.json()["code"] == 35114
        uri = f"/2010-04-01/Accounts/{SID}/Messages/{scheduled['sid']}.json"
        canceled = await c.post(uri, data={"Status": "canceled"})
        assert (
            conforms(canceled, f"{ACCOUNT}/Messages/{{Sid}}.json", "POST")["status"] == "canceled"
        )


async def test_redact_delete_and_media(sandbox_app):
    async with http(sandbox_app) as c:
        form = {**OK, "MediaUrl": ["https://e.com/a.png", "https://e.com/b.jpg"]}
        message = (await c.post(MESSAGES, data=form)).json()
        assert message["sid"].startswith("MM") and message["num_media"] == "2"
        uri = f"/2010-04-01/Accounts/{SID}/Messages/{message['sid']}"
        media = await c.get(f"{uri}/Media.json")
        listed = conforms(media, f"{ACCOUNT}/Messages/{{MessageSid}}/Media.json", "GET")[
            "media_list"
        ]
        assert [m["content_type"] for m in listed] == ["image/png", "image/jpeg"]
        assert (await c.post(f"{uri}.json", data={"Body": ""})).json()["body"] == ""
        assert (await c.delete(f"{uri}.json")).status_code == 204
        assert (await c.get(f"{uri}.json")).status_code == 404


@pytest.mark.parametrize(
    ("body", "count"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("é" * 70, 1),
        ("ł" * 70, 1),
        ("ł" * 71, 2),
        ("😀" * 35, 1),
        ("😀" * 36, 2),
    ],
)
def test_segments_follow_gsm7_and_ucs2(body, count):
    assert segments(body) == count


async def test_concurrency_cap_and_injected_faults_are_not_processed(sandbox_state):
    faults = Faults(rate_429=1.0)
    app = create_app(sandbox_state, faults)
    async with http(app) as c:
        response = await c.post(MESSAGES, data=OK)
        assert (response.status_code, response.json()["code"]) == (429, 20429)
        assert not sandbox_state.messages
        changed = await c.post("/_sandbox/faults", json={"rate_429": 0, "rate_503": 1.0})
        assert changed.json()["rate_503"] == 1.0
        assert (await c.post(MESSAGES, data=OK)).status_code == 503
        assert not sandbox_state.messages
        await c.post("/_sandbox/faults", json={"rate_503": 0, "max_concurrency": 0})
        assert (await c.post(MESSAGES, data=OK)).json()["code"] == 20429
        bad = await c.post("/_sandbox/faults", json={"no_such_fault": 1})
        assert bad.status_code == 400
        wrong_type = await c.post("/_sandbox/faults", json={"rate_500": "often"})
        assert wrong_type.status_code == 400 and "rate_500" in wrong_type.json()["message"]


async def test_ambiguous_500_creates_the_message(sandbox_state):
    app = create_app(sandbox_state, Faults(ambiguous_rate=1.0))
    async with http(app) as c:
        response = await c.post(MESSAGES, data=OK)
    assert response.status_code == 500
    assert len(sandbox_state.messages) == 1


async def test_state_survives_a_restart_with_sqlite(tmp_path):
    db = tmp_path / "sandbox.db"
    async with http(create_app(SandboxState(db_path=db))) as c:
        sid = (await c.post(MESSAGES, data=OK)).json()["sid"]
        key = (await c.post(f"/2010-04-01/Accounts/{SID}/Keys.json")).json()
    restarted = create_app(SandboxState(db_path=db))
    async with http(restarted, auth=(key["sid"], key["secret"])) as c:
        listed = (await c.get(MESSAGES)).json()["messages"]
    assert [m["sid"] for m in listed] == [sid]


def test_signature_matches_twilios_test_vector():
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert signature("12345", url, params.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert is_valid("12345", url, params.items(), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not is_valid("12346", url, params.items(), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


async def test_status_callbacks_are_posted_and_signed():
    import anyio

    from tests.helpers import callback_receiver

    receiver, received = callback_receiver("/cb")
    state = SandboxState(status_delay=0.05)
    app = create_app(state, callback_transport=httpx.ASGITransport(receiver))
    url = "http://127.0.0.1:9/cb"
    async with http(app) as c:
        await c.post(MESSAGES, data={**OK, "StatusCallback": url})
        with anyio.fail_after(5):
            while len(received) < 2:
                await anyio.sleep(0.02)
    statuses = [form["MessageStatus"] for form, _ in received]
    assert statuses == ["sent", "delivered"]
    for form, sig in received:
        assert is_valid(TOKEN, url, form.items(), sig)
