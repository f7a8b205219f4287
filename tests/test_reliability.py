"""The promise: every recipient gets exactly one message, however the run is interrupted,
whatever is edited between a crash and a resume, and whatever the API answers.

The drills run a bulk send against a sandbox in another process (it outlives the runner
killed with SIGKILL), then type ONE plain ``flo resume``, and count messages through the
sandbox's Messages list. The full-size drill sends to 4,000 recipients through 20 kills of
the runner, the sandbox too killed and restarted after about half of them; the two others
mix the API's faults (429s with ambiguous 500s, or with dropped connections: the engine's
and the client's tests pin how each is handled, in-process) and send to 800 through 6.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flo_twilio import CardContext, load_registry
from flo_twilio.accounts import Account, AccountStore
from flo_twilio.cards import SendSms
from flo_twilio.client import Credentials, TwilioClient
from flo_twilio.runner.engine import Engine
from flo_twilio.runner.flow import load_flow
from flo_twilio.runner.item_lifecycle import item_key
from flo_twilio.runner.journal import Journal
from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.embedded import DateHeader
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.conftest import FAST_RETRY
from tests.helpers import ROOT, ServerThread, flo
from tests.sandbox_process import free_port, wait_until_serving

SETTLE = "0.5"  # seconds: the drills' requests take milliseconds
FULL_SIZE = "sandbox killed and restarted"


@dataclass(frozen=True)
class Drill:
    faults: list[str]  # the sandbox's fault flags
    recipients: int = 800
    kills: int = 6  # of the runner, each after 20 to 120 items, or sooner after 0.05 to 1.5 s


AMBIGUOUS = ["--rate-429", "0.3", "--ambiguous-rate", "0.15"]
DRILLS = {
    FULL_SIZE: Drill([], recipients=4000, kills=20),
    "30% 429s, 15% ambiguous 500s": Drill(AMBIGUOUS),
    "30% 429s, 15% dropped connections": Drill([*AMBIGUOUS, "--ambiguous-mode", "drop"]),
}


class SandboxProcess:
    """``flo sandbox --db`` in its own process, on a fixed port, to kill and start again."""

    def __init__(self, db: Path, *args: str) -> None:
        self.port, self.args = free_port(), [*args, "--db", str(db), "--status-delay", "3600"]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flo_twilio.cli",
                "sandbox",
                "--port",
                str(self.port),
                *self.args,
            ],
            stderr=subprocess.DEVNULL,
        )
        wait_until_serving(
            self.proc,
            lambda: httpx.get(f"{self.url}/_sandbox/faults", auth=(SID, TOKEN)).raise_for_status(),
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def messages_per_recipient(url: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    next_page = f"/2010-04-01/Accounts/{SID}/Messages.json?PageSize=1000"
    with httpx.Client(base_url=url, auth=(SID, TOKEN)) as http:
        drills_off = {"rate_429": 0, "rate_500": 0, "rate_503": 0, "ambiguous_rate": 0}
        http.post("/_sandbox/faults", json=drills_off).raise_for_status()  # count, do not drill
        while next_page:
            page = http.get(next_page).json()
            counts.update(m["to"] for m in page["messages"])
            next_page = page["next_page_uri"]
    return counts


def start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "flo_twilio.cli", *args],
        cwd=ROOT,
        env={**os.environ, "FLO_SETTLE_SECONDS": SETTLE},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def read_journal(db: Path, query: str, *args: object, default: object = 0) -> object:
    """One value from the runner's journal, read-only (the runner may be writing)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as journal:
            row = journal.execute(query, args).fetchone()
    except sqlite3.Error:
        return default
    return row[0] if row else default


def items_touched_since(db: Path, moment: float) -> int:
    return int(read_journal(db, "SELECT COUNT(*) FROM items WHERE updated > ?", moment))  # type: ignore[call-overload]


def kill_at_random(
    proc: subprocess.Popen[bytes], rng: random.Random, journal: Path, sandbox: SandboxProcess | None
) -> bool:
    """SIGKILL at a random moment: after a random number of items, sometimes sooner, after a
    random time (start-up, look-ups, waits). With ``sandbox``, it too may be killed (and
    started again) on the way. False when the process had already finished."""
    begun = time.time()
    by_items = rng.random() < 0.75
    target, until = rng.randint(20, 120), time.monotonic() + rng.uniform(0.05, 1.5)
    sandbox_at = rng.randint(5, 60) if sandbox is not None and rng.random() < 0.5 else None
    while proc.poll() is None:
        touched = items_touched_since(journal, begun)
        if sandbox_at is not None and touched >= sandbox_at:
            sandbox.kill()
            time.sleep(rng.uniform(0.05, 0.4))
            sandbox.start()
            sandbox_at = None
        if touched >= target or (not by_items and time.monotonic() >= until):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.01)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("drill", list(DRILLS))
def test_killed_runs_finish_with_one_plain_resume_and_send_exactly_once(tmp_path, flo_home, drill):
    rng, size = random.Random(f"flo-{drill}"), DRILLS[drill]
    rows = tmp_path / "rows.csv"
    recipients = [f"+1206558{i:04d}" for i in range(size.recipients)]
    rows.write_text("phone,name\n" + "".join(f"{p},R{i}\n" for i, p in enumerate(recipients)))
    sandbox = SandboxProcess(tmp_path / "sandbox.db", *size.faults, "--latency", "0.002")
    restarts = sandbox if drill == FULL_SIZE else None
    journal = flo_home / "runs.db"
    try:
        sandbox.start()
        AccountStore().save(
            Account(
                "drill",
                "twilio",
                values={"account_sid": SID, "api_base_url": sandbox.url},
                secrets={"auth_token": TOKEN},
            )
        )
        kills = 0
        run = ["run", "sample_flows/bulk_sms.yaml", "--input", f"recipients=@{rows}"]
        while kills < size.kills:
            run_id = read_journal(journal, "SELECT id FROM runs", default=None)
            if read_journal(journal, "SELECT status FROM runs", default=None) == "done":
                break  # a fast machine finished before every kill: the drill has less to say
            command = ["resume", str(run_id)] if run_id else run
            kills += kill_at_random(start(*command), rng, journal, restarts)
        assert kills >= size.kills // 2, (
            f"the run ended after {kills} kills: give it more recipients"
        )
        if restarts and restarts.kills == 0:
            restarts.kill()
            restarts.start()
        run_id = json.loads(flo("runs", "list", "--json").out)[0]["id"]
        final = flo("resume", run_id, env={"FLO_SETTLE_SECONDS": SETTLE})
        assert final.code == 0, final.err
        counts = messages_per_recipient(sandbox.url)
    finally:
        sandbox.stop()
    missing = [r for r in recipients if counts[r] == 0]
    doubled = {r: n for r, n in counts.items() if n > 1}
    assert not missing and not doubled, f"missing {len(missing)}, doubled {doubled}"
    assert sum(counts.values()) == size.recipients
    shown = json.loads(flo("runs", "show", run_id, "--json").out)
    assert shown["status"] == "done" and shown["steps"]["send"] == {"done": size.recipients}
    if "is already done" not in final.err:  # a killed attempt's resume may have finished it
        assert (
            f"{size.recipients} done, 0 failed, 0 unknown" in final.err
        )  # progress and summary agree
    print(f"{drill}: {kills} runner kills, {sandbox.kills} sandbox kills")


# Each way the promise broke before, one test.

SMS_FLOW = """flo: 1
steps:
  - id: sms
    card: twilio.send_sms
    options: {from: "+15005550006"}
    inputs: {to: "+12065550123", body: Hi Ada}
outputs:
  sid: ${{ steps.sms.outputs.sid }}
"""


def api_client(app) -> TwilioClient:
    return TwilioClient(
        Credentials.of(SID, auth_token=TOKEN),
        api_base_url="http://127.0.0.1",
        transport=httpx.ASGITransport(app),
        retry=FAST_RETRY,
    )


def sandbox_client(state: SandboxState, faults: Faults | None = None) -> TwilioClient:
    """The sandbox in-process, with the Date header a socket server would send."""
    return api_client(DateHeader(create_app(state, faults or Faults()), state))


async def send_hi(tmp_path: Path, journal: Journal, run_id: str, client: TwilioClient, **kwargs):
    path = tmp_path / "sms.yaml"
    path.write_text(SMS_FLOW)
    flow = load_flow(path, load_registry())
    engine = Engine(
        flow, CardContext(client, {"sid": SID}, account_id=SID), journal, run_id, **kwargs
    )
    try:
        return engine, await engine.run({})
    except Exception as exc:  # an unfinished step is part of what is checked
        return engine, exc


def crashed_after_intent(journal: Journal, run_id: str) -> None:
    """What a run killed between its intent and its request leaves in the journal."""
    inputs = {"to": "+12065550123", "body": "Hi Ada"}
    key = item_key({"from": "+15005550006"}, inputs)
    journal.intent(run_id, "sms", 0, key, inputs)


@pytest.mark.anyio
async def test_an_earlier_runs_identical_message_is_never_taken(tmp_path):
    state, journal = SandboxState(status_delay=3600), Journal(tmp_path / "runs.db")
    async with sandbox_client(state) as client:
        _, first = await send_hi(tmp_path, journal, "r1", client)
        crashed_after_intent(journal, "r2")
        _, second = await send_hi(tmp_path, journal, "r2", client, settle=0.2)
    assert len(state.messages) == 2 and second["sid"] != first["sid"]
    assert journal.item("r2", "sms", 0).outputs["sid"] == second["sid"]


@pytest.mark.anyio
async def test_a_look_up_takes_nothing_created_before_the_intent(tmp_path):
    moment: list[float | None] = [time.time() - 60]
    state = SandboxState(status_delay=3600, clock=lambda: moment[0] or time.time())
    journal = Journal(tmp_path / "runs.db")
    async with sandbox_client(state) as client:
        await client.create_message(
            {"To": "+12065550123", "From": "+15005550006", "Body": "Hi Ada"}
        )  # a minute ago, by another tool
        moment[0] = None
        crashed_after_intent(journal, "r1")
        engine, _outputs = await send_hi(tmp_path, journal, "r1", client, settle=0.2)
    assert len(state.messages) == 2 and engine.tally.done == 1


@pytest.mark.anyio
async def test_the_look_up_window_follows_the_apis_clock(tmp_path):
    state = SandboxState(status_delay=3600, clock=lambda: time.time() - 300)  # 5 minutes slow
    journal = Journal(tmp_path / "runs.db")
    async with sandbox_client(state, Faults(ambiguous_rate=1.0)) as client:
        engine, outputs = await send_hi(tmp_path, journal, "r1", client, settle=30)
    assert engine.tally.done == 1 and list(state.messages) == [outputs["sid"]]


@pytest.mark.anyio
async def test_a_look_up_finds_bodies_twilio_rewrote():
    state, to, service = SandboxState(status_delay=3600), "+12065550123", "MG" + SID[2:]
    sent = "\u201cHi Ada\u201d \u2014 code 12\u2026\tsee https://example.com/a/long/path?x=1 ok"
    stored = '"Hi Ada" - code 12...       see https://twil.io/x7Yz ok'  # Smart Encoding, short link
    options, inputs = (
        {"messagingServiceSid": service},
        {"to": to, "body": sent, "shortenUrls": True},
    )
    async with sandbox_client(state) as client:
        ctx = CardContext(client, {"sid": SID}, account_id=SID)
        since = time.time()
        await client.create_message({"To": to, "MessagingServiceSid": service, "Body": stored})
        found = await SendSms().reconcile(ctx, options, inputs, since)
        assert found is not None and found["body"] == stored
        other = {**inputs, "body": sent.replace("Ada", "Bob")}
        assert await SendSms().reconcile(ctx, options, other, since) is None
        unshortened = {**inputs, "shortenUrls": False}
        assert await SendSms().reconcile(ctx, options, unshortened, since) is None


def answering(create: Response) -> Starlette:
    """An API that answers a message create with ``create``, and lists no messages."""

    async def messages(request: Request) -> Response:
        if request.method == "POST":
            return create
        return JSONResponse({"messages": [], "next_page_uri": None})

    path = f"/2010-04-01/Accounts/{SID}/Messages.json"
    return Starlette(routes=[Route(path, messages, methods=["GET", "POST"])])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "state", "says"),
    [
        (
            Response(status_code=302, headers={"location": "https://elsewhere.example/"}),
            "failed",
            "redirect to https://elsewhere.example/",
        ),
        (
            Response("<p>Welcome to the hotel wifi</p>", media_type="text/html"),
            "unknown",
            "HTTP 200 without sid (text/html",
        ),
        (JSONResponse({}, status_code=201), "unknown", "HTTP 201 without sid"),
    ],
    ids=["3xx", "non-JSON 200", "201 without a message"],
)
async def test_only_a_real_result_counts_as_done(tmp_path, answer, state, says):
    journal = Journal(tmp_path / "runs.db")
    async with api_client(answering(answer)) as client:
        engine, error = await send_hi(tmp_path, journal, "r1", client, settle=0.05)
    item = journal.item("r1", "sms", 0)
    assert item.state == state and says in item.error["message"], item.error
    assert engine.tally.done == 0 and isinstance(error, Exception)


@pytest.fixture
def live(flo_home):
    """A sandbox on loopback, connected as the default account 'live'."""
    state = SandboxState(status_delay=3600)
    with ServerThread(create_app(state, Faults())) as server:
        AccountStore().save(
            Account(
                "live",
                "twilio",
                values={"account_sid": SID, "api_base_url": server.url},
                secrets={"auth_token": TOKEN},
            )
        )
        server.state = state
        yield server


def test_a_header_http_cannot_carry_fails_its_item_only(live, tmp_path, flo_home):
    """The header comes from an earlier step's outputs, so only the run itself can find it
    (input-only values are refused by the pre-pass before anything is sent)."""
    flow = tmp_path / "keys.yaml"
    flow.write_text(
        """flo: 1
inputs:
  notes: {type: array}
steps:
  - id: keys
    card: twilio.custom_api
    for_each: ${{ inputs.notes }}
    options: {method: POST}
    inputs:
      relativeUrl: /Accounts/${{ account.sid }}/Keys.json
      query: {FriendlyName: "${{ item }}"}
  - id: echo
    card: twilio.custom_api
    for_each: ${{ steps.keys.outputs }}
    on_error: continue
    options: {method: POST}
    inputs:
      relativeUrl: /Accounts/${{ account.sid }}/Keys.json
      query: {FriendlyName: "again ${{ item.body.friendly_name }}"}
      headers: {X-Note: "${{ item.body.friendly_name }}"}
"""
    )
    result = flo("run", str(flow), "--input", 'notes=["plain", "caf\u00e9", "also plain"]')
    assert result.code == 1 and "internal error" not in result.err, result.err
    assert "5 done, 1 failed, 0 unknown" in result.err
    assert "X-Note" in result.err
    names = sorted(k.friendly_name for k in live.state.keys.values())
    assert names == ["again also plain", "again plain", "also plain", "café", "plain"]
    states = read_journal(flo_home / "runs.db", "SELECT group_concat(state) FROM items")
    assert sorted(str(states).split(",")) == ["done"] * 5 + ["failed"]


def test_an_output_that_cannot_be_rendered_fails_the_run_with_its_place(live):
    AccountStore().save(
        Account(
            "live",
            "twilio",
            values={"account_sid": SID, "api_base_url": live.url},
            secrets={"auth_token": "a-wrong-token-00000000000000000000"},
        )
    )
    result = flo("run", "sample_flows/custom_api.yaml")
    assert result.code == 1 and "internal error" not in result.err, result.err
    assert "sample_flows/custom_api.yaml:15:" in result.err
    assert "outputs.messages cannot be rendered" in result.err
    [run] = json.loads(flo("runs", "list", "--json").out)
    assert run["status"] == "failed" and run["counts"] == {"done": 1}


@pytest.mark.parametrize(
    ("answer", "says", "code"),
    [
        ({"sid": "AC" + "9" * 32, "friendly_name": "Someone else"}, "is not that account", 2),
        ("<html>captive portal</html>", "has no resource", 1),
    ],
    ids=["another account", "not JSON"],
)
def test_accounts_verify_checks_the_answer_is_the_account(answer, says, code):
    async def account(request: Request) -> Response:
        if isinstance(answer, dict):
            return JSONResponse(answer)
        return Response(answer, media_type="text/html")

    app = Starlette(routes=[Route(f"/2010-04-01/Accounts/{SID}.json", account)])
    with ServerThread(app) as server:
        result = flo(
            "accounts", "add", "odd", "--account-sid", SID, "--auth-token", "-",
            "--api-base-url", server.url, input=TOKEN,
        )  # fmt: skip
    assert result.code == code and says in result.err and "connected" not in result.err


def test_a_run_on_the_built_in_sandbox_is_resumed_and_listed(tmp_path, flo_home):
    rows = tmp_path / "rows.csv"
    recipients = [f"+1206557{i:04d}" for i in range(300)]
    rows.write_text("phone,name\n" + "".join(f"{p},R{i}\n" for i, p in enumerate(recipients)))
    proc = start("run", "sample_flows/bulk_sms.yaml", "--input", f"recipients=@{rows}")
    journal = flo_home / "runs.db"
    while proc.poll() is None and items_touched_since(journal, 0) < 60:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_id = str(read_journal(journal, "SELECT id FROM runs"))
    resumed = flo("resume", run_id, env={"FLO_SETTLE_SECONDS": SETTLE})
    assert resumed.code == 0, resumed.err
    assert (flo_home / "sandbox.db").stat().st_mode & 0o777 == 0o600  # it holds bodies
    state = SandboxState(db_path=flo_home / "sandbox.db")
    assert Counter(m["to"] for m in state.messages.values()) == Counter(recipients)
    listed = json.loads(flo("run", "sample_flows/custom_api.yaml").out)
    assert listed["statusCode"] == 200 and len(listed["messages"]) == 20
