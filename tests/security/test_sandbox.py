"""The sandbox fails like Twilio and stays up: nothing stored before every check passes,
bodies capped, slow and idle clients disconnected, keys and fault drills only with the
Auth Token, its database private, its token never needed on the command line."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time

import httpx
import pytest

from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT
from tests.sandbox_process import free_port, sandbox_process, wait_until_serving

pytestmark = pytest.mark.anyio

ACCOUNT = f"/2010-04-01/Accounts/{SID}"
MESSAGES = f"{ACCOUNT}/Messages.json"
OK = {"To": "+12065551212", "From": "+15005550006", "Body": "Hello"}


def http(app, auth=(SID, TOKEN)) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://sandbox", auth=auth
    )


@pytest.mark.parametrize(
    ("field", "url", "code"),
    [
        ("StatusCallback", "http://[10.1.2.3]/", 21609),
        ("StatusCallback", "http://127.0.0.1:99999/x", 21609),
        ("StatusCallback", "http://127.0.0.1:port/x", 21609),
        ("StatusCallback", "http:///no-host", 21609),
        ("StatusCallback", "http://exa mple.com/", 21609),
        ("StatusCallback", "http://example.com/\r\nX: y", 21609),
        ("StatusCallback", "ftp://example.com/", 21609),
        ("MediaUrl", "https://[::1/cat.png", 21620),
        ("MediaUrl", "https://example.com:0x50/cat.png", 21620),
    ],
)
async def test_invalid_urls_get_twilios_error_and_nothing_is_stored(field, url, code):
    state = SandboxState()
    async with http(create_app(state)) as c:
        response = await c.post(MESSAGES, data={**OK, field: url})
    assert response.status_code == 400
    assert response.json() == {
        "code": code,
        "message": response.json()["message"],
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": 400,
    }
    assert state.messages == {}


async def test_a_valid_callback_is_still_accepted():
    state = SandboxState()
    async with http(create_app(state)) as c:
        response = await c.post(MESSAGES, data={**OK, "StatusCallback": "https://example.com/cb"})
    assert response.status_code == 201 and len(state.messages) == 1


async def test_bodies_over_the_limit_get_413_and_are_not_processed():
    state = SandboxState()
    app = create_app(state, max_body=2000)
    big = {**OK, "Body": "x" * 3000}

    async def chunks():
        yield b"To=%2B12065551212&From=%2B15005550006&Body="
        for _ in range(10):
            yield b"x" * 300

    async with http(app) as c:
        declared = await c.post(MESSAGES, data=big)
        streamed = await c.post(  # no Content-Length: counted as it arrives
            MESSAGES,
            content=chunks(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        fits = await c.post(MESSAGES, data=OK)
    for response in (declared, streamed):
        assert response.status_code == 413 and response.json()["code"] == 20413
    assert fits.status_code == 201 and len(state.messages) == 1


async def test_a_sandbox_bug_still_answers_twilio_json(monkeypatch):
    from flo_twilio.sandbox import api_messages

    def broken(*args):
        raise RuntimeError("bug")

    monkeypatch.setattr(api_messages, "paged", broken)
    transport = httpx.ASGITransport(create_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, auth=(SID, TOKEN)) as c:
        response = await c.get(f"http://sandbox{MESSAGES}")
    assert response.status_code == 500 and response.json()["code"] == 20500


async def test_api_keys_cannot_mint_keys_change_faults_or_read_the_auth_token():
    state, faults = SandboxState(), Faults()
    app = create_app(state, faults)
    async with http(app) as c:
        key = (await c.post(f"{ACCOUNT}/Keys.json", data={"FriendlyName": "k"})).json()
    async with http(app, auth=(key["sid"], key["secret"])) as c:
        minted = await c.post(f"{ACCOUNT}/Keys.json", data={"FriendlyName": "more"})
        changed = await c.post("/_sandbox/faults", json={"rate_500": 1.0})
        read = await c.get("/_sandbox/faults")
        account = await c.get(f"{ACCOUNT}.json")
        listed = await c.get("/2010-04-01/Accounts.json")
        sent = await c.post(MESSAGES, data=OK)  # a key still does the ordinary work
    for refused in (minted, changed, read):
        assert refused.status_code == 401 and refused.json()["code"] == 20003
    assert len(state.keys) == 1 and faults.rate_500 == 0.0
    assert account.status_code == 200 and account.json()["auth_token"] is None
    assert listed.json()["accounts"][0]["auth_token"] is None
    assert sent.status_code == 201
    async with http(app) as c:  # the Auth Token still can
        assert (await c.post("/_sandbox/faults", json={"latency": 0.001})).status_code == 200
        assert (await c.get(f"{ACCOUNT}.json")).json()["auth_token"] == TOKEN


async def test_db_files_are_private(tmp_path):
    db = tmp_path / "sandbox.db"
    old = os.umask(0o022)
    try:
        async with http(create_app(SandboxState(db_path=db))) as c:
            await c.post(MESSAGES, data=OK)
            await c.post(f"{ACCOUNT}/Keys.json")
        made = sorted(tmp_path.iterdir())
    finally:
        os.umask(old)
    assert [p.name for p in made] == ["sandbox.db", "sandbox.db-shm", "sandbox.db-wal"]
    for path in made:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_existing_open_db_is_made_private(tmp_path):
    db = tmp_path / "old.db"
    db.touch(0o644)
    SandboxState(db_path=db)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


# Over real sockets: the uvicorn server flo sandbox runs.


def talk(port: int, data: bytes, drip: float = 0.0) -> tuple[bytes, float]:
    """Send ``data`` (a byte at a time every ``drip`` seconds); what came back, and when
    the server closed the connection."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(5)
        try:
            for byte in data if drip else [data]:
                sock.sendall(bytes([byte]) if drip else byte)
                time.sleep(drip)
        except OSError:
            pass  # closed on us mid-send
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except TimeoutError:
            received += b"(still open)"
        except OSError:
            pass
    return received, time.monotonic() - started


def test_idle_and_slow_clients_are_disconnected():
    with sandbox_process("--client-timeout", "0.4", "--latency", "0.6") as url:
        port = int(url.rsplit(":", 1)[1])
        idle, idle_for = talk(port, b"")
        slowloris, slow_for = talk(
            port, b"GET /2010-04-01/Accounts.json HTTP/1.1\r\nHost: x\r\n", 0.05
        )
        slow_body, _ = talk(
            port,
            b"POST " + MESSAGES.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nTo=",
        )
        # a slow answer (latency above the timeout) is not cut: only clients are timed
        answered = httpx.get(f"{url}/2010-04-01/Accounts.json", auth=(SID, TOKEN), timeout=5)
    assert idle == b"" and idle_for < 3
    assert slowloris.startswith(b"HTTP/1.1 408") and slow_for < 3
    assert slow_body.startswith(b"HTTP/1.1 408")
    assert answered.status_code == 200


def start_sandbox(
    port: int, *args: str, env: dict | None = None, stdin: bytes = b""
) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "flo_twilio.cli", "sandbox", "--port", str(port), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    proc.stdin.write(stdin)
    proc.stdin.close()
    return proc


@pytest.mark.parametrize("source", ["stdin", "environment"])
def test_the_sandbox_token_can_stay_off_the_command_line(source):
    token = f"token-from-{source}-0123456789"
    port = free_port()
    if source == "stdin":
        proc = start_sandbox(port, "--auth-token", "-", stdin=f"{token}\n".encode())
    else:
        proc = start_sandbox(port, env={"FLO_SANDBOX_AUTH_TOKEN": token})
    url = f"http://127.0.0.1:{port}/2010-04-01/Accounts/{SID}.json"
    try:
        wait_until_serving(proc, lambda: httpx.get(url, auth=(SID, token)).raise_for_status())
        assert httpx.get(url, auth=(SID, TOKEN)).status_code == 401  # not the default one
    finally:
        proc.terminate()
        proc.wait(10)
        banner = proc.stderr.read().decode()
        proc.stderr.close()
    assert "auth token:" in banner and token not in banner  # the banner never echoes it
