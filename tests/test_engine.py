"""Engine rules for uncertain outcomes, with a world-changing card of our own and a real journal."""

from __future__ import annotations

from typing import ClassVar

import pytest

from flo_twilio import Card, CardContext, Registry
from flo_twilio.client import TwilioTransportError
from flo_twilio.errors import OutcomeUnknownError
from flo_twilio.manifests import Manifest
from flo_twilio.runner.engine import Engine, item_key
from flo_twilio.runner.flow import load_flow
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
}


class Send(Card):
    """Counts its calls; ``outcome`` decides what a call does, ``lookup`` what reconcile finds."""

    name = "demo.send"
    manifest = Manifest(MANIFEST)
    calls: ClassVar[list[str]] = []
    outcome = "ok"
    lookup: object = None

    def changes_world(self, options):
        return True

    async def run(self, ctx, options, inputs):
        Send.calls.append(inputs["to"])
        if Send.outcome == "unknown":
            raise OutcomeUnknownError("POST", "/x", "HTTP 500")
        return {"sid": f"S-{inputs['to']}"}

    async def reconcile(self, ctx, options, inputs, since, exclude=frozenset()):
        if isinstance(Send.lookup, Exception):
            raise Send.lookup
        return Send.lookup


@pytest.fixture
def flow(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text("flo: 1\nsteps:\n  - id: s\n    card: demo.send\n    inputs: {to: a}\n")
    Send.calls, Send.outcome, Send.lookup = [], "ok", None
    return load_flow(path, Registry(cards={"demo.send": Send}))


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path / "runs.db")


async def run(flow, journal, run_id, **kwargs):
    engine = Engine(flow, CardContext(None), journal, run_id, **kwargs)
    try:
        await engine.run({})
    except Exception as exc:  # the step failing is part of what is checked
        return engine, exc
    return engine, None


async def test_an_unknown_outcome_found_by_reconcile_is_done(flow, journal):
    Send.outcome, Send.lookup = "unknown", {"sid": "S-found"}
    engine, error = await run(flow, journal, "r1")
    assert error is None and engine.tally.done == 1
    assert journal.items("r1")[0].outputs == {"sid": "S-found"}


async def test_an_interrupted_intent_is_reconciled_not_resent(flow, journal):
    journal.intent("r2", "s", 0, item_key({}, {"to": "a"}), {"to": "a"})  # died mid-call
    Send.lookup = {"sid": "S-was-sent"}
    _, error = await run(flow, journal, "r2")
    assert error is None and Send.calls == []


async def test_not_found_is_resent_only_when_asked(flow, journal):
    Send.outcome = "unknown"
    _, error = await run(flow, journal, "r3")
    assert error is not None and journal.items("r3")[0].state == "unknown"
    Send.outcome = "ok"
    _, error = await run(flow, journal, "r3")
    assert error is not None and Send.calls == ["a"]  # the first try only
    _, error = await run(flow, journal, "r3", resend_unknown=True)
    assert error is None and Send.calls == ["a", "a"] and journal.items("r3")[0].state == "done"


async def test_a_failed_look_up_never_resends_even_when_asked(flow, journal):
    Send.outcome = "unknown"
    await run(flow, journal, "r4")
    Send.outcome, Send.lookup = "ok", TwilioTransportError("no answer")
    _, error = await run(flow, journal, "r4", resend_unknown=True)
    assert error is not None and Send.calls == ["a"]
    item = journal.items("r4")[0]
    assert item.state == "unknown" and "could not look it up" in item.error["message"]
