"""A typo in a flow is reported with file:line:col and a fix, before anything is sent."""

from __future__ import annotations

import textwrap

import pytest

from flo_twilio import load_registry
from flo_twilio.errors import InvalidInputError
from flo_twilio.runner.flow import load_flow
from tests.inprocess import run_flo as flo  # in this process; a few tests start one

GOOD_STEP = """
  - id: sms
    card: twilio.send_sms
    options: {from: "+15005550006"}
    inputs: {to: "+12065551212", body: hi}
"""


def problems(tmp_path, text: str) -> list[str]:
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    with pytest.raises(InvalidInputError) as info:
        load_flow(path, load_registry())
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("flo: 1\nsteps: [\n", "flow.yaml:3:1: YAML syntax error"),
        ("flo: 1\nflo: 1\nsteps: []\n", "flow.yaml:2:1: duplicate key 'flo' (first at line 1)"),
        ("flo: 2\nsteps:" + GOOD_STEP, "flow.yaml:1:6: the first line must be flo: 1"),
        ("flo: 1\nstep:" + GOOD_STEP, "flow.yaml:2:1: unknown key 'step' (did you mean steps?)"),
        (
            "flo: 1\nsteps:\n  - id: a\n    card: twilio.send_smss\n",
            "flow.yaml:4:11: unknown card 'twilio.send_smss' (did you mean twilio.send_sms?)",
        ),
        (
            "flo: 1\nsteps:\n  - id: a\n    card: twilio.send_sms\n    options: {from: +15005550006}\n    inputs: {to: '+1206555', body: x}\n",
            "flow.yaml:5:21: options.from must be of type string, not integer (quote phone numbers",
        ),
        (
            "flo: 1\nsteps:\n  - id: a\n    card: twilio.send_sms\n    options: {from: '+15005550006'}\n    inputs: {to: '12065551212', body: x}\n",
            "flow.yaml:6:18: inputs.to is not in the expected form (to must start with + and the country code",
        ),
        ("flo: 1\nsteps:" + GOOD_STEP + "    retry: 3\n", "flow.yaml:7:5: unknown key 'retry'"),
        (
            "flo: 1\nsteps:\n  - id: a\n    card: twilio.send_sms\n    options: {from: '+15005550006'}\n    inputs: {to: '${{ inputs.phone }}', body: x}\n",
            "flow.yaml:6:18: ${{ inputs.phone }}: the flow has no input 'phone'",
        ),
        (
            "flo: 1\nsteps:"
            + GOOD_STEP
            + "  - id: b\n    card: twilio.custom_api\n    options: {method: GET}\n    inputs: {relativeUrl: '/M/${{ steps.sms.outputs.sidd }}'}\n",
            "flow.yaml:10:27: ${{ steps.sms.outputs.sidd }}: twilio.send_sms has no output 'sidd' (did you mean sid?)",
        ),
        (
            "flo: 1\nsteps:\n  - id: a\n    card: twilio.custom_api\n    options: {method: GET}\n    inputs: {relativeUrl: '${{ steps.b.outputs.body }}'}\n  - id: b\n    card: twilio.custom_api\n    options: {method: GET}\n    inputs: {relativeUrl: /x}\n",
            "step 'b' runs later",
        ),
        (
            "flo: 1\nsteps:" + GOOD_STEP + "    concurrency: 0\n",
            "concurrency must be a whole number",
        ),
        (
            "flo: 1\nsteps:\n  - id: a\n    card: twilio.send_sms\n    options: {from: '+15005550006'}\n    inputs: {to: '${{ item.phone }}', body: x}\n",
            "item exists only in the if, options and inputs of a step with for_each",
        ),
        (
            "flo: 1\nsteps:" + GOOD_STEP.replace("body: hi", "body: hi, boddy: x"),
            "inputs: unknown field boddy",
        ),
        ("flo: 1\nsteps:" + GOOD_STEP + GOOD_STEP, "step id 'sms' is used twice"),
    ],
)
def test_each_mistake_is_located_and_explained(tmp_path, text, expected):
    found = problems(tmp_path, text)
    assert any(expected in p for p in found), found


def test_every_problem_is_reported_at_once(tmp_path):
    found = problems(
        tmp_path,
        """
        flo: 1
        steps:
          - id: a
            card: twilio.send_smss
          - id: b
            card: twilio.send_sms
            options: {from: +15005550006}
            inputs: {to: '+12065551212', body: x, extra: 1}
    """,
    )
    assert len(found) == 3 and all(p.startswith(str(tmp_path / "flow.yaml") + ":") for p in found)


def test_validate_command_exit_codes(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("flo: 1\nsteps:\n  - id: a\n    card: nope\n")
    result = flo("validate", str(bad))
    assert result.code == 2 and f"{bad}:4:11: unknown card 'nope'" in result.err
    assert "Traceback" not in result.err
    assert flo("validate", "sample_flows/send_sms.yaml").code == 0
