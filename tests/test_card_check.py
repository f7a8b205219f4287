"""A card's ``check``: a named part of the contract, run by the pre-pass, the dry run and
``call_card`` before anything is sent, through one path (``runner/calls.py`` and
``card.call_problems``); and one client per ``flo run``."""

from __future__ import annotations

import asyncio
import importlib
import sys
from typing import Any, ClassVar

import httpx
import pytest

from flo_twilio import load_registry
from flo_twilio.card import Card, CardContext, call_card
from flo_twilio.cards import messages
from flo_twilio.client import TwilioClient
from flo_twilio.errors import InvalidInputError, Problem
from flo_twilio.manifests import Manifest
from flo_twilio.plugins import Registry
from flo_twilio.runner.api import Runner
from flo_twilio.runner.journal import open_journal
from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox.embedded import DateHeader
from tests.helpers import ROOT
from tests.inprocess import builtin_sandbox, run_flo
from tests.test_runner_api import account

BULK = ROOT / "sample_flows/bulk_sms.yaml"
ROWS = ROOT / "sample_flows/recipients.csv"
SEND_SMS = ROOT / "sample_flows/send_sms.yaml"


@pytest.fixture
def sandbox() -> SandboxState:
    return SandboxState(status_delay=0.01)


@pytest.fixture
def transport(sandbox: SandboxState) -> httpx.AsyncBaseTransport:
    return httpx.ASGITransport(DateHeader(create_app(sandbox), sandbox))


def counting(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Count the calls of ``owner.name`` (a function or a class's ``__init__``)."""
    calls: list[int] = []
    real = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_message_params_runs_once_per_item_from_check_to_end(
    tmp_path, sandbox, transport, monkeypatch
):
    """The pre-pass checks each row with the card's check, not by building the request;
    the run builds it once."""
    params = counting(monkeypatch, messages, "message_params")
    runner = Runner(load_registry(), tmp_path / "runs.db", settle=0.2)
    plan = runner.plan(BULK, [f"recipients=@{ROWS}"])
    rows = len(ROWS.read_text().splitlines()) - 1

    async def check_and_run() -> str:
        await runner.check(plan, account(), transport)
        outcome = await runner.start(plan, account(), transport).execute()
        return outcome.status

    assert asyncio.run(check_and_run()) == "done" and len(sandbox.messages) == rows
    assert len(params) == rows


def test_a_flo_run_opens_one_client_from_the_check_to_the_end(flo_home, monkeypatch):
    state = builtin_sandbox(monkeypatch)
    clients = counting(monkeypatch, TwilioClient, "__init__")
    result = run_flo("run", str(SEND_SMS), "--json")
    assert result.code == 0, result.err
    assert len(state.messages) == 1 and len(clients) == 1


def test_a_dry_run_opens_one_client_for_its_check_and_its_requests(flo_home, monkeypatch):
    builtin_sandbox(monkeypatch)
    clients = counting(monkeypatch, TwilioClient, "__init__")
    result = run_flo("run", str(SEND_SMS), "--dry-run")
    assert result.code == 0, result.err
    assert '"Body"' in result.out and len(clients) == 1


def test_a_resume_opens_one_client_for_its_check_and_its_run(flo_home, monkeypatch):
    builtin_sandbox(monkeypatch)
    first = run_flo("run", str(SEND_SMS), "--json")
    assert first.code == 0, first.err
    run_id = first.out.split('"run": "', 1)[1].split('"', 1)[0]
    open_journal(None).set_status(run_id, "interrupted", {})
    clients = counting(monkeypatch, TwilioClient, "__init__")
    again = run_flo("resume", run_id)
    assert again.code == 0, again.err
    assert len(clients) == 1


SPAN = {
    "name": "demo.span",
    "title": "Span",
    "description": "From one number to a larger one.",
    "connection": None,
    "options": {"type": "object", "properties": {}},
    "inputs": {
        "type": "object",
        "required": ["low", "high"],
        "properties": {
            "low": {"type": "integer", "description": "From."},
            "high": {"type": "integer", "description": "To."},
        },
    },
    "outputs": {"type": "object", "properties": {}},
}
REFUSAL = Problem("inputs.high must be above inputs.low", hint="swap them")


class Span(Card):
    """Checks its rule in ``check``; counts its runs."""

    name = "demo.span"
    manifest = Manifest(SPAN)
    runs: ClassVar[list[Any]] = []

    def check(self, options, inputs):
        if inputs["high"] <= inputs["low"]:
            raise InvalidInputError([REFUSAL])

    async def run(self, ctx, options, inputs):
        Span.runs.append(inputs)
        return {}


class OldSpan(Card):
    """A card written before ``check``: its rule is in ``preview``."""

    name = "demo.old_span"
    manifest = Manifest({**SPAN, "name": "demo.old_span"})

    def preview(self, ctx, options, inputs):
        if inputs["high"] <= inputs["low"]:
            raise InvalidInputError([REFUSAL])
        return {"span": [inputs["low"], inputs["high"]]}

    async def run(self, ctx, options, inputs):
        return {}


def test_call_card_runs_the_check_before_run_and_refuses_what_breaks_it():
    Span.runs = []
    ctx = CardContext(None)
    with pytest.raises(InvalidInputError) as refused:
        asyncio.run(call_card(Span(), ctx, {}, {"low": 3, "high": 2}))
    assert refused.value.problems == [REFUSAL] and Span.runs == []
    assert asyncio.run(call_card(Span(), ctx, {}, {"low": 1, "high": 2})) == {}
    assert Span.runs == [{"low": 1, "high": 2}]


@pytest.mark.parametrize("card", ["demo.span", "demo.old_span"])
def test_the_pre_pass_and_the_dry_run_refuse_a_call_that_breaks_a_card_s_check(
    card, tmp_path, transport
):
    """A card's check, or the preview of a card written before check, refuses the row in
    the pre-pass (located) and the item in the dry run; nothing runs."""
    Span.runs = []
    builtin = load_registry()
    registry = Registry(
        cards={**builtin.cards, "demo.span": Span, "demo.old_span": OldSpan},
        connections=builtin.connections,
    )
    flow = tmp_path / "spans.yaml"
    flow.write_text(
        "flo: 1\ninputs:\n  spans: {type: array}\nsteps:\n  - id: s\n"
        f"    card: {card}\n    for_each: ${{{{ inputs.spans }}}}\n"
        "    inputs: {low: '${{ item.low }}', high: '${{ item.high }}'}\n"
    )
    runner = Runner(registry, tmp_path / "runs.db", settle=0.2)
    plan = runner.plan(flow, ['spans=[{"low": 1, "high": 2}, {"low": 5, "high": 4}]'])
    with pytest.raises(InvalidInputError) as refused:
        asyncio.run(runner.check(plan, account(), transport))
    assert [p.message for p in refused.value.problems] == [
        "step s item 1: inputs.high must be above inputs.low"
    ]
    assert refused.value.problems[0].where.startswith(f"{flow}:")
    tally = asyncio.run(runner.dry_run(plan, account(), transport))
    assert tally.failed == 1 and Span.runs == []


@pytest.fixture
def book_room(tmp_path, monkeypatch):
    """The card of docs/adding-a-check.md's example, imported as a plugin module."""
    text = (ROOT / "docs/adding-a-check.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "book_room_plugin.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "book_room_plugin", raising=False)
    return importlib.import_module("book_room_plugin").BookRoom


def test_the_docs_example_card_checks_its_rule_in_the_pre_pass_and_runs(
    book_room, tmp_path, transport, sandbox
):
    builtin = load_registry()
    registry = Registry(
        cards={**builtin.cards, book_room.name: book_room}, connections=builtin.connections
    )
    flow = tmp_path / "book.yaml"
    flow.write_text(
        "flo: 1\ninputs:\n  bookings: {type: array}\nsteps:\n  - id: book\n"
        "    card: demo.book_room\n    for_each: ${{ inputs.bookings }}\n"
        "    inputs: {room: '${{ item.room }}', arrive: '${{ item.arrive }}', "
        "leave: '${{ item.leave }}'}\n"
        "outputs:\n  booked: ${{ steps.book.outputs }}\n"
    )
    rows = tmp_path / "bookings.csv"
    rows.write_text("room,arrive,leave\nblue,2026-12-08,2026-12-10\nred,2026-12-09,2026-12-09\n")
    runner = Runner(registry, tmp_path / "runs.db", settle=0.2)
    plan = runner.plan(flow, [f"bookings=@{rows}"])
    with pytest.raises(InvalidInputError) as refused:
        asyncio.run(runner.check(plan, account(), transport))
    assert [str(p) for p in refused.value.problems] == [
        f"{rows}:3:1: step book: inputs.leave must come after inputs.arrive "
        "(leave on a later day than the one you arrive)"
    ]
    rows.write_text("room,arrive,leave\nblue,2026-12-08,2026-12-10\n")
    plan = runner.plan(flow, [f"bookings=@{rows}"])

    async def check_and_run() -> Any:
        await runner.check(plan, account(), transport)
        return await runner.start(plan, account(), transport).execute()

    outcome = asyncio.run(check_and_run())
    assert outcome.status == "done" and list(outcome.outputs["booked"]) == [{"nights": 2}]
