"""Pacing by segments, per sender: segments counted as Twilio counts them, each sender held
to its rate (measured on the sandbox, which queues a sender's messages as Twilio does and
refuses with 21611, or fails with 30001, what overflows), and a run's summary that says
how many segments it sent and what its pacing needed.

The measured scale is settable: $FLO_TEST_SENDER_RATE segments a second per sender
(default 10) for about $FLO_TEST_PACING_SECONDS (default 2); with a rate of 1 it measures a
US long code's pace."""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from typing import Any

import pytest

from flo_twilio.accounts import AccountStore
from flo_twilio.cards.twilio_connection import connect
from flo_twilio.client import TwilioApiError
from flo_twilio.client.segments import count_segments
from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.message_rules import segments as sandbox_segments
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.conftest import sandbox_client
from tests.helpers import ServerThread
from tests.inprocess import run_flo as flo

RATE = float(os.environ.get("FLO_TEST_SENDER_RATE", "10"))
SECONDS = float(os.environ.get("FLO_TEST_PACING_SECONDS", "2"))
pytestmark = pytest.mark.anyio
LONG_CODES = ("+15005550006", "+15017122661")  # two senders, each paced on its own


@pytest.mark.parametrize(
    ("body", "segments", "encoding"),
    [
        ("", 1, "GSM-7"),
        ("a" * 160, 1, "GSM-7"),
        ("a" * 161, 2, "GSM-7"),
        ("a" * 306, 2, "GSM-7"),
        ("a" * 307, 3, "GSM-7"),
        ("{" * 80, 1, "GSM-7"),  # extension characters count 2
        ("{" * 81, 2, "GSM-7"),
        ("€" + "a" * 159, 2, "GSM-7"),
        ("a" * 68 + "😀", 1, "UCS-2"),  # an emoji is 2 UTF-16 units: 70
        ("a" * 69 + "😀", 2, "UCS-2"),  # one emoji makes the whole body UCS-2
        ("a" * 134, 1, "GSM-7"),
        ("\u2019" + "a" * 133, 2, "UCS-2"),  # a curly quote too: 134 units, 2 parts of 67
        ("\u2019" + "a" * 134, 3, "UCS-2"),
        ("é" * 160, 1, "GSM-7"),  # é is in GSM-7
        ("ê" * 70, 1, "UCS-2"),  # ê is not
        ("ê" * 71, 2, "UCS-2"),
        ("ê" * 134, 2, "UCS-2"),
        ("ê" * 135, 3, "UCS-2"),
    ],
)
def test_segments_are_counted_as_twilio_counts_them(body, segments, encoding):
    counted = count_segments(body)
    assert (counted.count, counted.encoding) == (segments, encoding)
    assert sandbox_segments(body) == segments  # the sandbox's own count agrees


def message(sender: str, body: str, n: int) -> dict[str, str]:
    return {"To": f"+1206555{n:04d}", "From": sender, "Body": body}


async def send_all(client, messages) -> list[dict | TwilioApiError]:
    async def send(params):
        try:
            return await client.create_message(params)
        except TwilioApiError as exc:
            return exc

    return await asyncio.gather(*(send(params) for params in messages))


def campaign() -> list[dict[str, str]]:
    """About SECONDS of segments at RATE for each long code: one-segment texts from the
    first, two-segment ones (an emoji makes them UCS-2) from the second."""
    count = max(4, round(RATE * SECONDS))
    short = [message(LONG_CODES[0], "Hi, your order shipped", n) for n in range(count)]
    long = [message(LONG_CODES[1], "😀" + "x" * 70, 1000 + n) for n in range(count // 2)]
    return short + long


def achieved_rates(state: SandboxState) -> dict[str, float]:
    """Each sender's segments a second, as the sandbox saw them created: the segments of
    all its messages but the last, over the time from its first to its last."""
    created: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for record in state.messages.values():
        created[record["from"]].append((record["created"], sandbox_segments(record["body"])))
    rates = {}
    for sender, moments in created.items():
        moments.sort()
        span = moments[-1][0] - moments[0][0]
        rates[sender] = sum(n for _, n in moments[:-1]) / span
    return rates


@pytest.mark.slow  # about $FLO_TEST_PACING_SECONDS
async def test_each_sender_is_held_to_its_rate_in_segments_on_the_sandbox():
    state = SandboxState(status_delay=0.05)
    app = create_app(state, Faults(sender_rate=RATE, queue_seconds=1.5 / RATE))
    rates = dict.fromkeys(LONG_CODES, RATE)
    async with sandbox_client(app, sender_rates=rates) as client:
        answers = await send_all(client, campaign())
        assert client.usage()["segments"] == len(answers) // 3 * 2 * 2
    refused = [a for a in answers if isinstance(a, TwilioApiError)]
    assert refused == []  # paced: no sender's queue ever overflowed
    measured = achieved_rates(state)
    print(f"segments a second per sender, at {RATE:g} each: {measured}")
    for sender in LONG_CODES:
        assert abs(measured[sender] - RATE) <= 0.1 * RATE, measured


def stopped_clock_sandbox() -> tuple[SandboxState, list[float], Any]:
    """A sandbox whose clock moves only when the test moves it (``clock[0]``), sending
    RATE segments a second per sender with a queue of 1.5 segments' time."""
    clock = [1_000_000.0]
    state = SandboxState(status_delay=1.0, clock=lambda: clock[0])
    return state, clock, create_app(state, Faults(sender_rate=RATE, queue_seconds=1.5 / RATE))


async def test_a_sender_that_outpaces_its_queue_is_refused_with_21611():
    state, _, app = stopped_clock_sandbox()
    async with sandbox_client(app) as client:  # no pacing: all at once
        answers = await send_all(client, [message(LONG_CODES[0], "hi", n) for n in range(5)])
    codes = [a.code if isinstance(a, TwilioApiError) else "sent" for a in answers]
    assert codes == ["sent", "sent", 21611, 21611, 21611]  # queued 0, then 1 segment's time
    assert len(state.messages) == 2  # a refused message is not kept


async def test_a_messaging_services_overflow_fails_after_creation_with_30001():
    state, clock, app = stopped_clock_sandbox()
    service = state.services[SID]
    params = [
        {"To": f"+1206555{n:04d}", "MessagingServiceSid": service, "Body": "hi"} for n in range(4)
    ]
    async with sandbox_client(app) as client:
        created = await send_all(client, params)
        assert [m["status"] for m in created] == ["accepted"] * 4  # all taken
        clock[0] += 60
        listed = {m["to"]: m async for m in client.messages()}
    ends = [(listed[p["To"]]["status"], listed[p["To"]]["error_code"]) for p in params]
    assert ends == [("delivered", None)] * 2 + [("failed", 30001)] * 2


def add_account(url: str, *extra: str):
    return flo(
        "accounts", "add", "paced", "--account-sid", SID, "--auth-token", "-",
        "--api-base-url", url, *extra, input=TOKEN + "\n",
    )  # fmt: skip


FLOW = """\
flo: 1
name: paced
inputs:
  to: {type: array}
steps:
  - id: send
    card: twilio.send_sms
    for_each: ${{ inputs.to }}
    concurrency: 10
    options: {from: "+15005550006"}
    inputs: {to: "${{ item }}", body: "%s"}
"""


def test_an_account_sets_each_senders_rate_and_a_run_says_what_pacing_needed(tmp_path):
    service = "MG" + "a" * 32
    with ServerThread(create_app(SandboxState(status_delay=0.01))) as sandbox:
        wrong_rates = ("=0", "=nan", "=inf", "=-1", "=1e-308", "=5e-324")  # 1e-308: waits forever
        wrongs = ("+15005550006", "15005550006=1", "MGxyz=2", "+1=", "=", "=1")
        for wrong in (*wrongs, *(f"+15005550006{rate}" for rate in wrong_rates)):
            refused = add_account(sandbox.url, "--sender-rate", wrong)
            assert refused.code == 2 and f"sender_rate (--sender-rate) '{wrong}'" in refused.err
        added = add_account(
            sandbox.url, "--sender-rate", "+15005550006=20", "--sender-rate", f"{service}=3"
        )
        assert added.code == 0, added.err
        client = connect(AccountStore().get("paced").connection_values())
        assert client.pacing.sender_rates == {"+15005550006": 20.0, service: 3.0}
        assert client.pacing.rate("+15017122661") is None  # no max_per_second: not paced
        asyncio.run(client.aclose())
        flow = tmp_path / "flow.yaml"
        flow.write_text(FLOW % ("x" * 200), encoding="utf-8")  # 2 segments each
        to = '["+12065550100", "+12065550101", "+12065550102", "+12065550103"]'
        ran = flo("run", str(flow), "--account", "paced", "--input", f"to={to}")
    assert ran.code == 0, ran.err
    assert "8 message segments; pacing by segments per sender needed 0.4s" in ran.err


@pytest.mark.slow  # a PostgreSQL server
async def test_a_senders_pace_is_shared_by_every_process_on_one_database(postgres_url):
    """Two clients (as in two processes) on one PostgreSQL journal: a sender's segments
    are spaced across both; another sender is not held back by it."""
    from time import monotonic

    from flo_twilio.client.pacing import SenderPacing
    from flo_twilio.runner.shared_limits import PostgresLimits

    limits = PostgresLimits(postgres_url)

    def pacing() -> SenderPacing:
        return SenderPacing(10.0, gate_for=lambda s, r: limits.gate(f"twilio:{SID}:{s}", None, r))

    first, second = pacing(), pacing()
    try:
        await first.wait(LONG_CODES[0], 1)  # connections opened, the pace begun
        began = monotonic()
        await first.wait(LONG_CODES[0], 3)  # at once: the first took 0.1 s of the pace
        await second.wait(LONG_CODES[0], 1)  # after the 3 segments: 0.3 s more
        held = monotonic() - began
        began = monotonic()
        await second.wait(LONG_CODES[1], 1)  # another sender: its own pace
        other = monotonic() - began
    finally:
        await first.aclose()
        await second.aclose()
    assert 0.9 * 0.4 <= held < 1.0 and other < 0.3, (held, other)
