"""Property: whatever flow, input file and --input values a user can produce, flo answers
with exit 0 or 2, a located message, no traceback, and nothing sent or recorded when it
refuses; and flo validate refuses exactly what flo run refuses.

Runs in this process through ``flo_twilio.cli.main`` on the built-in sandbox, so a few
dozen examples take a few seconds (``HYPOTHESIS_PROFILE=thorough`` runs more).
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.conftest import examples
from tests.inprocess import builtin_sandbox, recorded_runs, run_flo


def mostly(good: Any, other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` (a value or a strategy) nine times in ten, else ``other``: so that enough
    examples get as far as sending."""
    good = good if isinstance(good, st.SearchStrategy) else st.just(good)
    return st.integers(0, 9).flatmap(lambda n: other if n == 0 else good)


NASTY = [
    "", " ", "\x00", "\x1b", "\u202eevil", "😀", "é", '"', "'", ",", ";", "\t", "\n", "\r\n",
    "+12065550100", "12065550100", "whatsapp:+12065550100", "2024-01-01", "1e400", "true",
    "null", "-", "&a", "*a", "!!binary", "${{ inputs.to }}", "${{", "[", "{", "x" * 1700,
    "\ud800", "9" * 5000, "[" * 300,
]  # fmt: skip
text = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=20),
    st.lists(st.sampled_from(NASTY), max_size=4).map("".join),
)
phone = mostly(st.integers(2065550000, 2065559999).map(lambda n: f"+1{n}"), text)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text | phone,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
yaml_scalar = st.one_of(
    phone.map(json.dumps),  # a quoted string, as a careful user writes it
    text,  # whatever was typed, unquoted
    st.integers().map(str),
    st.sampled_from(["2024-01-01", "+12065551212", "[1, 2]", "{a: 1}", "&x y", "*x", "'"]),
)
encodings = mostly("utf-8", st.sampled_from(["utf-8-sig", "cp1252", "utf-16", "latin-1"]))


BULK = """flo: 1
name: fuzz
inputs:
  recipients:
    type: array
    items: {{type: object, required: [phone, name]}}
steps:
  - id: send
    card: twilio.send_sms
    for_each: ${{{{ inputs.recipients }}}}
    options: {{from: {sender}}}
    inputs:
      to: {to}
      body: {body}
"""
SINGLE = """flo: 1
inputs:
  to: {{type: string, default: {default}}}
  body: {{type: string}}
steps:
  - id: sms
    card: twilio.send_sms
    options: {{from: "+15005550006"}}
    inputs: {{to: {to}, body: {body}}}
"""


@st.composite
def flow_files(draw) -> tuple[bytes, str]:
    """(the flow's bytes, which kind of inputs it takes)."""
    if draw(st.booleans()):
        kind = "bulk"
        text = BULK.format(
            sender=draw(mostly('"+15005550006"', st.sampled_from(["+15005550006", '"whatsapp:+15005550006"']))),
            to=draw(mostly('"${{ item.phone }}"', st.sampled_from(["${{ item.phone }}", "'${{ item.nope }}'"]) | yaml_scalar)),
            body=draw(mostly('"Hi ${{ item.name }}"', st.just("'${{ item.name }}'") | yaml_scalar)),
        )  # fmt: skip
    else:
        kind = "single"
        text = SINGLE.format(
            default=draw(mostly('"+12065551212"', yaml_scalar)),
            to=draw(mostly("'${{ inputs.to }}'", yaml_scalar)),
            body=draw(mostly("'${{ inputs.body }}'", yaml_scalar)),
        )
    if draw(st.integers(0, 3)) == 0:  # a slip of the keyboard somewhere
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(text_fragment) + text[cut:]
    return text.encode(draw(encodings), errors="replace"), kind


text_fragment = st.sampled_from(["\x00", "\xff", ":", "- ", "  ", "{", "&a [1]", "*a", "\t"]) | text


@st.composite
def csv_files(draw) -> bytes:
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    header = draw(
        st.sampled_from(
            [
                ["phone", "name"],
                ["phone", "Name"],
                ["phone", "", "name"],
                ["phone", "name", "name"],
                [],
            ]
        )
    )
    rows = draw(st.lists(st.lists(st.one_of(phone, text), min_size=0, max_size=4), max_size=6))
    out = io.StringIO()
    if draw(st.booleans()):
        writer = csv.writer(
            out, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))
        )
        for row in [header, *rows]:
            writer.writerow(row)
    else:  # as a careless script writes it: no quoting at all
        out.write("\n".join(delimiter.join(row) for row in [header, *rows]))
    return out.getvalue().encode(draw(encodings), errors="replace")


@st.composite
def invocations(draw, folder: Path) -> list[str]:
    """The arguments of one flo command, with its files written in ``folder``."""
    flow, kind = draw(flow_files())
    (folder / "flow.yaml").write_bytes(flow)
    args = [str(folder / "flow.yaml")]
    if kind == "bulk":
        form = draw(st.sampled_from(["csv", "json", "jsonl", "inline"]))
        rows = draw(
            st.lists(
                st.dictionaries(st.sampled_from(["phone", "name", "x"]), json_value), max_size=5
            )
        )
        if form == "csv":
            (folder / "rows.csv").write_bytes(draw(csv_files()))
        elif form == "json":
            (folder / "rows.json").write_text(json.dumps(rows), encoding="utf-8")
        elif form == "jsonl":
            (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        value = json.dumps(rows) if form == "inline" else f"@{folder}/rows.{form}"
        args += ["--input", f"recipients={value}"]
        if draw(st.integers(0, 3)) == 0:
            args += ["--encoding", draw(st.sampled_from(["cp1252", "utf-16", "nope"]))]
    else:
        names = mostly(
            ["to", "body"], st.lists(st.sampled_from(["to", "body", "other"]), unique=True)
        )
        for name in draw(names):
            args += ["--input", f"{name}={draw(phone if name == 'to' else text)}"]
    return args


LOCATED = re.compile(r"^error: (\S+:\d+:\d+: |--input \S+: |--\w+ )", re.MULTILINE)


@settings(max_examples=examples(40))
@given(data=st.data())
def test_any_input_is_answered_with_0_or_2_and_never_sent_when_refused(data, monkeypatch):
    sandbox = builtin_sandbox(monkeypatch)
    with tempfile.TemporaryDirectory() as folder:
        args = data.draw(invocations(Path(folder)))
        runs = len(recorded_runs())
        checked = run_flo("validate", *args)
        ran = run_flo("run", *args)
    event(f"run exit {ran.code}")
    for result in (checked, ran):
        assert result.code in (0, 2), (args, result)
        assert "Traceback" not in result.err and "internal error" not in result.err, result.err
        if result.code == 2:
            assert LOCATED.search(result.err), result.err
    if "is required (pass --input" not in ran.err:  # validate does not require inputs
        assert checked.code == ran.code, (args, checked.err, ran.err)
    if ran.code == 2:
        assert not sandbox.messages and len(recorded_runs()) == runs
