"""Flows that cannot hurt, and flo validate as strict as flo run: a located message and
exit 2 for whatever a flow file holds, never "internal error"."""

from __future__ import annotations

import time

import pytest

from tests.helpers import ROOT
from tests.inprocess import builtin_sandbox, recorded_runs, run_flo

STEP = """
  - id: sms
    card: twilio.send_sms
    options: {from: "+15005550006"}
    inputs: {to: "+12065551212", body: hi}
"""

BILLION_LAUGHS = (
    "flo: 1\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
    "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\nsteps: [*i]\n"
)


def validate(tmp_path, content: str | bytes, *args: str):
    path = tmp_path / "flow.yaml"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    result = run_flo("validate", str(path), *args)
    assert "internal error" not in result.err and "Traceback" not in result.err
    return result


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (BILLION_LAUGHS, "flow.yaml:2:4: anchors and aliases (&name, *name) are not allowed"),
        (
            "flo: 1\nsteps:" + STEP.replace("hi}", "'hi\x00'}"),
            "flow.yaml:6:43: control character U+0000",
        ),
        ("flo: 1\nname: a\x1bb\nsteps:" + STEP, "flow.yaml:2:8: control character U+001B"),
        (b"flo: 1\nname: Jos\xe9\nsteps: []\n", "flow.yaml:2:10: byte 0xE9 is not UTF-8"),
        (
            "flo: 1\nx: " + "[" * 500 + "]" * 500 + "\n",
            "flow.yaml:2:67: lists and mappings are nested",
        ),
        (
            "flo: 1\nname: " + "9" * 5000 + "\nsteps:" + STEP,
            "flow.yaml:2:7: cannot read this value",
        ),
        ("flo: 1\nname: !!binary aGk=\nsteps:" + STEP, "flow.yaml:2:7: a bytes value"),
        ("flo: 1\n? [a, b]\n: 1\nsteps:" + STEP, "flow.yaml:2:3: a key must be plain text"),
        ("flo: 1\n'1': a\n1: b\nsteps:" + STEP, "flow.yaml:3:1: duplicate key '1'"),
        (
            "flo: 1\ndescription: '" + "x" * 1_100_000 + "'\n",
            "flow.yaml:1:1: the flow is 1,100,023 bytes; a flow is at most 1,000,000",
        ),
    ],
    ids=[
        "aliases",
        "nul",
        "escape",
        "latin1",
        "deep",
        "huge-int",
        "binary",
        "complex-key",
        "dup-key",
        "size",
    ],
)
def test_a_flow_that_could_hurt_is_refused_with_its_place(tmp_path, content, says):
    started = time.monotonic()
    result = validate(tmp_path, content)
    assert result.code == 2 and says in result.err, result.err
    assert time.monotonic() - started < 5


def test_dates_are_read_as_the_text_written_and_sent_as_is(tmp_path, monkeypatch):
    sandbox = builtin_sandbox(monkeypatch)
    flow = "flo: 1\nsteps:" + STEP.replace(
        "body: hi}", "body: 2024-01-01, contentVariables: {1: 2024-01-01}}"
    )
    assert validate(tmp_path, flow).code == 0
    result = run_flo("run", str(tmp_path / "flow.yaml"))
    assert result.code == 0, result.err
    [message] = sandbox.messages.values()
    assert message["body"] == "2024-01-01"


@pytest.mark.parametrize(
    ("flow", "says"),
    [
        (
            "flo: 1\ninputs:\n  to: {type: string, default: +12065551212}\nsteps:"
            + STEP.replace('to: "+12065551212"', "to: '${{ inputs.to }}'"),
            "flow.yaml:3:31: the default of to must be of type string, not integer "
            "(quote phone numbers",
        ),
        (
            "flo: 1\ninputs:\n  to: {default: +12065551212}\nsteps:"
            + STEP.replace('to: "+12065551212"', "to: '${{ inputs.to }}'"),
            "flow.yaml:8:18: step sms, from ${{ inputs.to }}: inputs.to must be of type string, "
            "not integer (quote phone numbers",
        ),
        (
            "flo: 1\nsteps:" + STEP + "    for_each: some text\n",
            "flow.yaml:7:15: for_each must be a list (or one ${{ }} reference to a list), not text",
        ),
        (
            "flo: 1\ninputs:\n  names: {type: string}\nsteps:"
            + STEP
            + "    for_each: ${{ inputs.names }}\n",
            "flow.yaml:9:15: for_each: input 'names' is of type string, not a list",
        ),
        (
            "flo: 1\nsteps:"
            + STEP.replace('to: "+12065551212"', "to: '${{ item }}'")
            + "    for_each: ['+12065551212', 2]\n",
            "flow.yaml:6:18: step sms item 1, from ${{ item }}: inputs.to must be of type string",
        ),
    ],
    ids=[
        "default-phone",
        "default-untyped-phone",
        "for-each-text",
        "for-each-string-input",
        "for-each-items",
    ],
)
def test_flo_validate_refuses_what_flo_run_would(tmp_path, monkeypatch, flow, says):
    sandbox = builtin_sandbox(monkeypatch)
    checked = validate(tmp_path, flow)
    assert checked.code == 2 and says in checked.err, checked.err
    ran = run_flo("run", str(tmp_path / "flow.yaml"))
    assert ran.code == 2 and ran.err.endswith(checked.err.split("error: ", 1)[1])
    assert not sandbox.messages and recorded_runs() == []


def test_every_bad_reference_in_a_step_is_reported(tmp_path):
    flow = "flo: 1\nsteps:" + STEP.replace(
        'inputs: {to: "+12065551212", body: hi}',
        "inputs: {to: '${{ inputs.phone }}', body: '${{ nope }} and ${{ item.x }}', "
        "statusCallback: '${{ steps.later.outputs.url }}'}",
    )
    result = validate(tmp_path, flow)
    assert result.code == 2
    assert "${{ inputs.phone }}: the flow has no input 'phone'" in result.err
    assert "${{ nope }} must start with one of inputs, steps, item, account" in result.err
    assert "there is no step 'later'" in result.err


def test_validate_checks_input_files_as_run_does(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("phone,name\n+12065550100,Ada\n12065550101,Bob\n")
    flow = str(ROOT / "sample_flows/bulk_sms.yaml")
    result = run_flo("validate", flow, "--input", f"recipients=@{rows}")
    assert result.code == 2
    assert (
        f"{rows}:3:1: step send, column phone: inputs.to is not in the expected form" in result.err
    )
    rows.write_text("phone,name\n+12065550100,Ada\n")
    assert run_flo("validate", flow, "--input", f"recipients=@{rows}").code == 0


def test_a_lone_surrogate_escape_in_a_flow_is_refused(tmp_path):
    result = validate(tmp_path, 'flo: 1\nname: "\\ud800"\nsteps:' + STEP)
    assert result.code == 2 and "flow.yaml:2:7: this text is not Unicode" in result.err
