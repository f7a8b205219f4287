"""Opt-outs: a campaign sends nothing to a recipient who opted out of its sender, journals
why and counts them; the list is kept in the journal's store (SQLite and PostgreSQL), fed by
STOP/START texts and by Twilio's 21610, and the sandbox refuses a send after a STOP."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from flo_twilio.card import Audience
from flo_twilio.cards.triggers import IncomingMessage
from flo_twilio.runner.api import Runner
from flo_twilio.runner.journal import Journal
from flo_twilio.runner.journal_schema import first_schema
from flo_twilio.runner.journal_store import SqliteStore
from flo_twilio.runner.optouts import OptOuts
from flo_twilio.sandbox import SandboxState
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from flo_twilio.trigger import Event
from tests.test_runner_api import account, runner, sandbox, transport

__all__ = ["runner", "sandbox", "transport"]  # fixtures, shared with test_runner_api
pytestmark = pytest.mark.anyio

SENDER = "+15005550006"  # a number of the sandbox's account
PHONES = ["+12065550100", "+12065550101", "+12065550102", "+12065550103"]
CAMPAIGN = f"""\
flo: 1
name: campaign
inputs:
  recipients:
    type: array
    items: {{type: object, required: [phone]}}
steps:
  - id: send
    card: twilio.send_sms
    for_each: ${{{{ inputs.recipients }}}}
    on_error: continue
    options: {{from: "{SENDER}"}}
    inputs:
      to: ${{{{ item.phone }}}}
      body: "Our winter sale starts today"
"""


@pytest.fixture
def campaign(tmp_path):
    flow = tmp_path / "campaign.yaml"
    flow.write_text(CAMPAIGN)
    rows = tmp_path / "rows.csv"
    rows.write_text("phone\n" + "\n".join(PHONES) + "\n")
    return flow, rows


def opt_out(runner: Runner, phone: str, sender: str = SENDER, source: str = "added") -> None:
    lists = OptOuts(runner.journal)
    lists.add(SID, Audience(phone, (sender,)), source)
    lists.commit()


def sent_to(sandbox: SandboxState) -> set[str]:
    return {m["to"] for m in sandbox.messages.values() if m.get("direction") != "inbound"}


async def text(transport, phone: str, body: str, to: str = SENDER) -> None:
    """A phone texts one of the account's numbers (the sandbox's inbound route)."""
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1", auth=(SID, TOKEN)
    ) as http:
        answer = await http.post("/_sandbox/inbound", json={"from": phone, "to": to, "body": body})
        answer.raise_for_status()


async def test_a_campaign_sends_nothing_to_who_opted_out_and_journals_why(
    runner, sandbox, transport, campaign
):
    flow, rows = campaign
    opt_out(runner, PHONES[1], source="keyword")
    opt_out(runner, PHONES[2], sender="+15558675310")  # another sender's list: sent to
    plan = runner.plan(flow, [f"recipients=@{rows}"])
    await runner.check(plan, account(), transport)
    run = runner.start(plan, account(), transport)
    held = runner.journal.item(run.id, "send", 1)  # journalled before anything is sent
    assert held is not None and held.state == "skipped" and sandbox.messages == {}
    outcome = await run.execute()
    assert outcome.status == "done"
    assert sent_to(sandbox) == {PHONES[0], PHONES[2], PHONES[3]}
    assert (outcome.tally.skipped, outcome.tally.opted_out, outcome.tally.done) == (1, 1, 3)
    assert str(outcome.tally) == "3 done, 1 skipped (1 opted out), 0 failed, 0 unknown"
    item = runner.journal.item(run.id, "send", 1)
    assert item.state == "skipped" and item.error["type"] == "OptedOut"
    why = f"opted out of {SENDER} (replied with an opt-out keyword)"
    assert item.error["message"] == why and outcome.tally.reasons == {why: 1}
    assert PHONES[1] not in why  # the reason, counted in the summary, names no one
    assert runner.record(run.id)["summary"]["opted_out"] == 1


async def test_an_opt_out_recorded_mid_run_holds_back_the_items_not_yet_sent(
    runner, sandbox, transport, campaign, monkeypatch
):
    import flo_twilio.runner.optouts as optouts

    monkeypatch.setattr(optouts, "REFRESH_SECONDS", 0.0)  # re-read before every item
    flow, rows = campaign
    flow.write_text(
        CAMPAIGN.replace("on_error: continue", "on_error: continue\n    concurrency: 1")
    )

    class StopAfterTheFirstSend(httpx.AsyncBaseTransport):
        """Someone texts STOP (recorded by flo serve) while the campaign is under way."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and not sent_to(sandbox):
                opt_out(runner, PHONES[3], source="keyword")
            return await transport.handle_async_request(request)

    plan = runner.plan(flow, [f"recipients=@{rows}"])
    await runner.check(plan, account(), transport)
    run = runner.start(plan, account(), StopAfterTheFirstSend())
    outcome = await run.execute()
    assert sent_to(sandbox) == set(PHONES[:3])
    assert (outcome.status, outcome.tally.opted_out, outcome.tally.done) == ("done", 1, 3)


async def test_a_dry_run_shows_who_would_be_held_back(runner, sandbox, transport, campaign):
    flow, rows = campaign
    opt_out(runner, PHONES[0])
    shown: list[dict] = []
    plan = runner.plan(flow, [f"recipients=@{rows}"])
    tally = await runner.dry_run(plan, account(), transport, on_preview=shown.append)
    assert len(shown) == 3 and tally.opted_out == 1 and tally.failed == 0
    assert sandbox.messages == {} and runner.runs() == []


async def test_a_messaging_service_sid_in_capitals_is_the_same_sender(
    runner, sandbox, transport, campaign
):
    flow, rows = campaign
    service = "MG" + "abcdef0123456789" * 2  # as Twilio writes it
    flow.write_text(CAMPAIGN.replace(f'from: "{SENDER}"', f'messagingServiceSid: "{service}"'))
    opt_out(runner, PHONES[0], sender=service.upper())  # typed in capitals
    opt_out(runner, PHONES[1], sender=service.upper())
    OptOuts(runner.journal).remove(SID, Audience(PHONES[1], (service,)))
    assert [e.recipient for e in OptOuts(runner.journal).listed(SID, service.upper())] == [
        PHONES[0]
    ]
    plan = runner.plan(flow, [f"recipients=@{rows}"])
    tally = await runner.dry_run(plan, account(), transport, on_preview=lambda _: None)
    assert tally.opted_out == 1


async def test_a_21610_mid_run_puts_the_recipient_on_the_list(runner, sandbox, transport, campaign):
    flow, rows = campaign
    await text(transport, PHONES[3], "Stop")  # told Twilio, never flo
    assert OptOuts(runner.journal).listed(SID) == []
    plan = runner.plan(flow, [f"recipients=@{rows}"])
    await runner.check(plan, account(), transport)
    run = runner.start(plan, account(), transport)
    outcome = await run.execute()
    assert (outcome.status, outcome.tally.failed, outcome.tally.opted_out) == ("failed", 1, 0)
    assert runner.journal.item(run.id, "send", 3).error["code"] == 21610  # Twilio's refusal
    assert sent_to(sandbox) == set(PHONES[:3])
    listed = OptOuts(runner.journal).listed(SID)
    assert [(e.sender, e.recipient, e.source) for e in listed] == [(SENDER, PHONES[3], "refused")]
    again = runner.plan(flow, [f"recipients=@{rows}"])  # the next campaign: not even tried
    await runner.check(again, account(), transport)
    assert [(step, index) for step, index, _ in again.held_back] == [("send", 3)]


async def test_the_sandbox_refuses_after_stop_and_accepts_after_start_help_changes_nothing(
    sandbox, transport
):
    async def send() -> int:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", auth=(SID, TOKEN)
        ) as http:
            answer = await http.post(
                f"/2010-04-01/Accounts/{SID}/Messages.json",
                data={"To": PHONES[0], "From": SENDER, "Body": "hello"},
            )
            return answer.json().get("code") or answer.status_code

    await text(transport, PHONES[0], "  stop ")
    assert await send() == 21610
    await text(transport, PHONES[0], "HELP")
    assert await send() == 21610
    await text(transport, PHONES[0], "start")
    assert await send() == 201


def incoming(body: str, service: str | None = None) -> Event:
    outputs = {"from": PHONES[0], "to": SENDER, "body": body, "messagingServiceSid": service}
    return Event(outputs)


@pytest.mark.parametrize(
    ("body", "opted_out"),
    [
        ("STOP", True),
        (" stopall\n", True),
        ("Unsubscribe", True),
        ("cancel", True),
        ("END", True),
        ("quit", True),
        ("START", False),
        ("yes", False),
        ("Unstop", False),
        ("HELP", None),
        ("stop please", None),
        ("please stop", None),
        ("", None),
    ],
)
def test_the_keywords_are_twilios_matched_on_the_whole_trimmed_body(body, opted_out):
    change = IncomingMessage().consent(incoming(body))
    assert (change.opted_out if change else None) == opted_out
    if change:
        assert change.audience == Audience(PHONES[0], (SENDER,))


def test_a_stop_to_a_number_of_a_messaging_service_opts_out_of_both():
    change = IncomingMessage().consent(incoming("STOP", service="MG" + "1" * 32))
    assert change is not None and change.audience.senders == (SENDER, "MG" + "1" * 32)


async def test_ignore_opt_outs_transactional_sends_to_them_anyway(
    runner, sandbox, transport, campaign
):
    flow, rows = campaign
    flow.write_text(
        CAMPAIGN.replace("    on_error:", "    ignore_opt_outs: transactional\n    on_error:")
    )
    opt_out(runner, PHONES[0])
    plan = runner.plan(flow, [f"recipients=@{rows}"])
    await runner.check(plan, account(), transport)
    outcome = await runner.start(plan, account(), transport).execute()
    assert outcome.tally.opted_out == 0 and sent_to(sandbox) == set(PHONES)


def test_ignore_opt_outs_takes_only_transactional(runner, tmp_path):
    from flo_twilio.errors import InvalidInputError

    flow = tmp_path / "campaign.yaml"
    flow.write_text(CAMPAIGN.replace("    on_error:", "    ignore_opt_outs: yes\n    on_error:"))
    with pytest.raises(InvalidInputError, match=r"campaign\.yaml:\d+:\d+.*transactional"):
        runner.plan(flow, ["recipients=[]"])


def test_a_journal_made_before_opt_outs_keeps_its_runs_and_gains_the_list(tmp_path):
    path = tmp_path / "runs.db"
    store = SqliteStore(path)
    db = store.connect()
    first_schema(db, store)  # a journal of version 1
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (1)")
    db.execute("INSERT INTO runs (id, flow, status) VALUES ('old', 'welcome', 'done')")
    db.close()
    journal = Journal(path)
    assert journal.run("old")["flow"] == "welcome"
    OptOuts(journal).add(SID, Audience(PHONES[0], (SENDER,)), "added")
    assert [e.recipient for e in OptOuts(journal).listed(SID)] == [PHONES[0]]
    journal.close()
    versions = sqlite3.connect(path).execute("SELECT version FROM schema_version").fetchall()
    assert versions == [(1,), (2,)]
