"""``flo serve`` behind a reverse proxy or a tunnel: the signature Twilio made is over the
public URL it requested, query as sent; a trusted proxy's X-Forwarded-Proto and
X-Forwarded-Host say what that was (only with ``trust_proxy``); a JSON body is checked by
its ``bodySHA256``, as Twilio's SDKs do; anything forged is refused with 403."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace
from urllib.parse import urlencode

import httpx
import pytest

from flo_twilio.cards.triggers import IncomingMessage
from flo_twilio.client.signature import is_valid_request, signature
from flo_twilio.runner.events import EventStore
from flo_twilio.serve.server import Served, Server

pytestmark = pytest.mark.anyio
TOKEN = "auth-token-of-the-account"
NUMBER = "+15017122661"
FORM = {"MessageSid": "SM" + "b" * 32, "From": "+12065551212", "To": NUMBER, "Body": "hi"}
LOCAL = "http://127.0.0.1:8080"  # where the proxy forwards to: this server


def test_twilio_pythons_vector_for_a_json_body():
    body = b'{"property": "value", "boolean": true}'
    url = (
        "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=" + hashlib.sha256(body).hexdigest()
    )
    assert is_valid_request("12345", url, [], "a9nBmqA0ju/hNViExpshrM61xv4=", body)
    assert not is_valid_request("12345", url, [], "a9nBmqA0ju/hNViExpshrM61xv4=", body + b" ")


class Hooks:
    """A flo serve server of one incoming-message flow, its public base ``public``, reached
    in this process as if through a proxy; what it accepted and said."""

    def __init__(self, tmp_path, public: str = LOCAL, trust_proxy: bool = False) -> None:
        served = Served(
            flow=SimpleNamespace(name="replies"),  # type: ignore[arg-type]
            trigger=IncomingMessage(),
            options={"to": NUMBER},
            inputs={},
            path="/hooks/replies",
            url=public + "/hooks/replies",
            route="replies",
        )
        self.said: list[str] = []
        store = EventStore(tmp_path / "events.db")
        self.server = Server(
            None, None, None, {}, [served], store, TOKEN,  # type: ignore[arg-type]
            say=self.said.append, trust_proxy=trust_proxy,
        )  # fmt: skip

    async def post(self, query: str = "", **kwargs) -> int:
        transport = httpx.ASGITransport(self.server.app())
        async with httpx.AsyncClient(transport=transport, base_url=LOCAL) as http:
            answer = await http.post(f"/hooks/replies{query}", **kwargs)
        return answer.status_code

    @property
    def accepted(self) -> int:
        return self.server.queue.qsize()


def signed(url: str, form: dict[str, str] = FORM) -> dict[str, str]:
    return {"X-Twilio-Signature": signature(TOKEN, url, form.items())}


@pytest.mark.parametrize(
    ("signed_url", "forwarded_host"),
    [
        ("https://flo.example.com/hooks/replies", "flo.example.com"),  # http -> https
        ("https://flo.example.com:8443/hooks/replies", "flo.example.com:8443"),  # a port
        ("https://flo.example.com:443/hooks/replies", "flo.example.com"),  # the default one
        ("https://flo.example.com/hooks/replies", "flo.example.com:443"),
    ],
)
async def test_a_trusted_proxy_that_changes_scheme_or_port_is_believed(
    tmp_path, signed_url, forwarded_host
):
    through_proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": forwarded_host}
    headers = signed(signed_url) | through_proxy
    untrusting = Hooks(tmp_path / "a")
    assert await untrusting.post(data=FORM, headers=headers) == 403  # its own URL differs
    trusting = Hooks(tmp_path / "b", trust_proxy=True)
    assert await trusting.post(data=FORM, headers=headers) == 200
    assert trusting.accepted == 1


async def test_forwarded_headers_are_ignored_unless_the_proxy_is_trusted(tmp_path):
    """Else anyone reaching the server could name a URL of their own and sign for it with
    a token of another account... or replay a request signed for another host."""
    elsewhere = "https://attacker.example/hooks/replies"
    headers = signed(elsewhere) | {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "attacker.example",
    }
    hooks = Hooks(tmp_path)
    assert await hooks.post(data=FORM, headers=headers) == 403 and hooks.accepted == 0


async def test_the_public_url_is_what_is_checked(tmp_path):
    hooks = Hooks(tmp_path, public="https://abc.ngrok.app")
    local = await hooks.post(data=FORM, headers=signed(f"{LOCAL}/hooks/replies"))
    public = await hooks.post(data=FORM, headers=signed("https://abc.ngrok.app/hooks/replies"))
    assert (local, public) == (403, 200)


async def test_the_query_is_kept_exactly_as_twilio_sent_it(tmp_path):
    query = "?z=1&a=%2Fx+y&a=0"  # not sorted, repeated, encoded: as the webhook was set
    hooks = Hooks(tmp_path)
    headers = signed(f"{LOCAL}/hooks/replies{query}")
    assert await hooks.post(query, data=FORM, headers=headers) == 200
    reordered = "?a=%2Fx+y&a=0&z=1"  # the same parameters, not the URL Twilio signed
    assert await hooks.post(reordered, data=FORM, headers=headers) == 403


async def test_a_json_body_is_checked_by_its_body_sha256(tmp_path):
    body = json.dumps(FORM).encode()
    query = "?" + urlencode({"bodySHA256": hashlib.sha256(body).hexdigest()})
    url = f"{LOCAL}/hooks/replies{query}"
    headers = {"X-Twilio-Signature": signature(TOKEN, url), "Content-Type": "application/json"}
    hooks = Hooks(tmp_path)
    tampered = json.dumps(FORM | {"Body": "changed"}).encode()
    assert await hooks.post(query, content=tampered, headers=headers) == 403
    assert await hooks.post(query, content=body, headers=headers) == 200
    assert hooks.accepted == 1
    _, pending = hooks.server.queue.get_nowait()
    assert pending.outputs["body"] == "hi" and pending.outputs["from"] == "+12065551212"


async def test_a_forged_signature_is_refused(tmp_path):
    hooks = Hooks(tmp_path, trust_proxy=True)
    forged = {
        "X-Twilio-Signature": signature("another-token", f"{LOCAL}/hooks/replies", FORM.items())
    }
    assert await hooks.post(data=FORM, headers=forged) == 403
    assert await hooks.post(data=FORM) == 403  # none at all
    assert hooks.accepted == 0 and any("refused a webhook (403)" in line for line in hooks.said)


@pytest.mark.parametrize("host", ["flo.example.com:99999", "flo.example.com:65536", "[::1]:70000"])
async def test_a_forwarded_host_whose_port_is_no_port_is_ignored_not_a_crash(tmp_path, host):
    hooks = Hooks(tmp_path, trust_proxy=True)
    headers = signed(f"{LOCAL}/hooks/replies") | {"X-Forwarded-Host": host}
    assert await hooks.post(data=FORM, headers=headers) == 200  # checked against its own URL
    forged = signed(f"https://{host}/hooks/replies") | {"X-Forwarded-Host": host}
    assert await hooks.post(data=FORM, headers=forged) == 403


@pytest.mark.slow  # starts flo serve
def test_flo_serve_trust_proxy_believes_the_proxys_headers(tmp_path):
    from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN
    from tests.test_serve import AUTO_REPLY, Serving

    serve = Serving(tmp_path, AUTO_REPLY, "--trust-proxy")  # on the built-in sandbox
    serve.wait_serving()
    public = "https://flo.example.com/auto_reply"
    form = FORM | {"NumMedia": "0", "SmsStatus": "received"}
    headers = {
        "X-Twilio-Signature": signature(DEFAULT_AUTH_TOKEN, public, form.items()),
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "flo.example.com",
    }
    answered = httpx.post(serve.url(), data=form, headers=headers, timeout=10).status_code
    forged = httpx.post(
        serve.url(), data=form | {"Body": "forged"}, headers=headers, timeout=10
    ).status_code
    serve.stop()
    assert (answered, forged) == (200, 403), serve.said
