"""``flo serve`` under abuse, over real loopback sockets: slow clients, too many of them under
a low file limit, odd signatures and huge counts. A real, signed webhook is still answered
in time, and the log stays short."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flo_twilio.client.signature import signature
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT, flo, free_port
from tests.test_serve import AUTO_REPLY, NUMBER, PHONE, STARTED, no_server_left, sandbox, wait_runs

__all__ = ["no_server_left", "sandbox"]  # fixtures, shared with test_serve


class Limited:
    """``flo serve ARGS`` in a child process with at most ``files`` open files; stderr kept."""

    def __init__(self, tmp_path: Path, *args: str, files: int = 0, env: dict | None = None):
        self.port = free_port()
        self.log = tmp_path / "serve.log"
        command = [sys.executable, "-m", "flo_twilio.cli", "serve", *args]
        command += ["--port", str(self.port)]

        def limit() -> None:
            if files:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (files, hard))

        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                command,
                stderr=log,
                env={**os.environ, "FLO_SETTLE_SECONDS": "1", **(env or {})},
                cwd=ROOT,
                preexec_fn=limit,
            )
        STARTED.append(self.proc)
        self.url = f"http://127.0.0.1:{self.port}/auto_reply"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.post(self.url, timeout=1)
                return
            except httpx.TransportError:
                assert self.proc.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, self.log.read_text()
                time.sleep(0.05)


def webhook(url: str, **fields: str) -> tuple[dict[str, str], dict[str, str]]:
    """A message's webhook form for ``url`` and its correct Twilio signature header."""
    form = {"MessageSid": "SM" + "c" * 32, "From": PHONE, "To": NUMBER, "Body": "hi"}
    form |= {"NumMedia": "0", "SmsStatus": "received", "AccountSid": SID, **fields}
    return form, {"X-Twilio-Signature": signature(TOKEN, url, form.items())}


def half_sent(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that each send part of a request and then nothing."""
    opened = []
    for i in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 2:
            sock.sendall(b"POST /auto_reply HTTP/1.1\r\nHost: x\r\nContent-Le")
        else:
            sock.sendall(b"POST /auto_reply HTTP/1.1\r\nHost: x\r\nContent-Length: 90\r\n\r\nab")
        opened.append(sock)
    return opened


@pytest.mark.slow
def test_half_sent_requests_under_a_low_file_limit_leave_room_for_a_real_webhook(sandbox, tmp_path):
    serve = Limited(tmp_path, AUTO_REPLY, files=256)
    slow = half_sent(serve.port, 300)
    try:
        form, signed = webhook(serve.url)
        started = time.monotonic()
        answer = httpx.post(serve.url, data=form, headers=signed, timeout=10)
        assert answer.status_code == 200
        assert time.monotonic() - started < 5
        wait_runs(1)
    finally:
        for sock in slow:
            sock.close()
    said = serve.log.read_text()
    assert "Traceback" not in said, said[:2000]
    assert len(said) < 8_000, said[:2000]
    assert "connections open" in said  # one short line per kind of refusal
    serve.proc.terminate()
    assert serve.proc.wait(20) == 0


@pytest.mark.slow
def test_a_client_that_stops_half_way_is_answered_408_and_dropped(sandbox, tmp_path):
    serve = Limited(tmp_path, AUTO_REPLY, env={"FLO_SERVE_CLIENT_TIMEOUT": "0.5"})
    (body, headers) = half_sent(serve.port, 2)
    for sock in (headers, body):
        sock.settimeout(5)
        started = time.monotonic()
        answer = sock.recv(1000)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert sock.recv(1000) == b""  # closed
        assert time.monotonic() - started < 3
        sock.close()
    serve.proc.terminate()
    assert serve.proc.wait(20) == 0


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--client-timeout", "nan"], {}),
        (["--client-timeout", "0"], {}),
        (["--max-connections", "0"], {}),
        ([], {"FLO_SERVE_MAX_CONNECTIONS": "lots"}),
    ],
)
def test_a_bad_client_limit_is_refused_naming_it(args, env):
    done = flo("serve", AUTO_REPLY, *args, env=env)
    assert done.code == 2, done.err
    assert "takes a number above 0" in done.err and "Traceback" not in done.err


@pytest.mark.slow
def test_odd_signatures_are_refused_and_a_huge_media_count_is_read_capped(sandbox, tmp_path):
    serve = Limited(tmp_path, AUTO_REPLY)
    form, signed = webhook(serve.url)
    for odd in (b"\xff\xfe", "é".encode(), signed["X-Twilio-Signature"].encode() + b"\x80"):
        answer = httpx.post(serve.url, data=form, headers={"X-Twilio-Signature": odd})
        assert answer.status_code == 403, odd
    media = {f"MediaUrl{i}": f"https://example.com/m{i}" for i in range(12)}
    form, signed = webhook(serve.url, NumMedia="1000000000", **media)
    started = time.monotonic()
    assert httpx.post(serve.url, data=form, headers=signed, timeout=10).status_code == 200
    assert time.monotonic() - started < 2
    (run,) = wait_runs(1)
    event = run["arguments"]["event"]
    assert event["numMedia"] == 10 and event["mediaUrls"] == [
        media[f"MediaUrl{i}"] for i in range(10)
    ]
    assert "Traceback" not in serve.log.read_text()
