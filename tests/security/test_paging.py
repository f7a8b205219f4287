"""Paging stops: a page that repeats, a next page on another host, or more pages than the
cap ends with a clear error (a self-referencing next_page_uri made ``flo options`` send
27,421 requests in 30 s)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from flo_twilio.accounts import Account, AccountStore
from flo_twilio.cli import main
from flo_twilio.client import Credentials, TwilioClient, TwilioError
from flo_twilio.client.core import MAX_PAGES
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from tests.helpers import ServerThread

TOKEN = "paging-test-token-0123456789"
PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"


def pages(next_uri) -> tuple[TwilioClient, list[httpx.Request]]:
    """A client whose every page holds one message and points at ``next_uri(n)``; the
    server gives up after 50 pages, so a client without guards ends instead of hanging."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        n = len(seen)
        next_page = next_uri(n) if n < 50 else None
        return httpx.Response(200, json={"messages": [{"sid": n}], "next_page_uri": next_page})

    client = TwilioClient(
        Credentials.of(SID, auth_token=TOKEN), transport=httpx.MockTransport(handler)
    )
    return client, seen


def read_all(client: TwilioClient, **kwargs) -> list:
    async def run() -> list:
        async with client:
            return [m async for m in client.paginate(PATH, "messages", **kwargs)]

    return asyncio.run(run())


def test_a_page_pointing_at_itself_stops_at_once():
    client, seen = pages(lambda n: f"{PATH}?PageSize=50&Page=1&PageToken=PA1")
    with pytest.raises(TwilioError, match=r"repeats a page already read"):
        read_all(client)
    assert len(seen) == 2


def test_a_loop_over_several_pages_stops_when_it_comes_back():
    client, seen = pages(lambda n: f"{PATH}?Page={n % 3}")
    with pytest.raises(TwilioError, match=r"repeats"):
        read_all(client)
    assert len(seen) == 4  # the first page, then Page=1, 2, 0; Page=1 again is refused


@pytest.mark.parametrize(
    "elsewhere",
    [
        "https://evil.example/2010-04-01/x",
        "//evil.example/2010-04-01/x",
        "/\\evil.example/x",
        "http://api.twilio.com/2010-04-01/x",
        "https://api.twilio.com:8443/2010-04-01/x",
        "2010-04-01/x",
        "/2010-04-01/x y",
        ["/2010-04-01/x"],
    ],
)
def test_a_next_page_on_another_host_is_refused(elsewhere):
    client, seen = pages(lambda n: elsewhere)
    with pytest.raises(TwilioError, match=r"off this API host"):
        read_all(client)
    assert len(seen) == 1 and all(r.url.host == "api.twilio.com" for r in seen)


def test_endless_fresh_pages_stop_at_the_cap():
    client, seen = pages(lambda n: f"{PATH}?Page={n}")
    with pytest.raises(TwilioError, match=r"stopped after 7 pages"):
        read_all(client, max_pages=7)
    assert len(seen) == 7
    assert MAX_PAGES == 1000  # the documented cap (docs/reliability.md)


def test_a_normal_list_reads_to_its_last_page():
    client, _ = pages(lambda n: f"{PATH}?Page={n}" if n < 5 else None)
    assert [m["sid"] for m in read_all(client)] == [1, 2, 3, 4, 5]


def test_flo_options_stops_on_a_looping_server(capsys):
    requests: list[str] = []

    async def numbers(request: Request) -> JSONResponse:
        requests.append(str(request.url))
        return JSONResponse(
            {
                "incoming_phone_numbers": [
                    {"phone_number": "+15005550006", "capabilities": {"sms": True}}
                ],
                "next_page_uri": f"{request.url.path}?{request.url.query}"
                if len(requests) < 50
                else None,
            }
        )

    app = Starlette(
        routes=[Route(f"/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json", numbers)]
    )
    with ServerThread(app) as server:
        values = {"account_sid": SID, "api_base_url": server.url}
        AccountStore().save(Account("loop", "twilio", values=values, secrets={"auth_token": TOKEN}))
        code = main(["options", "twilio.send_sms", "from", "--account", "loop", "--json"])
    said = capsys.readouterr()
    assert code == 1 and len(requests) == 2
    assert "repeats a page already read" in json.loads(said.out)["error"]["message"]
