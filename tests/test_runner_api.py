"""The runner's public API, in this process, against the sandbox over an in-process
transport: what the CLI does, a host can do with no CLI at all."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import pytest

from flo_twilio import InvalidInputError, load_registry
from flo_twilio.accounts import Account
from flo_twilio.card import CardContext
from flo_twilio.client import Credentials, RetryPolicy, TwilioClient
from flo_twilio.runner.api import Runner
from flo_twilio.runner.item_lifecycle import item_key
from flo_twilio.runner.journal import Journal
from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox.embedded import DateHeader
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT, ServerThread
from tests.sandbox_process import free_port

BULK = ROOT / "sample_flows/bulk_sms.yaml"
ROWS = ROOT / "sample_flows/recipients.csv"
SMS = {"from": "+15005550006"}

pytestmark = pytest.mark.anyio


def account(sid: str = SID) -> Account:
    return Account(
        "work",
        "twilio",
        values={"account_sid": sid, "api_base_url": "http://127.0.0.1"},
        secrets={"auth_token": TOKEN},
    )


@pytest.fixture
def sandbox():
    return SandboxState(status_delay=0.01)


@pytest.fixture
def transport(sandbox):
    return httpx.ASGITransport(DateHeader(create_app(sandbox), sandbox))


@pytest.fixture
def runner(journal_at):
    """Each test once on SQLite, once on PostgreSQL (the journal given by path or URL)."""
    return Runner(load_registry(), journal_at, settle=0.2)


def row_count() -> int:
    return len(ROWS.read_text().splitlines()) - 1


async def test_a_host_plans_checks_starts_and_executes_a_run(runner, sandbox, transport):
    plan = runner.plan(BULK, [f"recipients=@{ROWS}"])
    assert await runner.check(plan, account(), transport) == {"recipients": row_count()}
    assert sandbox.messages == {}  # checking sends nothing
    run = runner.start(plan, account(), transport)
    heard: list[str] = []
    outcome = await run.execute(on_item=lambda step, state: heard.append(state))
    assert (outcome.status, outcome.tally.done, outcome.tally.failed) == ("done", row_count(), 0)
    assert heard == ["done"] * row_count() and len(sandbox.messages) == row_count()
    status = runner.status(run.id)
    assert status["status"] == "done" and status["steps"] == {"send": {"done": row_count()}}
    assert list(runner.problems(run.id)) == [] and runner.runs()[0]["id"] == run.id
    assert outcome.as_dict()["run"] == run.id and outcome.as_dict()["done"] == row_count()


async def test_a_dry_run_shows_each_request_and_sends_nothing(runner, sandbox, transport):
    plan = runner.plan(BULK, [f"recipients=@{ROWS}"])
    shown: list[dict] = []
    tally = await runner.dry_run(plan, account(), transport, on_preview=shown.append)
    assert len(shown) == row_count() and tally.failed == 0
    assert all(request["method"] == "POST" and request["step"] == "send" for request in shown)
    assert sandbox.messages == {} and runner.runs() == []


async def test_a_bad_row_is_refused_by_check_before_anything_is_recorded(
    runner, transport, tmp_path
):
    rows = tmp_path / "rows.csv"
    rows.write_text("phone,name\n+12065550100,Ada\nnot a phone,Bob\n")
    plan = runner.plan(BULK, [f"recipients=@{rows}"])
    with pytest.raises(InvalidInputError, match=r"rows\.csv:3"):
        await runner.check(plan, account(), transport)
    assert runner.runs() == []


async def test_a_resume_looks_up_what_a_crash_left_in_flight_and_sends_it_once(
    runner, sandbox, transport
):
    plan = runner.plan(BULK, [f"recipients=@{ROWS}"])
    run = runner.start(plan, account(), transport)
    first = plan.inputs["recipients"][0]
    inputs = {"to": first["phone"], "body": f"Hi {first['name']}, welcome aboard"}
    sent = await one_send(transport, inputs)  # the crashed process's call reached the API...
    runner.journal.intent(run.id, "send", 0, item_key(SMS, inputs), inputs)  # ...then it died
    runner.journal.set_status(run.id, "interrupted")
    resumed = await runner.resume(run.id, account(), transport)
    outcome = await resumed.execute()
    assert outcome.status == "done" and len(sandbox.messages) == row_count()
    assert runner.journal.item(run.id, "send", 0).outputs["sid"] == sent  # found, not resent


async def one_send(transport, inputs) -> str:
    from flo_twilio.card import CardContext, call_card
    from flo_twilio.cards import TWILIO, SendSms

    async with TWILIO.connect(account().connection_values(), transport=transport) as client:
        outputs = await call_card(SendSms(), CardContext(client), SMS, inputs)
    return outputs["sid"]


async def test_a_run_halted_is_interrupted_and_a_resume_finishes_it(runner, sandbox, transport):
    plan = runner.plan(BULK, [f"recipients=@{ROWS}"])
    run = runner.start(plan, account(), transport)
    run.halt()  # before the first item: nothing is sent
    outcome = await run.execute()
    assert outcome.status == "interrupted" and runner.record(run.id)["status"] == "interrupted"
    assert sandbox.messages == {}
    outcome = await (await runner.resume(run.id, account(), transport)).execute()
    assert outcome.status == "done" and len(sandbox.messages) == row_count()


async def test_a_cancelled_run_is_recorded_interrupted(runner, transport):
    run = runner.start(runner.plan(BULK, [f"recipients=@{ROWS}"]), account(), transport)
    task = asyncio.create_task(run.execute())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runner.record(run.id)["status"] == "interrupted"


async def test_a_resume_on_another_account_is_refused_before_anything_is_sent(
    runner, sandbox, transport
):
    run = runner.start(runner.plan(BULK, [f"recipients=@{ROWS}"]), account(), transport)
    run.halt()
    await run.execute()
    other = "AC" + "2" * 32
    with pytest.raises(InvalidInputError, match=f"now {other}"):
        await runner.resume(run.id, account(other), transport)
    assert sandbox.messages == {}


def readme_example() -> str:
    text = (ROOT / "docs" / "hosts.md").read_text()
    section = text.split("## Run a flow from Python", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_runs_a_flow(flo_home, capsys):
    state = SandboxState(status_delay=0.01)
    code = (
        readme_example()
        .replace('"AC..."', f'"{SID}"')
        .replace('"auth_token": "..."', f'"auth_token": "{TOKEN}"')
    )
    with ServerThread(create_app(state)) as server, contextlib.chdir(ROOT):
        exec(
            compile(code.replace("http://127.0.0.1:4010", server.url), "docs/hosts.md", "exec"), {}
        )
    run_id, status, done = capsys.readouterr().out.split()
    assert (status, int(done)) == ("done", row_count()) and len(state.messages) == row_count()
    assert Journal(flo_home / "runs.db").run(run_id)["status"] == "done"
    assert not (ROOT / "runs.db").exists()


class Counted(httpx.AsyncBaseTransport):
    """A host that never lets a connection be made (not a refusal on this machine, which is
    not tried again), counting the requests it is given."""

    requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        Counted.requests += 1
        raise httpx.ConnectTimeout("the connection timed out")


@contextlib.asynccontextmanager
async def one_try_a_call(registry, account, transport):
    """The account's connection, over the network, with no retry of the client's own: each
    request counted is one try of the engine's."""
    async with TwilioClient(
        Credentials.of(SID, auth_token=TOKEN),
        api_base_url=account.values["api_base_url"],
        transport=Counted(),
        retry=RetryPolicy(max_attempts=1),
    ) as client:
        yield CardContext(client, {"sid": SID}, account_id=SID, provider="Twilio")


@pytest.mark.parametrize("given", ["argument", "environment"])
async def test_a_dead_api_fails_the_run_after_the_pauses_given(given, tmp_path, monkeypatch):
    """No connection can be made: each of the 1 + 3 tries fails, after pauses of
    0.01 s rather than the default 1, 5 and 15 s (an argument wins over the environment)."""
    pauses = (0.01, 0.01, 0.01)
    monkeypatch.setenv("FLO_RETRY_PAUSES", "0.01, 0.01,0.01" if given == "environment" else "9")
    runner = Runner(
        load_registry(),
        Journal(tmp_path / "runs.db"),
        retry_pauses=pauses if given == "argument" else None,
        connect=one_try_a_call,
    )
    assert runner.retry_pauses == pauses
    dead = Account(
        "dead",
        "twilio",
        values={"account_sid": SID, "api_base_url": f"http://127.0.0.1:{free_port()}"},
        secrets={"auth_token": TOKEN},
    )
    run = runner.start(runner.plan(ROOT / "sample_flows/send_sms.yaml"), dead)
    Counted.requests = 0
    started = time.monotonic()
    outcome = await run.execute()
    assert time.monotonic() - started < 5
    assert outcome.status == "failed" and outcome.tally.failed == 1, outcome
    assert Counted.requests == 4  # the first try and three more
    assert "timed out" in runner.journal.item(run.id, "sms", 0).error["message"]


def test_the_retry_pauses_default_to_1_5_and_15_seconds(tmp_path, monkeypatch):
    monkeypatch.delenv("FLO_RETRY_PAUSES", raising=False)
    assert Runner(load_registry(), Journal(tmp_path / "runs.db")).retry_pauses == (1, 5, 15)
    with pytest.raises(InvalidInputError, match="0 seconds or more"):
        Runner(load_registry(), Journal(tmp_path / "runs.db"), retry_pauses=(1, -1))


class AnswerLost(httpx.AsyncBaseTransport):
    """The sandbox, except that the first answer to a ``method`` request is lost after the
    sandbox acted on it (the connection drops while the answer is on its way)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, method: str) -> None:
        self.inner, self.method, self.lost = inner, method, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == self.method and not self.lost:
            self.lost += 1
            await response.aread()
            raise httpx.ReadError("connection reset while reading the answer")
        return response


async def test_a_delete_whose_answer_was_lost_is_looked_up_and_ends_done(
    runner, sandbox, transport, tmp_path
):
    sid = await one_send(transport, {"to": "+12065550100", "body": "to be deleted"})
    flow = tmp_path / "delete.yaml"
    flow.write_text(
        "flo: 1\nname: delete\ninputs:\n  sid: {type: string}\n"
        "steps:\n  - id: delete\n    card: twilio.delete_message\n"
        "    inputs: {sid: '${{ inputs.sid }}'}\n"
    )
    lossy = AnswerLost(transport, "DELETE")
    plan = runner.plan(flow, [f"sid={sid}"])
    outcome = await runner.start(plan, account(), lossy).execute()
    assert lossy.lost == 1 and sid not in sandbox.messages
    item = runner.journal.item(outcome.run_id, "delete", 0)
    assert (outcome.status, item.state) == ("done", "done"), item.error
    assert item.outputs == {"sid": sid, "deleted": True}
