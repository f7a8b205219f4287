"""``flo serve`` over loopback, with the sandbox in another process playing Twilio: an
incoming message runs the flow once, whatever is forged, repeated or killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flo_twilio.accounts import Account, AccountStore
from flo_twilio.client.signature import signature
from flo_twilio.runner.events import EventStore
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from flo_twilio.serve.routes import route_key
from tests.helpers import ROOT, flo, free_port, sandbox_process
from tests.inprocess import recorded_runs

AUTO_REPLY = str(ROOT / "sample_flows/auto_reply.yaml")
NUMBER = "+15017122661"
PHONE = "+12065551212"
ACCOUNT = f"/2010-04-01/Accounts/{SID}"


@pytest.fixture
def sandbox(flo_home) -> Iterator[httpx.Client]:
    """The sandbox in its own process, connected as the default account; a client to it."""
    with sandbox_process("--status-delay", "0.5") as url:  # callbacks see every status
        store = AccountStore()
        values = {"account_sid": SID, "api_base_url": url}
        store.save(Account("live", "twilio", values=values, secrets={"auth_token": TOKEN}))
        with httpx.Client(base_url=url, auth=(SID, TOKEN), timeout=30) as client:
            yield client


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_server_left():
    """Whatever a test asserts, the servers it started do not outlive it."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


class Serving:
    """``flo serve ARGS`` in a child process; its stderr kept in a file."""

    def __init__(self, tmp_path: Path, *args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log = tmp_path / f"serve-{time.monotonic_ns()}.log"
        command = [sys.executable, "-m", "flo_twilio.cli", "serve", *args]
        if "--poll" not in args:
            command += ["--port", str(self.port)]
        env = {**os.environ, "FLO_SETTLE_SECONDS": "1"}
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(command, stderr=log, env=env, cwd=ROOT)
        STARTED.append(self.proc)

    def url(self, flow: str = "auto_reply") -> str:
        return f"http://127.0.0.1:{self.port}/{flow}"

    @property
    def said(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while text not in self.said:
            assert self.proc.poll() is None or text in self.said, self.said
            assert time.monotonic() < deadline, f"never said {text!r}: {self.said}"
            time.sleep(0.05)

    def wait_serving(self) -> None:
        """Until it answers (an unsigned request: 403)."""
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.post(self.url(), timeout=1)
                return
            except httpx.TransportError:
                assert self.proc.poll() is None, self.said
                assert time.monotonic() < deadline, self.said
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(20)


def sms_url(sandbox: httpx.Client, number: str = NUMBER) -> tuple[str, str]:
    numbers = sandbox.get(f"{ACCOUNT}/IncomingPhoneNumbers.json").json()["incoming_phone_numbers"]
    found = next(n for n in numbers if n["phone_number"] == number)
    return found["sid"], found["sms_url"]


def set_sms_url(sandbox: httpx.Client, url: str) -> None:
    sid, _ = sms_url(sandbox)
    sandbox.post(
        f"{ACCOUNT}/IncomingPhoneNumbers/{sid}.json", data={"SmsUrl": url}
    ).raise_for_status()


def text(sandbox: httpx.Client, body: str, deliveries: int = 1) -> dict:
    answer = sandbox.post(
        "/_sandbox/inbound",
        json={"from": PHONE, "to": NUMBER, "body": body, "deliveries": deliveries},
    )
    answer.raise_for_status()
    return answer.json()


def replies(sandbox: httpx.Client) -> list[str]:
    messages = sandbox.get(f"{ACCOUNT}/Messages.json").json()["messages"]
    return [m["body"] for m in messages if m["direction"] == "outbound-api" and m["to"] == PHONE]


def wait_runs(count: int, seconds: float = 30) -> list[dict]:
    deadline = time.monotonic() + seconds
    while True:
        runs = [r for r in recorded_runs() if r["status"] in ("done", "failed")]
        if len(runs) >= count:
            return runs
        assert time.monotonic() < deadline, recorded_runs()
        time.sleep(0.1)


def test_an_incoming_message_runs_the_flow_once_and_the_reply_is_listed(sandbox, tmp_path):
    serve = Serving(tmp_path, AUTO_REPLY)
    serve.wait_serving()
    assert f"webhook URL {serve.url()}" in serve.said
    set_sms_url(sandbox, serve.url())
    delivered = text(sandbox, "hello", deliveries=2)
    assert delivered["webhook"]["deliveries"] == [200, 200]
    (run,) = wait_runs(1)
    assert replies(sandbox) == ["Thanks! You wrote: hello"]
    assert run["flow"] == "auto_reply" and run["status"] == "done"
    assert run["arguments"]["event"]["messageSid"] == delivered["message"]["sid"]
    assert run["arguments"]["event"]["fromCity"] == "SEATTLE"
    time.sleep(0.3)
    assert len(recorded_runs()) == 1 and "duplicate delivery" in serve.said
    assert serve.stop() == 0


def test_a_forged_or_missing_signature_is_refused_and_sends_nothing(sandbox, tmp_path):
    serve = Serving(tmp_path, AUTO_REPLY)
    serve.wait_serving()
    form = {"MessageSid": "SM" + "a" * 32, "From": PHONE, "To": NUMBER, "Body": "hi"}
    form |= {"NumMedia": "0", "SmsStatus": "received", "AccountSid": SID}
    signed = signature(TOKEN, serve.url(), form.items())
    forged = [
        {},
        {"X-Twilio-Signature": signature("not-the-token", serve.url(), form.items())},
        {"X-Twilio-Signature": signature(TOKEN, "http://elsewhere/auto_reply", form.items())},
        {"X-Twilio-Signature": signed, "_body": "changed"},
    ]
    for headers in forged:
        body = {**form, "Body": headers.pop("_body", form["Body"])}
        answer = httpx.post(serve.url(), data=body, headers=headers)
        assert answer.status_code == 403, headers
    good = httpx.post(serve.url(), data=form, headers={"X-Twilio-Signature": signed})
    assert (good.status_code, good.headers["content-type"]) == (200, "text/xml; charset=utf-8")
    assert good.text.endswith("<Response/>")
    wait_runs(1)
    assert replies(sandbox) == ["Thanks! You wrote: hi"]
    assert serve.said.count("refused a webhook (403)") == 4 + 1  # and wait_serving's probe
    serve.stop()


def test_behind_a_proxy_the_signature_is_checked_against_the_public_url(sandbox, tmp_path):
    public = "https://flo.example.com/hooks"
    serve = Serving(tmp_path, AUTO_REPLY, "--public-url", public)
    serve.wait_for("webhook URL https://flo.example.com/hooks/auto_reply")
    form = {"MessageSid": "SM" + "b" * 32, "From": PHONE, "To": NUMBER, "Body": "via proxy"}
    form |= {"NumMedia": "0", "SmsStatus": "received"}
    local = f"http://127.0.0.1:{serve.port}/hooks/auto_reply"
    as_signed_locally = {"X-Twilio-Signature": signature(TOKEN, local, form.items())}
    deadline = time.monotonic() + 20
    while True:
        try:
            assert httpx.post(local, data=form, headers=as_signed_locally).status_code == 403
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    publicly = {"X-Twilio-Signature": signature(TOKEN, f"{public}/auto_reply", form.items())}
    assert httpx.post(local, data=form, headers=publicly).status_code == 200
    wait_runs(1)
    serve.stop()


@pytest.mark.slow
@pytest.mark.parametrize("release", [False, True], ids=["same file", "a release moved it"])
def test_killed_after_acknowledging_and_started_again_it_replies_exactly_once(
    sandbox, tmp_path, release
):
    """Killed after answering 200 (Twilio will not deliver again), started again: the event
    is answered once. Also when deployed as ``current -> releases/v1`` and started again
    from ``current -> releases/v2``: the event is the flow's, wherever its file resolves."""
    flow, current = AUTO_REPLY, tmp_path / "current"
    if release:
        for version in ("v1", "v2"):
            (tmp_path / "releases" / version).mkdir(parents=True)
            (tmp_path / "releases" / version / "auto_reply.yaml").write_text(
                Path(AUTO_REPLY).read_text()
            )
        current.symlink_to(tmp_path / "releases/v1")
        flow = str(current / "auto_reply.yaml")
    port = free_port()
    # The settle window must outlast the sandbox's 1.5 s hold of the reply, as it must outlast
    # a real request's deadline: shorter, a resume that looks too early sends again.
    serve = Serving(tmp_path, flow, "--settle", "4", port=port)
    serve.wait_serving()
    set_sms_url(sandbox, serve.url())
    sandbox.post("/_sandbox/faults", json={"latency": 1.5}).raise_for_status()
    assert text(sandbox, "are you there?")["webhook"]["deliveries"] == [200]
    serve.wait_for("event accepted")
    time.sleep(0.5)  # the reply is on its way: the sandbox holds it 1.5 s
    serve.stop(signal.SIGKILL)
    assert not [r for r in recorded_runs() if r["status"] == "done"]
    sandbox.post("/_sandbox/faults", json={"latency": 0}).raise_for_status()
    if release:
        current.unlink()
        current.symlink_to(tmp_path / "releases/v2")
    again = Serving(tmp_path, flow, "--settle", "4", port=port)
    again.wait_for("finishing 1 events accepted before")
    (run,) = wait_runs(1)
    assert run["status"] == "done"
    assert replies(sandbox) == ["Thanks! You wrote: are you there?"]
    again.stop()


def test_attach_refuses_a_foreign_sms_url_and_puts_the_old_one_back_on_exit(sandbox, tmp_path):
    foreign = "https://example.com/their-app"
    set_sms_url(sandbox, foreign)
    refused = Serving(tmp_path, AUTO_REPLY, "--attach")
    assert refused.proc.wait(20) == 2
    assert f"already sends its incoming messages to {foreign}" in refused.said
    assert "--replace" in refused.said
    assert sms_url(sandbox)[1] == foreign

    serve = Serving(tmp_path, AUTO_REPLY, "--attach", "--replace")
    serve.wait_for("attached")
    assert sms_url(sandbox)[1] == serve.url()
    text(sandbox, "attached?")
    wait_runs(1)
    assert serve.stop(signal.SIGINT) == 0
    assert "put back the previous setting" in serve.said
    assert sms_url(sandbox)[1] == foreign

    set_sms_url(sandbox, "")
    empty = Serving(tmp_path, AUTO_REPLY, "--attach")
    empty.wait_for("attached")
    assert sms_url(sandbox)[1] == empty.url()
    assert empty.stop() == 0
    assert sms_url(sandbox)[1] == ""


def test_polling_finds_each_inbound_message_once(sandbox, tmp_path, flo_home):
    text(sandbox, "before flo serve started")  # not an event of this flo serve
    serve = Serving(tmp_path, AUTO_REPLY, "--poll", "0.1")
    store = EventStore(flo_home / "events.db")
    route = route_key("auto_reply", "twilio.incoming_message", {"to": NUMBER})
    deadline = time.monotonic() + 20
    while store.cursor(route) is None:
        assert time.monotonic() < deadline, serve.said
        time.sleep(0.05)
    text(sandbox, "one")
    text(sandbox, "two")
    wait_runs(2)
    text(sandbox, "three")
    wait_runs(3)
    serve.stop()
    again = Serving(tmp_path, AUTO_REPLY, "--poll", "0.1")
    time.sleep(1)  # several polls
    again.stop()
    assert len(recorded_runs()) == 3
    assert sorted(replies(sandbox)) == [f"Thanks! You wrote: {w}" for w in ("one", "three", "two")]


def test_a_status_callback_flow_runs_once_per_status(sandbox, tmp_path):
    serve = Serving(tmp_path, str(ROOT / "sample_flows/delivery_report.yaml"))
    serve.wait_for("webhook URL")
    hook = serve.url("delivery_report")
    sent = sandbox.post(
        f"{ACCOUNT}/Messages.json",
        data={"To": PHONE, "From": NUMBER, "Body": "report me", "StatusCallback": hook},
    ).json()
    runs = wait_runs(2)
    events = sorted(r["arguments"]["event"]["status"] for r in runs)
    assert events == ["delivered", "sent"]
    assert {r["arguments"]["event"]["messageSid"] for r in runs} == {sent["sid"]}
    shown = json.loads(flo("runs", "show", runs[0]["id"], "--json").out)
    assert shown["status"] == "done"
    serve.stop()


def test_an_api_key_account_must_give_the_auth_token(sandbox, tmp_path):
    key = sandbox.post(f"{ACCOUNT}/Keys.json", data={"FriendlyName": "k"}).json()
    values = {"account_sid": SID, "api_key": key["sid"], "api_base_url": str(sandbox.base_url)}
    AccountStore().save(
        Account("keyed", "twilio", values=values, secrets={"api_secret": key["secret"]})
    )
    refused = flo("serve", AUTO_REPLY, "--account", "keyed", "--port", str(free_port()))
    assert refused.code == 2
    assert (
        "account 'keyed' has no Auth Token" in refused.err and "--webhook-secret -" in refused.err
    )
    port = free_port()
    command = [sys.executable, "-m", "flo_twilio.cli", "serve", AUTO_REPLY, "--account", "keyed"]
    log = tmp_path / "keyed.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [*command, "--port", str(port), "--webhook-secret", "-"],
            stdin=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert proc.stdin is not None
    proc.stdin.write(TOKEN + "\n")
    proc.stdin.close()
    STARTED.append(proc)
    serve = Serving.__new__(Serving)
    serve.port, serve.log, serve.proc = port, log, proc
    serve.wait_serving()
    set_sms_url(sandbox, serve.url())
    text(sandbox, "keyed")
    wait_runs(1)
    assert replies(sandbox) == ["Thanks! You wrote: keyed"]
    serve.stop()


def test_serve_refuses_a_flow_without_a_trigger():
    result = flo("serve", str(ROOT / "sample_flows/send_sms.yaml"), "--port", "0")
    assert result.code == 2 and "flo serve runs flows with a trigger" in result.err


def test_after_a_crash_attach_still_puts_back_the_url_it_replaced(sandbox, tmp_path):
    foreign = "https://example.com/their-app"
    set_sms_url(sandbox, foreign)
    port = free_port()
    crashed = Serving(tmp_path, AUTO_REPLY, "--attach", "--replace", port=port)
    crashed.wait_for("attached")
    crashed.stop(signal.SIGKILL)
    assert sms_url(sandbox)[1] == crashed.url()
    again = Serving(tmp_path, AUTO_REPLY, "--attach", port=port)  # ours already: no --replace
    again.wait_for("attached")
    assert again.stop() == 0
    assert sms_url(sandbox)[1] == foreign


@pytest.mark.slow
@pytest.mark.parametrize("replace", [False, True])
def test_killed_then_started_at_another_url_attach_puts_back_the_original(
    sandbox, tmp_path, replace
):
    """The number points at the killed server's own (dead) URL: not someone else's, and not
    what to put back; the URL it replaced first is."""
    foreign = "https://example.com/their-app"
    set_sms_url(sandbox, foreign)
    crashed = Serving(tmp_path, AUTO_REPLY, "--attach", "--replace")
    crashed.wait_for("attached")
    crashed.stop(signal.SIGKILL)
    assert sms_url(sandbox)[1] == crashed.url()
    moved = Serving(tmp_path, AUTO_REPLY, "--attach", *(["--replace"] if replace else []))
    moved.wait_for("attached")
    assert moved.port != crashed.port and sms_url(sandbox)[1] == moved.url()
    assert moved.stop() == 0, moved.said
    assert sms_url(sandbox)[1] == foreign


def test_a_refused_public_url_does_not_show_its_password():
    from flo_twilio import InvalidInputError
    from flo_twilio.cli.cmd_serve import public_base

    wrong = ("ftp://hooks:s3cret@example.com", "https://hooks:s3cret@example.com/?a=1")
    no_port = ("https://hooks:s3cret@example.com:99999", "https://hooks:s3cret@example.com:x")
    for url in (*wrong, *no_port):  # a port that is none made every webhook a 500
        with pytest.raises(InvalidInputError, match="--public-url") as refused:
            public_base(url)
        assert "s3cret" not in str(refused.value)
    assert public_base("https://hooks:s3cret@example.com") == "https://hooks:s3cret@example.com"


@pytest.mark.slow
def test_the_password_of_a_public_url_is_not_shown_with_its_webhook_url(sandbox, tmp_path):
    """A proxy's user and password in --public-url are taken, and masked where flo prints
    the webhook URL (they were printed whole)."""
    serve = Serving(tmp_path, AUTO_REPLY, "--public-url", "https://hooks:Pr0xy-s3cret@ex.com")
    serve.wait_for("webhook URL https://***@ex.com/auto_reply")
    serve.stop()
    assert "Pr0xy-s3cret" not in serve.said


def test_a_sigterm_while_attaching_still_puts_back_the_url_it_replaced(sandbox, tmp_path):
    """The signal comes before the server serves (it took over SIGTERM only then): the
    process used to die of it, leaving its URL on the number."""
    foreign = "https://example.com/their-app"
    set_sms_url(sandbox, foreign)
    sandbox.post("/_sandbox/faults", json={"latency": 1.0}).raise_for_status()
    attaching = Serving(tmp_path, AUTO_REPLY, "--attach", "--replace")
    attaching.wait_for("webhook URL")
    time.sleep(0.5)  # in the attach's first request
    assert attaching.stop() == 0, attaching.said
    sandbox.post("/_sandbox/faults", json={"latency": 0}).raise_for_status()
    assert sms_url(sandbox)[1] == foreign
