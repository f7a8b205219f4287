"""The aiohttp transport over real loopback sockets: what the lean request path leaves out
(cookies, redirects) stays out, and what it must do (decompress, report) it does."""

from __future__ import annotations

import gzip
import json

import pytest
from aiohttp import web

from flo_twilio.client import Credentials, TwilioApiError, TwilioClient
from flo_twilio.errors import OutcomeUnknownError

pytestmark = pytest.mark.anyio
SID = "AC" + "a" * 32


@pytest.fixture
async def server():
    seen: list[web.Request] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request)
        await request.read()
        if request.path == "/gzip":
            body = gzip.compress(json.dumps({"sid": "SM1", "body": "é" * 50}).encode())
            return web.Response(
                body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
            )
        if request.path == "/moved":
            raise web.HTTPFound("/gzip")
        if request.path == "/drop":
            assert request.transport is not None
            request.transport.close()  # read the request, never answered
        return web.json_response(
            {"sid": "SM2"}, headers={"Set-Cookie": "session=abc; Path=/", "Date": "x"}
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


def client(url: str) -> TwilioClient:
    return TwilioClient(Credentials.of(SID, auth_token="t"), api_base_url=url)


async def test_a_compressed_answer_is_read_decompressed(server):
    url, _ = server
    async with client(url) as twilio:
        assert await twilio.request_json("POST", "/gzip", form={"To": "+1"}) == {
            "sid": "SM1",
            "body": "é" * 50,
        }


async def test_cookies_are_neither_kept_nor_sent(server):
    url, seen = server
    async with client(url.replace("127.0.0.1", "localhost")) as twilio:  # a jar skips IPs
        await twilio.request_json("GET", "/a")
        await twilio.request_json("GET", "/b")
    assert [r.headers.get("Cookie") for r in seen] == [None, None]
    assert seen[1].headers["Authorization"].startswith("Basic ")


async def test_a_redirect_is_refused_not_followed(server):
    url, seen = server
    async with client(url) as twilio:
        with pytest.raises(TwilioApiError, match="redirect"):
            await twilio.request("GET", "/moved")
    assert [r.path for r in seen] == ["/moved"]


async def test_a_post_whose_answer_is_lost_is_unknown_not_resent(server):
    url, seen = server
    async with client(url) as twilio:
        with pytest.raises(OutcomeUnknownError):
            await twilio.request("POST", "/drop", form={"To": "+1"})
    assert [r.path for r in seen] == ["/drop"]
