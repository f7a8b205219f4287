# ruff: noqa: F811  (the fixtures sandbox, faults and sender come from test_hosts_core)
"""The host-facing core under a careless or hostile host: values of the wrong kind, a state
folder tampered with, credentials refused halfway. Each case ends in a clear message (never a
traceback) or in the work sent once, against the sandbox in-process."""

from __future__ import annotations

import json
import math
import multiprocessing
import pickle
from decimal import Decimal
from typing import Any

import httpx
import pytest

from flo_twilio import InvalidInputError
from flo_twilio.hosts import HostSendError, Sender, account_from
from flo_twilio.hosts.portal import portal
from flo_twilio.runner.journal_store import is_url
from flo_twilio.sandbox import Faults, create_app
from flo_twilio.sandbox.embedded import DateHeader
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ServerThread
from tests.test_hosts_core import (  # noqa: F401 (fixtures)
    CARD,
    SMS,
    faults,
    recipients,
    sandbox,
    sender,
    sent_to,
)

FIELDS = {"account_sid": SID, "auth_token": TOKEN, "api_base_url": "http://127.0.0.1"}


@pytest.mark.parametrize("key", [None, "", "  ", 5, b"run-1", "run-\udcff"])
def test_a_key_that_names_no_work_is_refused_before_anything_is_sent(sender, sandbox, key):
    """Without a key (None from a host's unset variable) every retry would send again."""
    for _ in range(2):
        with pytest.raises(InvalidInputError, match="key must be"):
            sender.send_once_sync(key, CARD, SMS, recipients(1)[0])
    assert sandbox.messages == {}


def test_a_card_concurrency_or_items_of_the_wrong_kind_are_named(sender, sandbox):
    for card in (None, 5):
        with pytest.raises(InvalidInputError, match="card must be"):
            sender.send_once_sync("c", card, SMS, recipients(1)[0])
    with pytest.raises(InvalidInputError) as refused:
        sender.send_bulk_sync("c", CARD, SMS, recipients(1), concurrency=True)
    assert str(refused.value) == "concurrency must be a whole number from 1 to 1000"
    mixed = [recipients(1)[0], {"to": "+12065550001", 1: "x"}]
    with pytest.raises(InvalidInputError, match=r"item 2 has the inputs \[1, 'to'\]"):
        sender.send_bulk_sync("c", CARD, SMS, mixed)
    assert sandbox.messages == {}


def test_account_fields_of_the_wrong_shape_are_named():
    with pytest.raises(InvalidInputError, match=r"unknown connection type 'twilo'.*twilio"):
        account_from("a", FIELDS, connection="twilo")
    with pytest.raises(InvalidInputError, match="fields of the connection 'a' must be a mapping"):
        account_from("a", None)  # type: ignore[arg-type]


@pytest.mark.parametrize("settle", ["60", math.nan, math.inf, -1, True])
def test_a_settle_window_that_is_not_a_number_of_seconds_is_refused(tmp_path, settle):
    """NaN would resend an unknown call at once, without waiting; infinity would wait forever."""
    with pytest.raises(InvalidInputError, match="settle window must be"):
        Sender(account_from("a", FIELDS), tmp_path, settle=settle)


@pytest.mark.parametrize("state", ["state\x00x", 5])
def test_a_state_folder_that_is_no_path_is_named(state):
    with pytest.raises(InvalidInputError, match="state folder"):
        Sender(account_from("a", FIELDS), state)


def test_a_state_folder_whose_flows_folder_cannot_be_made_is_named(sender, sandbox):
    sender.state.mkdir(parents=True, exist_ok=True)  # (made at the first work on PostgreSQL)
    (sender.state / "flows").write_text("")
    with pytest.raises(InvalidInputError, match=r"the state folder .* cannot be used"):
        sender.send_once_sync("w", CARD, SMS, recipients(1)[0])
    assert sandbox.messages == {}


def test_a_work_file_changed_in_the_state_folder_is_put_back_not_sent(sender, sandbox):
    """The work files are named by their content: one found changed (edited, truncated) is
    written again, so the work sent is the host's, and the run bound to it can resume. On
    PostgreSQL the work itself is kept with the run: only its flow file is in the folder."""
    sender.send_bulk_sync("w1", CARD, SMS, recipients(2))
    (flow,) = (sender.state / "flows").glob("*.yaml")
    works = list((sender.state / "work").glob("*.json"))
    assert len(works) == (0 if is_url(sender.journal or "") else 1)
    for work in works:
        changed = json.loads(work.read_text())
        changed["items"][0]["body"] = "EDITED"
        work.write_text(json.dumps(changed, sort_keys=True))
    flow.write_text(flow.read_text().replace("item['body']", "item['to']"))
    again = sender.send_bulk_sync("w2", CARD, SMS, recipients(2))  # the same work, a new key
    assert [o["body"] for o in again.outputs if o] == ["Hello 0", "Hello 1"]
    for written in (flow, *works):
        written.write_text("")
    assert sender.send_bulk_sync("w1", CARD, SMS, recipients(2)).done == 2
    assert [m["body"] for m in sandbox.messages.values()] == ["Hello 0", "Hello 1"] * 2


def test_credentials_refused_halfway_are_named_even_beside_unknown_items(tmp_path, sandbox):
    """The token is rotated just after the first message was created (its answer lost): its
    look-up and the other sends are refused. The message says to check the credentials, and
    no retry is asked for; with the new token the retry finds the first and sends the rest."""
    faults = Faults(seed=1, ambiguous_rate=1.0)
    inner = DateHeader(create_app(sandbox, faults), sandbox)

    async def rotating(scope, receive, send):  # type: ignore[no-untyped-def]
        await inner(scope, receive, send)
        if scope["type"] == "http" and scope["method"] == "POST":
            faults.ambiguous_rate = 0.0
            sandbox.accounts[SID].auth_token = "1" * 32

    transport = httpx.ASGITransport(rotating)
    old = Sender(account_from("old", FIELDS), tmp_path, settle=0.3, transport=transport)
    new_fields = {**FIELDS, "auth_token": "1" * 32}
    new = Sender(account_from("new", new_fields), tmp_path, settle=0.3, transport=transport)
    try:
        with pytest.raises(HostSendError) as refused:
            old.send_bulk_sync("rotated", CARD, SMS, recipients(3), concurrency=1)
        assert [p["state"] for p in refused.value.problems] == ["unknown", "failed", "failed"]
        assert refused.value.retryable is False
        assert "check its Account SID and Auth Token" in str(refused.value)
        assert new.send_bulk_sync("rotated", CARD, SMS, recipients(3)).done == 3
    finally:
        portal().call(old.aclose())
        portal().call(new.aclose())
    assert sent_to(sandbox) == {item["to"]: 1 for item in recipients(3)}


def test_the_error_crosses_processes_whole(sender, sandbox):
    """Hosts move a task's exception between processes (a process pool, Prefect's results,
    Dask): pickled and read back it keeps its message, ``retryable`` and ``problems``."""
    invalid_number = {"to": "+15005550001", "body": "x"}
    with pytest.raises(HostSendError) as failed:
        sender.send_bulk_sync("pickled", CARD, SMS, [*recipients(1), invalid_number])
    copied = pickle.loads(pickle.dumps(failed.value))
    assert str(copied) == str(failed.value) and "item 2 failed: 21211" in str(copied)
    assert (copied.retryable, copied.run_id) == (False, failed.value.run_id)
    assert copied.problems == failed.value.problems


def send_in_child(sender: Sender, results: Any) -> None:
    results.put(sender.send_once_sync("child", CARD, SMS, recipients(2)[1])["to"])


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_sender_a_forked_child_inherits_sends_from_the_child(tmp_path, sandbox, faults):
    """A prefork host (Celery, a process pool) forks a worker after the Sender was made and
    used: the child cannot use the parent's journal writer and client, and waited forever."""
    with ServerThread(DateHeader(create_app(sandbox, faults), sandbox)) as server:
        sender = Sender(account_from("f", {**FIELDS, "api_base_url": server.url}), tmp_path)
        try:
            sender.send_once_sync("parent", CARD, SMS, recipients(1)[0])
            fork = multiprocessing.get_context("fork")
            results = fork.Queue()
            child = fork.Process(target=send_in_child, args=(sender, results))
            child.start()
            child.join(15)
            if child.is_alive():
                child.kill()
            assert child.exitcode == 0 and results.get(timeout=1) == "+12065550001"
        finally:
            portal().call(sender.aclose())
    assert sent_to(sandbox) == {"+12065550000": 1, "+12065550001": 1}


def test_an_item_the_card_itself_refuses_is_named_from_one_not_by_the_flow(sender, sandbox):
    """Beyond the manifest (a full URL where a path is due, a header that may not be set):
    named by the item's number from 1, as docs/hosts.md says, not by flo's internal flow file."""
    items = [
        {"relativeUrl": "/Accounts.json", "headers": {}},
        {"relativeUrl": "http://elsewhere.example/x", "headers": {}},
        {"relativeUrl": "/Accounts.json", "headers": {"Authorization": "x"}},
    ]
    with pytest.raises(InvalidInputError) as refused:
        sender.send_bulk_sync("custom", "twilio.custom_api", {"method": "GET"}, items)
    lines = str(refused.value).splitlines()
    assert lines[0].startswith("item 2: inputs.relativeUrl is a full URL")
    assert lines[1].startswith("item 3: inputs.headers may not set Authorization")
    assert len(lines) == 2 and "flows" not in str(refused.value)


def test_values_that_are_not_json_are_named_by_item(sender, sandbox):
    """A lone surrogate (bytes decoded with errors='surrogateescape'), a Decimal or a set:
    the item is named, not flo's internal work file."""
    items = [
        {"to": "+12065550000", "body": "x", "validityPeriod": 5},
        {"to": "+12065550001", "body": "caf\udce9", "validityPeriod": 5},
        {"to": "+12065550002", "body": "x", "validityPeriod": Decimal(5)},
    ]
    with pytest.raises(InvalidInputError) as refused:
        sender.send_bulk_sync("not-json", CARD, SMS, items)
    lines = str(refused.value).splitlines()
    assert lines[0].startswith("item 2: inputs must hold JSON values only")
    assert lines[1].startswith("item 3: inputs must hold JSON values only")
    with pytest.raises(InvalidInputError, match="item 1: inputs must hold JSON values only"):
        sender.send_once_sync(
            "set",
            "twilio.custom_api",
            {"method": "GET"},
            {"relativeUrl": "/Accounts.json", "query": {"a": {1, 2}}},
        )
    assert sandbox.messages == {}
