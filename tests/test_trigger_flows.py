"""Flows with a trigger: checked like any flow (``${{ trigger.<output> }}`` against the
trigger's outputs), and run once for a given event with ``flo run --event``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.inprocess import builtin_sandbox, recorded_runs, run_flo

HEAD = "flo: 1\nname: t\n"
TRIGGER = 'trigger:\n  card: twilio.incoming_message\n  options: {to: "+15017122661"}\n'
REPLY = (
    "steps:\n  - id: reply\n    card: twilio.send_sms\n"
    '    options: {from: "+15017122661"}\n'
    "    inputs: {to: '${{ trigger.from }}', body: '%s'}\n"
)


def flow(tmp_path: Path, text: str) -> str:
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    return str(path)


def test_trigger_references_are_checked_against_the_triggers_outputs(tmp_path):
    bad = flow(tmp_path, HEAD + TRIGGER + REPLY % "${{ trigger.bodyy }}")
    result = run_flo("validate", bad)
    assert result.code == 2
    assert (
        "flow.yaml:10:47:" in result.err
        and "twilio.incoming_message has no output 'bodyy'" in result.err
    )
    assert "did you mean body?" in result.err
    assert (
        run_flo("validate", flow(tmp_path, HEAD + TRIGGER + REPLY % "${{ trigger.body }}")).code
        == 0
    )


def test_a_trigger_reference_needs_a_trigger_and_a_trigger_is_no_step(tmp_path):
    result = run_flo("validate", flow(tmp_path, HEAD + REPLY % "hi"))
    assert result.code == 2 and "the flow has no trigger" in result.err
    as_step = HEAD + "steps:\n  - id: s\n    card: twilio.incoming_message\n"
    result = run_flo("validate", flow(tmp_path, as_step))
    assert result.code == 2 and "is a trigger: it starts a flow, it is not a step" in result.err
    not_trigger = HEAD + "trigger: {card: twilio.send_sms}\n" + REPLY % "hi"
    result = run_flo("validate", flow(tmp_path, not_trigger))
    assert "trigger card 'twilio.send_sms' is not a trigger" in result.err
    bad_option = HEAD + "trigger:\n  card: twilio.incoming_message\n  options: {to: 15017122661}\n"
    result = run_flo("validate", flow(tmp_path, bad_option + REPLY % "${{ trigger.body }}"))
    assert result.code == 2 and "flow.yaml:5:" in result.err and "quote phone numbers" in result.err


def test_flo_run_with_an_event_runs_the_flow_once_for_it(tmp_path, monkeypatch):
    sandbox = builtin_sandbox(monkeypatch)
    path = flow(tmp_path, HEAD + TRIGGER + REPLY % "You said: ${{ trigger.body }}")
    event = {"messageSid": "SM" + "1" * 32, "from": "+12065551212", "to": "+15017122661"}
    event |= {"body": "ping", "numMedia": 0, "mediaUrls": []}
    (tmp_path / "event.json").write_text(json.dumps(event))
    result = run_flo("run", path, "--event", f"@{tmp_path / 'event.json'}")
    assert result.code == 0, result.err
    (sent,) = sandbox.messages.values()
    assert (sent["to"], sent["body"]) == ("+12065551212", "You said: ping")
    (run,) = recorded_runs()
    assert run["arguments"]["event"] == event


def test_a_missing_or_wrong_event_is_refused_before_anything_is_sent(tmp_path, monkeypatch):
    sandbox = builtin_sandbox(monkeypatch)
    path = flow(tmp_path, HEAD + TRIGGER + REPLY % "${{ trigger.body }}")
    result = run_flo("run", path)
    assert result.code == 2 and "--event @event.json" in result.err
    result = run_flo("run", path, "--event", '{"messageSid": "SM1", "from": 12}')
    assert result.code == 2
    assert (
        "event.from must be of type string" in result.err and "event.to is required" in result.err
    )
    assert run_flo("run", path, "--event", "{not json").code == 2
    assert run_flo("run", path, "--event", "@/nonexistent.json").code == 2
    plain = flow(tmp_path, HEAD + REPLY.replace("${{ trigger.from }}", "+12065551212") % "hi")
    assert "--event is for a flow with a trigger" in run_flo("run", plain, "--event", "{}").err
    assert not sandbox.messages and not recorded_runs()
