"""A served flow's route (its key in events.db) survives a release, and events kept under
the file paths of older versions are found."""

from __future__ import annotations

from pathlib import Path

import pytest

from flo_twilio import load_registry
from flo_twilio.runner.events import EventStore
from flo_twilio.runner.flow import load_flow
from flo_twilio.serve.routes import adopt_old_routes, route_of
from flo_twilio.trigger import Event
from tests.helpers import ROOT

AUTO_REPLY = (ROOT / "sample_flows/auto_reply.yaml").read_text()


@pytest.fixture
def store(journal_at):  # on both stores: moving a route is SQL each must take
    made = EventStore(journal_at)
    yield made
    made.close()


def flow_at(path: Path, text: str = AUTO_REPLY):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return load_flow(path, load_registry())


def accepted(store: EventStore, route: str, sid: str) -> None:
    event = Event({"messageSid": sid}, keys=(sid,))
    assert store.accept(route, event) is not None
    store.save_cursor(route, {"since": 1})
    store.save_attachment(route, "http://old:1/auto_reply", {"SmsUrl": "https://theirs"})


def test_a_route_names_the_flow_and_its_trigger_not_its_file(tmp_path):
    one = flow_at(tmp_path / "releases/v1/auto_reply.yaml")
    two = flow_at(tmp_path / "elsewhere/auto_reply.yaml")
    assert route_of(one) == route_of(two)
    other_number = flow_at(
        tmp_path / "v3/auto_reply.yaml",
        AUTO_REPLY.replace('to: "+15017122661"', 'to: "+15005550006"'),
    )
    assert route_of(other_number) != route_of(one)


@pytest.mark.parametrize("old", ["same file", "old release kept", "old release gone"])
def test_what_was_kept_under_a_file_path_moves_to_the_route(store, tmp_path, old):
    flow = flow_at(tmp_path / "releases/v2/auto_reply.yaml")
    old_path = {
        "same file": flow.path.resolve(),
        "old release kept": tmp_path / "releases/v1/auto_reply.yaml",
        "old release gone": tmp_path / "releases/v0/auto_reply.yaml",
    }[old]
    if old == "old release kept":
        flow_at(old_path)
    accepted(store, str(old_path), "SM1")
    assert adopt_old_routes(store, flow) == 1
    route = route_of(flow)
    assert [p.outputs for _, p in store.unfinished([route], set())] == [{"messageSid": "SM1"}]
    assert store.cursor(route) == {"since": 1}
    assert store.attachments(route) == {"http://old:1/auto_reply": {"SmsUrl": "https://theirs"}}
    assert store.routes() == [route]
    assert store.accept(route, Event({"messageSid": "SM1"}, keys=("SM1",))) is None  # seen


def test_another_flow_s_events_are_left_where_they_are(store, tmp_path):
    flow = flow_at(tmp_path / "auto_reply.yaml")
    other = flow_at(
        tmp_path / "old/auto_reply.yaml", AUTO_REPLY.replace("name: auto_reply", "name: other")
    )
    gone = tmp_path / "gone/status.yaml"
    accepted(store, str(other.path), "SM1")
    accepted(store, str(gone), "SM2")
    assert adopt_old_routes(store, flow) == 0
    assert store.unfinished([route_of(flow)], set()) == []
    assert sorted(store.routes()) == sorted([str(other.path), str(gone)])
