"""Engine rules for uncertain outcomes, with a world-changing card of our own and a real
journal: unknown is not failed, the settle window, one resend, trouble kept to its item."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, ClassVar

import pytest

from flo_twilio import Card, CardContext, Registry
from flo_twilio.client import TwilioApiError, TwilioTransportError
from flo_twilio.errors import OutcomeUnknownError
from flo_twilio.manifests import Manifest
from flo_twilio.runner import engine as engine_module
from flo_twilio.runner.engine import Engine, StepFailed
from flo_twilio.runner.flow import load_flow
from flo_twilio.runner.item_lifecycle import item_key
from flo_twilio.runner.journal import Journal

pytestmark = pytest.mark.anyio

MANIFEST = {
    "name": "demo.send",
    "title": "Send",
    "description": "Sends (pretend).",
    "connection": None,
    "options": {"type": "object", "properties": {}},
    "inputs": {
        "type": "object",
        "required": ["to"],
        "properties": {"to": {"type": "string", "description": "Who."}},
    },
    "outputs": {"type": "object", "properties": {"sid": {"type": "string", "description": "Id."}}},
    "resultId": "sid",
}
SETTLE = 0.3
SLOW = 2.0  # seconds a "slow" call takes


class Send(Card):
    """Counts its calls. ``script[to]`` says what each call for ``to`` does in turn (ok,
    unknown, 429, boom, bad); ``lookups[to]`` what each look-up finds in turn (a value, or
    an exception to raise); both default to the plain outcome."""

    name = "demo.send"
    manifest = Manifest(MANIFEST)
    calls: ClassVar[list[str]] = []
    script: ClassVar[dict[str, list[str]]] = {}
    lookups: ClassVar[dict[str, list[Any]]] = {}
    looked: ClassVar[list[str]] = []

    def changes_world(self, options):
        return True

    async def run(self, ctx, options, inputs):
        to = inputs["to"]
        Send.calls.append(to)
        await asyncio.sleep(0.001)
        what = Send.script.get(to, []).pop(0) if Send.script.get(to) else "ok"
        if what == "unknown":
            raise OutcomeUnknownError("POST", "/x", "HTTP 500")
        if what == "429":
            raise TwilioApiError(429, 20429, "Too Many Requests")
        if what == "boom":
            raise ValueError("the card tripped")
        if what == "bad":
            return {"sid": 5}
        if what == "slow":
            await asyncio.sleep(SLOW)
        return {"sid": f"S-{to}-{len(Send.calls)}"}

    async def reconcile(self, ctx, options, inputs, since, exclude=frozenset()):
        to = inputs["to"]
        Send.looked.append(to)
        found = Send.lookups.get(to, []).pop(0) if Send.lookups.get(to) else None
        if isinstance(found, Exception):
            raise found
        return found


class Shy(Send):
    """A card that cannot look its calls up."""

    name = "demo.shy"
    manifest = Manifest({**MANIFEST, "name": "demo.shy"})

    async def reconcile(self, ctx, options, inputs, since, exclude=frozenset()):
        raise NotImplementedError


CARDS = Registry(cards={"demo.send": Send, "demo.shy": Shy})


@pytest.fixture(autouse=True)
def fresh():
    Send.calls, Send.script, Send.lookups, Send.looked = [], {}, {}, []


def flow_of(tmp_path, text: str):
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    return load_flow(path, CARDS)


@pytest.fixture
def single(tmp_path):
    return flow_of(
        tmp_path, "flo: 1\nsteps:\n  - id: s\n    card: demo.send\n    inputs: {to: a}\n"
    )


def bulk(tmp_path, on_error="continue", card="demo.send"):
    return flow_of(
        tmp_path,
        "flo: 1\ninputs:\n  to: {type: array}\nsteps:\n  - id: s\n"
        f"    card: {card}\n    for_each: ${{{{ inputs.to }}}}\n    concurrency: 3\n"
        f"    on_error: {on_error}\n    inputs: {{to: '${{{{ item }}}}'}}\n"
        "outputs:\n  all: ${{ steps.s.outputs }}\n",
    )


@pytest.fixture
def journal(journal_at):
    """Each test once on SQLite, once on PostgreSQL."""
    return Journal(journal_at)


async def run(flow, journal, run_id, inputs=None, **kwargs):
    states: list[str] = []
    waits: list[str] = []
    kwargs.setdefault("settle", SETTLE)
    engine = Engine(
        flow,
        CardContext(None, {"sid": "AC1"}, account_id="AC1"),
        journal,
        run_id,
        on_item=lambda step, state: states.append(state),
        on_wait=lambda step, message: waits.append(message),
        **kwargs,
    )
    try:
        outputs = await engine.run(inputs or {})
    except Exception as exc:  # the step failing is part of what is checked
        return engine, exc, states, waits
    engine.outputs_seen = outputs
    return engine, None, states, waits


def rows(journal, run_id, step="s"):
    return list(journal.items(run_id, step))


async def test_an_unknown_outcome_found_by_reconcile_is_done_and_claimed(single, journal):
    Send.script["a"], Send.lookups["a"] = ["unknown"], [{"sid": "S-found"}]
    engine, error, _, _ = await run(single, journal, "r1")
    assert error is None and engine.tally.done == 1 and Send.calls == ["a"]
    assert rows(journal, "r1")[0].outputs == {"sid": "S-found"}
    assert "S-found" in journal.claimed("AC1") and "S-found" not in journal.claimed("AC2")


async def test_an_interrupted_intent_is_reconciled_not_resent(single, journal):
    journal.intent("r2", "s", 0, item_key({}, {"to": "a"}), {"to": "a"})  # died mid-call
    Send.lookups["a"] = [{"sid": "S-was-sent"}]
    _, error, _, _ = await run(single, journal, "r2")
    assert error is None and Send.calls == []


async def test_not_found_waits_the_settle_window_says_so_then_sends_once_more(single, journal):
    journal.intent("r3", "s", 0, item_key({}, {"to": "a"}), {"to": "a"})  # died just now
    started = time.monotonic()
    _engine, error, states, waits = await run(single, journal, "r3")
    assert error is None and Send.calls == ["a"] and Send.looked == ["a", "a"]
    assert time.monotonic() - started >= SETTLE * 0.9  # it waited before looking again
    assert any("waiting up to" in w and "1 item whose outcome is unknown" in w for w in waits)
    item = rows(journal, "r3")[0]
    assert item.state == "done" and item.started > 0 and states == ["done"]


async def test_an_old_intent_not_found_is_sent_again_at_once(single, journal):
    journal.intent("r4", "s", 0, item_key({}, {"to": "a"}), {"to": "a"})
    journal.db.execute("UPDATE items SET started = started - 3600")
    _, error, _, waits = await run(single, journal, "r4", settle=60)
    assert error is None and Send.calls == ["a"] and Send.looked == ["a"] and not waits


async def test_a_resend_is_made_once_then_the_item_stays_unknown(single, journal):
    Send.script["a"] = ["unknown", "unknown", "unknown"]
    engine, error, states, _ = await run(single, journal, "r5")
    assert Send.calls == ["a", "a"]  # the first try, and one resend after the settle window
    assert isinstance(error, StepFailed) and states == ["unknown"]
    assert rows(journal, "r5")[0].state == "unknown" and engine.tally.unknown == 1


async def test_unknown_never_stops_the_step_and_the_rest_goes_on(tmp_path, journal):
    flow = bulk(tmp_path, on_error="stop")
    Send.script["b"] = ["unknown"]
    Send.lookups["b"] = [TwilioTransportError("down"), TwilioTransportError("down")]
    engine, error, states, _ = await run(flow, journal, "r6", {"to": list("abcdef")})
    assert sorted(Send.calls) == list("abcdef")  # b once: its look-up kept failing
    assert engine.tally.done == 5 and engine.tally.unknown == 1 and error is None
    assert sorted(states) == ["done"] * 5 + ["unknown"]
    [b] = [i for i in rows(journal, "r6") if i.index == 1]
    assert b.state == "unknown" and "could not look it up" in b.error["message"]


async def test_a_failed_look_up_never_resends_even_when_asked(single, journal):
    journal.intent("r7", "s", 0, item_key({}, {"to": "a"}), {"to": "a"})
    Send.lookups["a"] = [TwilioTransportError("no answer")] * 4
    _, error, _, _ = await run(single, journal, "r7", resend_unknown=True)
    assert error is not None and Send.calls == []
    item = rows(journal, "r7")[0]
    assert item.state == "unknown" and "could not look it up" in item.error["message"]


async def test_resend_unknown_sends_without_waiting(single, journal):
    journal.intent("r8", "s", 0, item_key({}, {"to": "a"}), {"to": "a"})
    _, error, _, waits = await run(single, journal, "r8", resend_unknown=True, settle=60)
    assert error is None and Send.calls == ["a"] and not waits


async def test_a_card_that_cannot_look_up_stays_unknown_until_the_operator_says(tmp_path, journal):
    flow = bulk(tmp_path, card="demo.shy")
    Send.script["a"] = ["unknown"]
    engine, _, _, _ = await run(flow, journal, "r9", {"to": ["a"]})
    assert engine.tally.unknown == 1 and Send.calls == ["a"]
    assert "--resend-unknown" in rows(journal, "r9")[0].error["message"]
    engine, _, _, _ = await run(flow, journal, "r9", {"to": ["a"]})
    assert engine.tally.unknown == 1 and Send.calls == ["a"]
    engine, _, _, _ = await run(flow, journal, "r9", {"to": ["a"]}, resend_unknown=True)
    assert engine.tally.done == 1 and Send.calls == ["a", "a"]


async def test_any_exception_in_an_item_stays_in_that_item(tmp_path, journal):
    flow = bulk(tmp_path, card="demo.shy")
    Send.script["b"] = ["boom"]
    engine, error, _, _ = await run(flow, journal, "r10", {"to": list("abc")})
    assert error is None and engine.tally.done == 2 and engine.tally.unknown == 1
    [b] = [i for i in rows(journal, "r10") if i.index == 1]
    assert b.state == "unknown" and "the card tripped" in b.error["message"]
    assert {i.state for i in rows(journal, "r10")} == {"done", "unknown"}  # nothing left intent


async def test_a_call_the_api_did_not_take_is_sent_again_after_a_pause(tmp_path, journal):
    Send.script["a"] = ["429", "429"]
    Send.script["b"] = ["429", "429", "429"]
    to = {"to": ["a", "b"]}
    engine, _, states, _ = await run(bulk(tmp_path), journal, "r11", to, retry_pauses=(0.01, 0.01))
    assert Send.calls.count("a") == 3 and Send.calls.count("b") == 3
    assert (
        engine.tally.done == 1
        and engine.tally.failed == 1
        and sorted(states)
        == [
            "done",
            "failed",
        ]
    )
    assert "Twilio 20429" in engine.tally.reasons.popitem()[0]


async def test_outputs_that_break_the_manifest_fail_the_item_and_are_not_sent_again(
    single, journal
):
    Send.script["a"] = ["bad"]
    engine, error, _, _ = await run(single, journal, "r12")
    item = rows(journal, "r12")[0]
    assert item.state == "failed" and item.error["happened"] is True
    assert "break its manifest" in item.error["message"] and isinstance(error, StepFailed)
    engine, error, _, _ = await run(single, journal, "r12")
    assert Send.calls == ["a"] and engine.tally.failed == 1


async def test_a_broken_item_list_ends_the_step_leaving_what_was_in_flight_to_a_resume(
    tmp_path, journal
):
    def recipients():
        yield from "abcd"
        raise OSError("the disk went away")

    flow = bulk(tmp_path)
    _engine, error, _, _ = await run(flow, journal, "r13", {"to": recipients()})
    assert isinstance(error, StepFailed) and "cannot read item 5: the disk went away" in str(error)
    states = [i.state for i in rows(journal, "r13")]
    assert len(states) == 4 and set(states) == {"done", "intent"}  # in flight: cancelled
    for to, state in zip("abcd", states, strict=True):
        if state == "intent":
            Send.lookups[to] = [{"sid": f"S-{to}-found"}]
    calls = list(Send.calls)
    _engine, error, _, _ = await run(flow, journal, "r13", {"to": list("abcd")})
    assert error is None and [i.state for i in rows(journal, "r13")] == ["done"] * 4
    assert Send.calls == calls  # looked up, not sent again


async def test_once_the_run_fails_the_items_in_flight_stop_calling_the_card(tmp_path, journal):
    """A sibling's slow call is cancelled (its intent kept for a resume), not waited for."""
    Send.script["a"] = ["slow"]

    def recipients():
        yield from "abc"  # a is slow; b and c are done when the next read breaks
        raise OSError("the disk went away")

    started = time.monotonic()
    _engine, error, _, _ = await run(bulk(tmp_path), journal, "r19", {"to": recipients()})
    assert isinstance(error, StepFailed) and time.monotonic() - started < SLOW / 2
    assert [i.state for i in rows(journal, "r19")] == ["intent", "done", "done"]
    assert sorted(Send.calls) == ["a", "b", "c"]


async def test_outputs_are_read_from_the_journal_in_input_order(tmp_path, journal):
    Send.script["b"] = ["429"]
    to = {"to": list("abc")}
    engine, _, _, _ = await run(bulk(tmp_path), journal, "r14", to, settle=0, retry_pauses=())
    sent = engine.outputs_seen["all"]
    assert len(sent) == 3 and sent[1] is None and sent[2]["sid"].startswith("S-c")
    assert [o and o["sid"][:3] for o in sent] == ["S-a", None, "S-c"]


async def test_outputs_keep_their_places_when_a_row_is_missing(tmp_path, journal):
    await run(bulk(tmp_path), journal, "r18", {"to": list("abc")})
    journal.db.execute("DELETE FROM items WHERE idx = 1")
    outputs = journal.outputs("r18", "s", 3)
    assert [o and o["sid"][:3] for o in outputs] == ["S-a", None, "S-c"]
    assert outputs[1] is None and outputs[-1]["sid"].startswith("S-c") and len(outputs) == 3
    assert json.loads(str(outputs)) == list(outputs)  # interpolated as a list would be


async def test_no_journal_row_makes_a_resume_crash(tmp_path, journal):
    flow = bulk(tmp_path)
    await run(flow, journal, "r15", {"to": list("abcd")})
    for damage in (
        "UPDATE items SET outputs = '{not json' WHERE idx = 0",
        "UPDATE items SET state = 'weird', error = '[', key = NULL, started = NULL WHERE idx = 1",
        "UPDATE items SET inputs = NULL, state = 'intent' WHERE idx = 2",
    ):
        journal.db.execute(damage)
    Send.lookups["b"] = [{"sid": "S-b-found"}]
    engine, error, _, _ = await run(flow, journal, "r15", {"to": list("abcd")})
    assert error is None and engine.tally.done == 4 and Send.calls == [*"abcd", "c"]


async def test_progress_and_summary_count_the_same(tmp_path, journal):
    Send.script.update({"b": ["429"], "c": ["unknown", "unknown"]})
    to = {"to": list("abcd")}
    engine, _, states, _ = await run(bulk(tmp_path), journal, "r16", to, retry_pauses=())
    tally = engine.tally
    assert (tally.done, tally.failed, tally.unknown) == (2, 1, 1)
    assert sorted(states) == sorted(["done"] * 2 + ["failed", "unknown"])
    counts = dict(journal.db.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall())
    assert counts == {"done": 2, "failed": 1, "unknown": 1}


async def test_a_halt_while_waiting_stops_at_once_and_loses_nothing(single, journal):
    journal.intent("r17", "s", 0, item_key({}, {"to": "a"}), {"to": "a"})
    engine = Engine(
        single, CardContext(None, {"sid": "AC1"}, account_id="AC1"), journal, "r17", settle=30
    )
    task = asyncio.create_task(engine.run({}))
    await asyncio.sleep(0.2)
    engine.halt.set()
    with pytest.raises(engine_module.Halted):
        await asyncio.wait_for(task, 2)
    assert Send.calls == [] and rows(journal, "r17")[0].state == "unknown"


async def test_a_result_another_item_claimed_is_never_taken_even_if_a_look_up_finds_it(
    single, journal
):
    """The journal's exclusive claim: a look-up that finds a result already claimed by an
    item of another run (a card that ignores ``exclude``, or a race) does not take it; the
    item is looked up again and, still not found after the settle window, sent once."""
    assert journal.finish(
        "r0", "s", 0, "done", outputs={"sid": "S-taken"}, claim=("AC1", "S-taken")
    )
    journal.intent("r9", "s", 0, item_key({}, {"to": "a"}), {"to": "a"})  # died mid-call
    Send.lookups["a"] = [{"sid": "S-taken"}]
    _, error, _, _ = await run(single, journal, "r9")
    assert error is None and Send.calls == ["a"]
    assert rows(journal, "r9")[0].outputs["sid"] != "S-taken"
    assert rows(journal, "r0")[0].outputs == {"sid": "S-taken"}
    owner = journal.db.execute("SELECT run_id FROM claims WHERE sid = 'S-taken'").fetchall()
    assert owner == [("r0",)]


def test_an_exclusive_claim_of_a_taken_result_writes_nothing(journal):
    assert journal.finish("r0", "s", 0, "done", outputs={"sid": "S1"}, claim=("AC1", "S1"))
    taken = journal.finish(
        "r1", "s", 0, "done", outputs={"sid": "S1"}, claim=("AC1", "S1"), exclusive=True
    )
    assert taken is False and journal.item("r1", "s", 0) is None
    again = journal.finish(  # the item that holds the claim may record it again
        "r0", "s", 0, "done", outputs={"sid": "S1"}, claim=("AC1", "S1"), exclusive=True
    )
    assert again is True
