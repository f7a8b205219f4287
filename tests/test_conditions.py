"""A step's ``if:``: parsed from the flow only, checked by flo validate, evaluated per item;
a skipped item is never sent nor journalled as an intent, and a resume decides the same."""

from __future__ import annotations

import time

import pytest

from flo_twilio.runner.conditions import parse_condition
from flo_twilio.runner.item_lifecycle import RunChanged
from flo_twilio.runner.refs import RefError
from tests.inprocess import run_flo as flo
from tests.test_engine import Send, flow_of, fresh, journal, rows, run  # noqa: F401  (fixtures)
from tests.test_flow_validation import GOOD_STEP, problems

SCOPE = {
    "item": {
        "valid": True,
        "lineType": "mobile",
        "n": 1,
        "none": None,
        "name": "it's",
        "to": "+12065551212",
        "tags": ["vip", "us"],
        "price": 0.0075,
    },
    "steps": {"lookup": {"outputs": [{"valid": False}]}},
    "inputs": {"go": False},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${{ item.valid }}", True),
        ("${{ item.valid and item.lineType == 'mobile' }}", True),
        ("${{ item.valid and item.lineType != 'mobile' }}", False),
        ("${{ not item.valid or item.n == 1 }}", True),
        ("${{ not (item.valid or inputs.go) }}", False),
        ("${{ steps.lookup.outputs[0].valid == false and item.none == null }}", True),
        ("${{ item.name == 'it''s' }}", True),
        ("${{ item.n == 1.0 and item.n != -1 }}", True),
        ("${{ item.valid == 1 }}", False),  # a boolean equals only a boolean
        ("${{ inputs.go and item.nothing }}", False),  # and stops at the first false
        (True, True),
        (False, False),
    ],
)
def test_a_condition_is_evaluated_over_references_and_literals(text, expected):
    assert parse_condition(text).holds(SCOPE) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${{ item.n < 2 and item.n <= 1 and item.n > 0 and item.n >= 1 }}", True),
        ("${{ item.price > 0.01 or item.n < -5 }}", False),
        ("${{ item.lineType in ['mobile', 'voip'] }}", True),
        ("${{ item.lineType not in ['mobile', 'voip'] }}", False),
        ("${{ item.n in [true, '1'] }}", False),  # in compares as == does: 1 is not true
        ("${{ 'us' in item.tags and item.n in [item.n] and item.n not in [] }}", True),
        ("${{ item.tags contains 'vip' and not (item.tags contains 'VIP') }}", True),
        ("${{ item.name contains '''' and item.lineType contains 'bil' }}", True),
        ("${{ item.to starts with '+1' and item.to ends with '1212' }}", True),
        ("${{ item.to starts with '+44' or item.lineType ends with 'x' }}", False),
        (r"${{ item.to matches '^\+1[0-9]{10}$' and not (item.name matches '^IT') }}", True),
        ("${{ item.lineType matches 'bi' }}", True),  # found anywhere, as CEL's matches
    ],
)
def test_comparisons_lists_and_text_tests(text, expected):
    assert parse_condition(text).holds(SCOPE) is expected


def test_matches_takes_time_linear_in_the_text_whatever_the_pattern():
    """A pattern that makes a backtracking engine (Python's re) run for hours on 30
    characters, over 100,000 of them: RE2 answers at once."""
    condition = parse_condition("${{ item.body matches '^(a+)+$' }}")
    started = time.monotonic()
    assert condition.holds({"item": {"body": "a" * 100_000 + "!"}}) is False
    assert time.monotonic() - started < 0.5


def test_the_new_operators_and_lists_count_toward_the_limits():
    many = " and ".join(["item.n in [1]"] * 51)  # 51 in, 51 [ and 50 and: 152
    with pytest.raises(RefError, match="152 operators and parentheses, more than the 100"):
        parse_condition("${{ " + many + " }}")
    words = " and ".join(["item.to starts with '+'"] * 50)  # a two-word operator counts once
    assert parse_condition("${{ " + words + " }}").holds(SCOPE) is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${{ item.lineType }}", "if: item.lineType is text, not true or false"),
        ("${{ item.valid and item.n }}", "if: item.n is a number, not true or false"),
        ("${{ not item.none }}", "if: item.none is null, not true or false"),
        ("${{ item.nothing }}", "item has no 'nothing'"),
        ("${{ item.to > 5 }}", "if: item.to > 5: > takes numbers; item.to is text"),
        ("${{ item.valid >= 1 }}", ">= takes numbers; item.valid is true or false"),
        ("${{ item.n in item.to }}", "in takes a list on its right; item.to is text"),
        ("${{ item.n starts with '1' }}", "starts with takes text; item.n is a number"),
        ("${{ item.none matches 'x' }}", "matches takes text; item.none is null"),
        ("${{ item.tags ends with 's' }}", "ends with takes text; item.tags is a list"),
    ],
)
def test_a_value_that_does_not_fit_is_named_by_its_type_not_its_value(text, expected):
    with pytest.raises(RefError) as info:
        parse_condition(text).holds(SCOPE)
    message = str(info.value)
    assert expected in message and "mobile" not in message and "2065551212" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("item.valid", "if: takes one ${{ expression }}"),
        ("${{ item.valid }} and ${{ item.n }}", "if: takes one ${{ expression }}"),
        ("${{ item.valid and }}", "expected a value, at the end"),
        ("${{ (item.valid }}", "expected ), at the end"),
        ("${{ item.valid item.n }}", "expected and, or or an operator (==, !=, <, >, in"),
        ("${{ item.n === 1 }}", "cannot read '= 1'"),
        ('${{ item.lineType == "mobile" }}', "text takes single quotes"),
        ("${{ __import__('os').system('x') }}", "cannot read \".system('x')\""),
        ("${{ os.environ == 'x' }}", "${{ os.environ }} must start with one of inputs, steps"),
        ("${{ item.n + 1 == 2 }}", "cannot read '+ 1 == 2'"),
        (3, "if: takes one ${{ expression }}"),
        ("${{ item.n in 'abc' }}", "in takes a list, e.g. item.status in ['sent', 'delivered']"),
        ("${{ item.n not in 3 }}", "not in takes a list"),
        ("${{ item.to matches item.lineType }}", "matches takes a pattern in single quotes"),
        ("${{ item.to matches '(' }}", "matches: '(' is not a regular expression RE2 reads"),
        ("${{ item.to starts '+1' }}", "expected with, at \"'+1'\""),
        ("${{ item.n in [1, [2]] }}", "a list holds values and references, not lists"),
        ("${{ item.n in [1 2] }}", "expected ,, at '2]'"),
        ("${{ item.n in [1, 2 }}", "expected ,, at the end"),
        ("${{ item.n < }}", "expected a value, at the end"),
        ("${{ item.n > 0 == true }}", "expected and, or or an operator"),
        ("${{ contains item.tags }}", "expected a value, at 'contains item.tags'"),
    ],
)
def test_anything_but_the_small_language_is_refused(text, expected):
    with pytest.raises(RefError) as info:
        parse_condition(text)
    assert expected in str(info.value)


def test_flo_validate_locates_a_bad_condition_and_its_references(tmp_path):
    first = GOOD_STEP.replace("id: sms", "id: a") + "    if: ${{ steps.sms.outputs.sid == 'x' }}\n"
    second = GOOD_STEP + "    if: ${{ not (steps.a.outputs.sidd == 'x') }}\n"
    found = problems(tmp_path, "flo: 1\nsteps:" + first + second)
    assert [p.split("flow.yaml:")[1] for p in found] == [
        "7:9: ${{ steps.sms.outputs.sid }}: step 'sms' runs later "
        "(a step can use only the outputs of steps above it)",
        "13:9: ${{ steps.a.outputs.sidd }}: twilio.send_sms has no output 'sidd' "
        "(did you mean sid?)",
    ]
    found = problems(tmp_path, "flo: 1\nsteps:" + GOOD_STEP + "    if: ${{ item.ok or }}\n")
    assert [p.split("flow.yaml:")[1] for p in found] == [
        "7:9: if: ${{ item.ok or }}: expected a value, at the end "
        "(e.g. if: ${{ item.valid and item.lineType == 'mobile' }})"
    ]
    found = problems(tmp_path, "flo: 1\nsteps:" + GOOD_STEP + "    if: ${{ item.ok }}\n")
    assert "item exists only in the if, options and inputs of a step with for_each" in found[0]


DEEP = "(" * 200 + "item.ok" + ")" * 200
NESTED = "(" * 30 + "item.ok" + ")" * 30
LONG_AND = " and ".join(["item.ok"] * 150)
NOTS = "not " * 30 + "item.ok"
HUGE = " or ".join(["item.ok == 'x'"] * 50_000)  # a valid condition of ~900 KB


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (DEEP, "200 operators and parentheses, more than the 100"),
        (NESTED, "more than 20 parentheses and nots inside one another"),
        (NOTS, "more than 20 parentheses and nots inside one another"),
        (LONG_AND, "149 operators and parentheses, more than the 100"),
        ("item.n == " + "9" * 5000, "more than the 2000 a condition may have"),
        ("item.n == " + "9" * 21, "a number here has at most 20 digits, at '999999999"),
        (HUGE, "characters, more than the 2000 a condition may have"),
    ],
)
def test_a_condition_too_deep_long_or_large_is_refused_at_once(text, expected):
    started = time.monotonic()
    with pytest.raises(RefError) as info:
        parse_condition("${{ " + text + " }}")
    assert expected in str(info.value)
    assert len(str(info.value)) < 400  # the message does not repeat the whole condition
    assert time.monotonic() - started < 0.5


def test_a_condition_at_the_limits_is_parsed_and_evaluated():
    nested = "(" * 19 + "not item.valid" + ")" * 19
    chain = " and ".join(["item.valid"] * 101)
    assert parse_condition("${{ " + nested + " }}").holds(SCOPE) is False
    assert parse_condition("${{ " + chain + " }}").holds(SCOPE) is True
    assert parse_condition("${{ item.n != " + "9" * 20 + " }}").holds(SCOPE) is True


def test_flo_validate_locates_a_condition_200_parentheses_deep(tmp_path):
    found = problems(tmp_path, "flo: 1\nsteps:" + GOOD_STEP + f"    if: ${{{{ {DEEP} }}}}\n")
    assert len(found) == 1 and found[0].split("flow.yaml:")[1].startswith("7:9: if: ${{ ((((")
    assert "200 operators and parentheses, more than the 100" in found[0]


def picky(tmp_path):
    """Sends to each item's ``to`` only when its ``ok`` is true."""
    return flow_of(
        tmp_path,
        "flo: 1\ninputs:\n  rows: {type: array}\nsteps:\n  - id: s\n    card: demo.send\n"
        "    for_each: ${{ inputs.rows }}\n    if: ${{ item.ok }}\n    on_error: continue\n"
        "    inputs: {to: '${{ item.to }}'}\noutputs:\n  all: ${{ steps.s.outputs }}\n",
    )


ROWS = [
    {"to": "a", "ok": True},
    {"to": "b", "ok": False},
    {"to": "c", "ok": "yes"},
    {"to": "d", "ok": True},
]


@pytest.mark.anyio
async def test_skipped_items_are_not_sent_not_intents_and_null_in_the_outputs(
    tmp_path,
    journal,  # noqa: F811
):
    engine, error, states, _ = await run(picky(tmp_path), journal, "c1", {"rows": ROWS})
    assert error is None and sorted(Send.calls) == ["a", "d"]
    assert [o and o["sid"][:3] for o in engine.outputs_seen["all"]] == ["S-a", None, None, "S-d"]
    assert [i.state for i in rows(journal, "c1")] == ["done", "skipped", "failed", "done"]
    assert rows(journal, "c1")[2].error["message"] == "if: item.ok is text, not true or false"
    tally = engine.tally
    assert (tally.done, tally.skipped, tally.failed, tally.unknown) == (2, 1, 1, 0)
    assert sorted(states) == ["done", "done", "failed", "skipped"]
    assert str(tally) == "2 done, 1 skipped, 1 failed, 0 unknown"


@pytest.mark.anyio
async def test_a_resume_decides_the_same_and_sends_nothing_twice(tmp_path, journal):  # noqa: F811
    flow = picky(tmp_path)
    await run(flow, journal, "c2", {"rows": ROWS})
    # As if killed while d was in flight, before b was reached: b is decided again, d is
    # looked up.
    journal.db.execute("DELETE FROM items WHERE idx = 1")
    journal.db.execute("UPDATE items SET state = 'intent' WHERE idx = 3")
    Send.lookups["d"] = [{"sid": "S-d-found"}]
    calls = list(Send.calls)
    engine, error, _, _ = await run(flow, journal, "c2", {"rows": ROWS})
    assert error is None and Send.calls == calls and Send.looked == ["d"]
    assert [i.state for i in rows(journal, "c2")] == ["done", "skipped", "failed", "done"]
    assert engine.tally.skipped == 1
    # A resume whose inputs turn a sent item into a skipped one is refused, nothing sent.
    changed = [{**ROWS[0], "ok": False}, *ROWS[1:]]
    _, error, _, _ = await run(flow, journal, "c2", {"rows": changed})
    assert isinstance(error, RunChanged) and "its if: no longer holds" in str(error)
    assert Send.calls == calls and rows(journal, "c2")[0].state == "done"


@pytest.mark.anyio
async def test_a_single_step_skipped_gives_null_and_the_run_goes_on(tmp_path, journal):  # noqa: F811
    flow = flow_of(
        tmp_path,
        "flo: 1\ninputs:\n  go: {type: boolean}\nsteps:\n  - id: s\n    card: demo.send\n"
        "    if: ${{ inputs.go }}\n    inputs: {to: a}\n  - id: t\n    card: demo.send\n"
        "    inputs: {to: b}\noutputs:\n  first: ${{ steps.s.outputs }}\n",
    )
    engine, error, _, _ = await run(flow, journal, "c3", {"go": False})
    assert error is None and Send.calls == ["b"] and engine.outputs_seen == {"first": None}
    assert journal.item("c3", "s", 0).state == "skipped"


def test_rows_a_condition_skips_are_not_refused_before_the_run(tmp_path):
    """The pre-pass checks a row's call only when its if: holds: an empty phone on a row
    marked no is fine; on a row marked yes it is refused, at its row, before anything is sent."""
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "flo: 1\ninputs:\n  rows: {type: array}\nsteps:\n  - id: send\n"
        "    card: twilio.send_sms\n    for_each: ${{ inputs.rows }}\n"
        "    if: ${{ item.send == 'yes' }}\n    options: {from: '+15005550006'}\n"
        "    inputs: {to: '${{ item.phone }}', body: hi}\n"
    )
    table = tmp_path / "rows.csv"
    table.write_text("phone,send\n+12065551210,yes\n,no\n")
    result = flo("run", str(flow), "--input", f"rows=@{table}")
    assert result.code == 0 and "1 done, 1 skipped, 0 failed" in result.err, result.err
    table.write_text("phone,send\n+12065551210,yes\n,yes\n")
    result = flo("run", str(flow), "--input", f"rows=@{table}")
    assert result.code == 2 and "rows.csv:3:1: step send" in result.err, result.err


def test_flo_validate_locates_a_pattern_re2_cannot_read(tmp_path):
    found = problems(
        tmp_path, "flo: 1\nsteps:" + GOOD_STEP + "    if: ${{ item.to matches '[' }}\n"
    )
    assert [p.split("flow.yaml:")[1].split(" (e.g.")[0] for p in found] == [
        "7:9: if: ${{ item.to matches '[' }}: matches: '[' is not a regular expression RE2 "
        "reads (missing ]: [), at \"'['\""
    ]


def test_a_pattern_re2_cannot_read_is_said_once_without_re2s_own_log_lines(capfd):
    with pytest.raises(RefError, match="is not a regular expression RE2 reads"):
        parse_condition("${{ item.to matches 'a(' }}")
    assert capfd.readouterr().err == ""
