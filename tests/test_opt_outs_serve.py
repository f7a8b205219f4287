"""The whole loop on the sandbox: a phone texts STOP to a number ``flo serve`` listens on
(by its webhook, or found by ``--poll``), and the next campaign from that number sends it
nothing; START takes it off the list, HELP changes nothing."""

from __future__ import annotations

import json
import time

import pytest

from flo_twilio.runner.events import EventStore
from flo_twilio.serve.routes import route_key
from tests.inprocess import run_flo
from tests.test_serve import (
    AUTO_REPLY,
    NUMBER,
    PHONE,
    Serving,
    no_server_left,
    replies,
    sandbox,
    set_sms_url,
    text,
)

__all__ = ["no_server_left", "sandbox"]  # fixtures, shared with test_serve
pytestmark = pytest.mark.slow
OTHER = "+12065550199"
CAMPAIGN = f"""\
flo: 1
name: campaign
steps:
  - id: send
    card: twilio.send_sms
    for_each: ["{PHONE}", "{OTHER}"]
    on_error: continue
    options: {{from: "{NUMBER}"}}
    inputs: {{to: "${{{{ item }}}}", body: "Our winter sale starts today"}}
"""


def opted_out() -> list[tuple[str, str, str]]:
    result = run_flo("optouts", "list", "--json", "--account", "live")
    assert result.code == 0, result.err
    return [(e["sender"], e["recipient"], e["source"]) for e in json.loads(result.out)]


def wait_until(check, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.05)


def test_a_stop_to_flo_serve_keeps_the_next_campaign_from_sending_to_it(sandbox, tmp_path):
    serve = Serving(tmp_path, AUTO_REPLY)
    serve.wait_serving()
    set_sms_url(sandbox, serve.url())
    text(sandbox, "Stop")  # answered once the opt-out is committed
    assert opted_out() == [(NUMBER, PHONE, "keyword")]
    wait_until(lambda: "run" in serve.said and "done" in serve.said)
    assert replies(sandbox) == []  # the auto-reply to the STOP itself was held back
    flow = tmp_path / "campaign.yaml"
    flow.write_text(CAMPAIGN)
    result = run_flo("run", str(flow), "--account", "live")
    assert result.code == 0, result.err
    assert "1 done, 1 skipped (1 opted out)" in result.err
    assert f"1 x opted out of {NUMBER} (replied with an opt-out keyword)" in result.err
    assert replies(sandbox) == []  # nothing reached the phone that said STOP
    text(sandbox, "HELP")
    assert opted_out() == [(NUMBER, PHONE, "keyword")]
    text(sandbox, "start")
    assert opted_out() == []
    wait_until(lambda: replies(sandbox) == ["Thanks! You wrote: start"])
    assert "opt-out recorded" in serve.said and PHONE not in serve.said
    assert serve.stop() == 0


def test_a_stop_found_by_polling_is_on_the_list(sandbox, tmp_path, flo_home):
    serve = Serving(tmp_path, AUTO_REPLY, "--poll", "0.1")
    store = EventStore(flo_home / "events.db")
    route = route_key("auto_reply", "twilio.incoming_message", {"to": NUMBER})
    wait_until(lambda: store.cursor(route) is not None)  # its first poll
    text(sandbox, "UNSUBSCRIBE")
    wait_until(lambda: opted_out() == [(NUMBER, PHONE, "keyword")])
    assert serve.stop() == 0
