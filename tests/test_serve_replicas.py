# ruff: noqa: F811  (the fixture sandbox comes from test_serve)
"""``flo serve`` replicas: several processes on one flow share its events in PostgreSQL
(``FLO_JOURNAL``), behind one public URL. Each delivery is posted to both; one replica is
killed mid-burst; every event answered 200 runs once. Attached, the number keeps its one
original webhook, put back when the last live replica leaves."""

from __future__ import annotations

import signal
import time
from collections import Counter

import httpx
import pytest

from flo_twilio.client.signature import signature
from flo_twilio.runner import process
from tests.postgres import flo_db
from tests.test_serve import (  # noqa: F401 - fixtures
    ACCOUNT,
    AUTO_REPLY,
    NUMBER,
    PHONE,
    TOKEN,
    Serving,
    no_server_left,
    sandbox,
    set_sms_url,
    sms_url,
)

psycopg = pytest.importorskip("psycopg")

PUBLIC = "https://flo.example.com/hooks"  # the load balancer's URL, shared by the replicas
HOOK = f"{PUBLIC}/auto_reply"
DELIVERIES, KILLED_AFTER = 16, 8


@pytest.fixture
def shared(postgres_url, monkeypatch):
    """Replicas started from here share one PostgreSQL database and beat every 0.2 s (a
    1.2 s window)."""
    monkeypatch.setenv("FLO_JOURNAL", postgres_url)
    monkeypatch.setenv(process.HEARTBEAT_VARIABLE, "0.2")
    return postgres_url


def replica(tmp_path, *args: str) -> Serving:
    return Serving(tmp_path, AUTO_REPLY, "--public-url", PUBLIC, "--settle", "2", *args)


def deliver(http: httpx.Client, serve: Serving, body: str, index: int) -> bool:
    """Post one incoming message, signed as Twilio signs it for the public URL; True when
    answered 200 (a refused connection: the replica is dead)."""
    form = {"MessageSid": f"SM{index:032x}", "From": PHONE, "To": NUMBER, "Body": body}
    form |= {"NumMedia": "0", "SmsStatus": "received"}
    signed = {"X-Twilio-Signature": signature(TOKEN, HOOK, form.items())}
    try:
        answer = http.post(
            f"http://127.0.0.1:{serve.port}/hooks/auto_reply", data=form, headers=signed
        )
    except httpx.TransportError:
        return False
    return answer.status_code == 200


def unfinished(url: str) -> int:
    with flo_db(url) as db:
        return db.execute(
            "SELECT count(*) FROM events WHERE status NOT IN ('done', 'failed')"
        ).fetchone()[0]


def reply_counts(twilio: httpx.Client) -> Counter[str]:
    listed = twilio.get(f"{ACCOUNT}/Messages.json", params={"PageSize": 1000}).json()
    return Counter(
        m["body"]
        for m in listed["messages"]
        if m["direction"] == "outbound-api" and m["to"] == PHONE
    )


@pytest.mark.slow
def test_two_replicas_one_killed_mid_burst_every_accepted_event_runs_once(
    sandbox, shared, tmp_path, flo_home
):
    sandbox.post("/_sandbox/faults", json={"latency": 0.5}).raise_for_status()  # runs in flight
    a, b = replica(tmp_path), replica(tmp_path)
    a.wait_serving()
    b.wait_serving()
    accepted = set()
    with httpx.Client(timeout=10) as http:
        for index in range(DELIVERIES):
            body = f"message {index}"
            first, second = (a, b) if index % 2 == 0 else (b, a)  # both accept some first
            if deliver(http, first, body, index) | deliver(http, second, body, index):
                accepted.add(body)
            if index == KILLED_AFTER:  # a accepted this one just now: its run is unfinished
                a.stop(signal.SIGKILL)
    assert len(accepted) == DELIVERIES
    b.wait_for("finishing")  # a's unfinished events, taken over after the window
    deadline = time.monotonic() + 30
    while unfinished(shared):
        assert time.monotonic() < deadline, b.said
        time.sleep(0.1)
    counts = reply_counts(sandbox)
    assert counts == Counter(f"Thanks! You wrote: {body}" for body in accepted), b.said
    assert b.stop() == 0
    assert sorted(p.name for p in flo_home.iterdir()) == ["accounts.json"]  # no runs.db, events.db


@pytest.mark.slow
def test_attached_replicas_keep_one_original_webhook_put_back_by_the_last(
    sandbox, shared, tmp_path
):
    foreign = "https://example.com/their-app"
    set_sms_url(sandbox, foreign)
    a, b = replica(tmp_path, "--attach", "--replace"), replica(tmp_path, "--attach", "--replace")
    a.wait_for("attached")
    b.wait_for("attached")
    assert sms_url(sandbox)[1] == HOOK
    assert b.stop() == 0  # a still serves: the number stays ours
    assert "left https://flo.example.com/hooks/auto_reply to the other replicas" in b.said
    assert sms_url(sandbox)[1] == HOOK
    c = replica(tmp_path, "--attach")  # ours already: no --replace
    c.wait_for("attached")
    a.stop(signal.SIGKILL)  # its share is reclaimed once it misses its beats
    assert c.stop() == 0
    assert "put back the previous setting" in c.said
    assert sms_url(sandbox)[1] == foreign
