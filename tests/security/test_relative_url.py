"""Whatever relativeUrl a flow feeds the Custom API Action, it is refused before any
connection, or the request goes to the account's own API host with its credentials.

The attack on flo tried 1,396 relativeUrl payloads; this property tries 1,400 generated
ones per run (hypothesis keeps the failures it finds and tries them first next time).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flo_twilio import CardContext, call_card
from flo_twilio.cards import CustomApi
from flo_twilio.client import Credentials, TwilioClient
from flo_twilio.errors import InvalidInputError
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from tests.conftest import examples
from tests.helpers import basic_auth

TOKEN = "relative-url-token-0123456789"

PIECES = st.sampled_from(
    [
        "/",
        "//",
        "\\",
        "@",
        ".",
        "..",
        "%2e",
        "%2E",
        "%2f",
        "%5c",
        "%40",
        "%25",
        "%23",
        "%3f",
        "%0d%0a",
        ":",
        "?",
        "#",
        "http:",
        "https://",
        "evil.example",
        "127.0.0.2",
        ":443",
        "Accounts",
        ".json",
        " ",
        "\t",
        "\n",
        "\x00",
        "\u3002",
        "\uff0e",
        "a",
        "%",
    ]
)
RELATIVE_URLS = st.lists(st.one_of(PIECES, st.text(max_size=3)), max_size=8).map("".join)


class Wire:
    """One client for every example, on one event loop, recording what it sends."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.sent: list[httpx.Request] = []
        self.client = TwilioClient(
            Credentials.of(SID, auth_token=TOKEN),
            region="ie1",
            edge="dublin",
            transport=httpx.MockTransport(self.record),
        )

    def record(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return httpx.Response(200, json={})

    def send(self, relative_url: str, api: str) -> list[httpx.Request] | None:
        """The requests the card sent for ``relative_url``; None when it refused it."""
        self.sent = []
        options = {"method": "GET", "api": api}
        call = call_card(
            CustomApi(), CardContext(self.client), options, {"relativeUrl": relative_url}
        )
        try:
            self.loop.run_until_complete(call)
        except InvalidInputError:
            assert self.sent == []
            return None
        return self.sent

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def wire():
    recorder = Wire()
    yield recorder
    recorder.close()


@settings(max_examples=examples(1400))
@given(relative_url=RELATIVE_URLS, api=st.sampled_from(["api", "messaging"]))
def test_any_relative_url_stays_on_the_account_api_host(wire, relative_url, api):
    sent = wire.send(relative_url, api)
    if sent is None:
        return
    [request] = sent
    assert request.url.scheme == "https" and request.url.port is None
    assert request.url.host == f"{api}.dublin.ie1.twilio.com"
    assert request.url.userinfo == b""
    assert ".." not in request.url.path.split("/") and "\\" not in request.url.path
    assert request.headers["authorization"] == basic_auth(SID, TOKEN)
