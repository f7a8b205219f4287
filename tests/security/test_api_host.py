"""Credentials go only to *.twilio.com, or to the base URL an account was explicitly given.

Region, edge and base URL payloads are tried through every way they enter (``flo accounts
add``, TWILIO_* variables, a hand-edited accounts file) while a canary server listens on
another loopback address, and ``attacker.test`` resolves to it: before the fix
``--region 'attacker.test/#'`` sent the Basic-auth token to ``api.attacker.test``.
"""

from __future__ import annotations

import io
import json
import socket
import sys
import threading

import pytest

from flo_twilio.accounts import AccountStore, from_environment
from flo_twilio.cli import main
from flo_twilio.client import Credentials, TwilioClient, base_url
from flo_twilio.errors import AccountError, InvalidInputError
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID

TOKEN = "canary-auth-token-0123456789abcdef"


class Canary:
    """A TCP listener on 127.0.0.2 that records every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.2", 0))
        self.sock.listen()
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.seen: list[bytes] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    self.seen.append(conn.recv(4096) or b"(connected)")
                except OSError:
                    self.seen.append(b"(connected)")

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def canary(monkeypatch):
    """The canary, with every name under attacker.test resolving to it (no real DNS)."""
    listener = Canary()
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if isinstance(host, str) and host.rstrip(".").endswith("attacker.test"):
            host = "127.0.0.2"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    yield listener
    listener.close()


def test_the_canary_sees_what_is_sent_to_attacker_test(canary):
    import httpx

    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://api.attacker.test:{canary.port}/", timeout=2)
    assert canary.seen and canary.seen[0].startswith(b"GET / HTTP/1.1")


def label_payloads(port: int) -> list[str]:
    """Region or edge values that, pasted into https://api.{edge}.{region}.twilio.com,
    point the URL at the canary."""
    return [
        f"attacker.test:{port}/#",
        f"attacker.test:{port}?",
        f"attacker.test:{port}#",
        f"attacker.test:{port}/x/..",
        f"@127.0.0.2:{port}/#",
        f"x@127.0.0.2:{port}/",
        "attacker.test/#",
        "attacker.test?",
        "IE1",
        "ie1\n",
    ]


def base_url_payloads(port: int) -> list[str]:
    return [
        f"http://:pw@127.0.0.2:{port}",
        f"http://user:pw@127.0.0.2:{port}",
        f"http://127.0.0.2:{port}?",
        f"http://127.0.0.2:{port}#",
        f"http://127.0.0.2:{port}\\@127.0.0.1:9",
        f"http://127.0.0.1:9\t@127.0.0.2:{port}",
        f"http://127.0.0.2:{port}/2010-04-01",
    ]


def entries(port: int) -> list[tuple[str, str]]:
    return [
        *((name, p) for name in ("region", "edge") for p in label_payloads(port)),
        *(("api_base_url", p) for p in base_url_payloads(port)),
    ]


def run_flo(capsys, *args: str, stdin: str = "") -> tuple[int, str]:
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(list(args))
    finally:
        sys.stdin = saved
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_flo_accounts_add_refuses_every_payload_and_sends_nothing(canary, capsys, flo_home):
    for name, payload in entries(canary.port):
        flag = "--" + name.replace("_", "-")
        code, said = run_flo(
            capsys,
            *("accounts", "add", "victim", "--account-sid", SID, "--auth-token", "-"),
            *(flag, payload),
            stdin=TOKEN + "\n",
        )
        assert canary.seen == [], (name, payload)
        assert code == 2, (name, payload, said)
        assert name.removeprefix("api_") in said and "Traceback" not in said
    assert not (flo_home / "accounts.json").exists()


def test_twilio_environment_variables_refuse_every_label_payload(canary, capsys, monkeypatch):
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    for name, payload in entries(canary.port):
        if name == "api_base_url":
            continue  # not read from the environment
        monkeypatch.setenv(f"TWILIO_{name.upper()}", payload)
        code, said = run_flo(capsys, "options", "twilio.send_sms", "from")
        assert canary.seen == [], (name, payload)
        assert code == 2, (name, payload, said)
        assert "TWILIO_* environment variables" in said and name in said
        monkeypatch.delenv(f"TWILIO_{name.upper()}")


def test_a_hand_edited_accounts_file_is_refused_on_load(canary, capsys, flo_home):
    for name, payload in entries(canary.port):
        values = {"account_sid": SID, name: payload}
        record = {"connection": "twilio", "values": values, "secret_store": "file"}
        record["secrets"] = {"auth_token": TOKEN}
        path = flo_home / "accounts.json"
        path.write_text(json.dumps({"default": "edited", "accounts": {"edited": record}}))
        path.chmod(0o600)
        code, said = run_flo(capsys, "options", "twilio.send_sms", "from", "--account", "edited")
        assert canary.seen == [], (name, payload)
        assert code == 2, (name, payload, said)
        assert str(path) in said and "flo accounts remove edited" in said
        with pytest.raises(AccountError):
            AccountStore().get("edited")


def test_a_client_built_directly_checks_its_url_parts_too():
    for name, payload in entries(1):
        with pytest.raises(InvalidInputError):
            TwilioClient(Credentials.of(SID, auth_token=TOKEN), **{name: payload})


@pytest.mark.parametrize(
    ("parts", "url"),
    [
        ({}, "https://api.twilio.com"),
        ({"region": "ie1"}, "https://api.ie1.twilio.com"),
        ({"edge": "dublin", "region": "ie1"}, "https://api.dublin.ie1.twilio.com"),
        ({"edge": "sao-paulo"}, "https://api.sao-paulo.us1.twilio.com"),
        ({"api_base_url": "http://127.0.0.1:4010/"}, "http://127.0.0.1:4010"),
        ({"api_base_url": "https://twilio.example:8443"}, "https://twilio.example:8443"),
    ],
)
def test_valid_url_parts_still_work(parts, url):
    assert base_url(**parts) == url


def test_the_environment_still_accepts_documented_regions_and_edges():
    env = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN}
    account = from_environment({**env, "TWILIO_REGION": "au1", "TWILIO_EDGE": "sydney"})
    assert account is not None and account.values["edge"] == "sydney"
