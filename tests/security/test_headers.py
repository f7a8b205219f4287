"""Custom API headers: names are HTTP tokens, values plain text, and nothing a flow gives
can set the credentials, the host or the message framing. Refused items send nothing."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flo_twilio import CardContext, call_card
from flo_twilio.cards import CustomApi
from flo_twilio.client import Credentials, TwilioClient
from flo_twilio.errors import InvalidInputError
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from tests.helpers import basic_auth

TOKEN = "header-test-token-0123456789"
BASIC = basic_auth(SID, TOKEN)

# Found by the attack: each was sent byte for byte before.
ATTACK = [
    {"authorization ": "Basic eDp5"},
    {"host ": "other.example"},
    {" Authorization": "Basic eDp5"},
    {"": "x"},
    {"X:Colon": "x"},
    {"Transfer-Encoding": "chunked", "Content-Length": "0"},
    {"content-length": "0"},
    {"Connection": "close, Authorization"},
    {"Keep-Alive": "timeout=5"},
    {"TE": "trailers"},
    {"Trailer": "Authorization"},
    {"Upgrade": "h2c"},
    {"Proxy-Connection": "keep-alive"},
    {"Expect": "100-continue"},
    {"X-Ok": "a\r\nAuthorization: Basic eDp5"},
    {"X-Ok": "a\nHost: other.example"},
    {"X-Ok": "nul\x00byte"},
    {"X-Ok": "caf\u00e9"},
    {"X-Ok\n": "x"},
    {"X Ok": "x"},
    {"\u0410uthorization": "x"},  # a Cyrillic A
]


def recording_client(sent: list[httpx.Request]) -> TwilioClient:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    return TwilioClient(
        Credentials.of(SID, auth_token=TOKEN), transport=httpx.MockTransport(handler)
    )


def call(client: TwilioClient, headers: dict[str, str], method: str = "POST") -> dict:
    inputs = {"relativeUrl": "/Accounts.json", "headers": headers, "query": {"a": "b"}}

    async def run() -> dict:
        async with client:
            return await call_card(CustomApi(), CardContext(client), {"method": method}, inputs)

    return asyncio.run(run())


@pytest.mark.parametrize("headers", ATTACK, ids=repr)
def test_attack_headers_are_refused_before_anything_is_sent(headers):
    sent: list[httpx.Request] = []
    with pytest.raises(InvalidInputError, match=r"inputs\.headers"):
        call(recording_client(sent), headers)
    assert sent == []


def test_every_bad_header_is_named_at_once():
    with pytest.raises(InvalidInputError) as info:
        call(recording_client([]), {"Host": "x", "X:Y": "z", "X-Ok": "a\rb"})
    assert len(info.value.problems) == 3


def test_ordinary_headers_are_sent_as_given():
    sent: list[httpx.Request] = []
    call(recording_client(sent), {"X-Request-Id": "abc-123", "Accept-Language": "en\tfr"})
    assert sent[0].headers["x-request-id"] == "abc-123"
    assert sent[0].headers["authorization"] == BASIC


NAMES = st.text(alphabet=st.sampled_from(list("aHoT-:_ \t\r\nx\x00é")), max_size=14)


@given(st.dictionaries(NAMES, NAMES, max_size=3))
def test_no_header_input_changes_credentials_host_or_framing(headers):
    sent: list[httpx.Request] = []
    try:
        call(recording_client(sent), headers)
    except InvalidInputError:
        assert sent == []
        return
    [request] = sent
    assert request.headers.get_list("authorization") == [BASIC]
    assert request.headers.get_list("host") == ["api.twilio.com"]
    assert request.headers.get_list("content-length") == [str(len(request.content))]
    assert request.headers.get_list("connection") == ["keep-alive"]  # httpx's own
    assert "transfer-encoding" not in request.headers
