"""Input files are checked in full before the first send: every row, every call.

Each case runs ``flo run`` (in this process, on the built-in sandbox) and checks that a bad
file ends in exit 2 with a located message, nothing sent and no run recorded.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from flo_twilio.errors import InvalidInputError
from flo_twilio.runner.rowfiles import CsvFile, JsonArrayFile, JsonLinesFile
from tests.helpers import ROOT
from tests.inprocess import builtin_sandbox, recorded_runs, run_flo

BULK = str(ROOT / "sample_flows/bulk_sms.yaml")


@pytest.fixture
def sandbox(monkeypatch):
    return builtin_sandbox(monkeypatch)


def rows_file(tmp_path: Path, content: str | bytes, name: str = "rows.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def people(count: int, start: int = 0) -> list[str]:
    return [f"+1206555{i:04d},Person {i}" for i in range(start, start + count)]


def refused(sandbox, *args: str):
    """``flo run ARGS``, which must refuse with exit 2, send nothing and record no run."""
    result = run_flo("run", *args)
    assert result.code == 2, result.err
    assert not sandbox.messages and "Traceback" not in result.err
    assert "internal error" not in result.err
    assert recorded_runs() == []
    return result


def test_a_row_without_a_name_is_refused_instead_of_sent_as_hi_comma(sandbox, tmp_path):
    rows = rows_file(tmp_path, "phone,name\n+12065550100,Ada\n+12065550101,\n")
    result = refused(sandbox, BULK, "--input", f"recipients=@{rows}")
    assert f"{rows}:3:2: column 'name' is empty" in result.err


def test_an_unclosed_quote_is_refused_instead_of_merging_the_rest_of_the_file(sandbox, tmp_path):
    lines = ["phone,name", *people(3), '+12065559999,"Ada', *people(25, start=10)]
    rows = rows_file(tmp_path, "\n".join(lines) + "\n")
    result = refused(sandbox, BULK, "--input", f"recipients=@{rows}")
    assert f'{rows}:5:1: a quote (") opens a cell on this line and is never closed' in result.err


def test_latin1_is_refused_before_the_first_send_then_read_with_encoding(sandbox, tmp_path):
    lines = ["phone,name", *people(1999), "+12065552000,José"]
    rows = rows_file(tmp_path, ("\n".join(lines) + "\n").encode("cp1252"))
    result = refused(sandbox, BULK, "--input", f"recipients=@{rows}")
    assert f"{rows}:2001:17: byte 0xE9 is not UTF-8" in result.err
    assert "--encoding cp1252" in result.err
    fixed = run_flo("run", BULK, "--input", f"recipients=@{rows}", "--encoding", "cp1252")
    assert fixed.code == 0, fixed.err
    bodies = {m["body"] for m in sandbox.messages.values()}
    assert len(sandbox.messages) == 2000 and "Hi José, welcome aboard" in bodies


def test_a_bad_row_far_down_is_caught_before_row_1_is_sent(sandbox, tmp_path):
    lines = ["phone,name", *people(3000)]
    lines[2002] = "12065552001,No plus"
    lines[2501] = "+12065552500," + "y" * 1600
    rows = rows_file(tmp_path, "\n".join(lines) + "\n")
    result = refused(sandbox, BULK, "--input", f"recipients=@{rows}")
    assert f"{rows}:2003:1: step send, column phone: inputs.to is not in the expected form" in (
        result.err
    )
    assert f"{rows}:2502:2: step send, column name: inputs.body must have at most 1600" in (
        result.err
    )


def test_the_list_of_problems_is_capped_and_says_how_many_more(sandbox, tmp_path):
    rows = rows_file(tmp_path, "phone,name\n" + "+12065550100,\n" * 50)
    result = refused(sandbox, BULK, "--input", f"recipients=@{rows}")
    assert result.err.count("column 'name' is empty") == 20
    assert "and 30 more problems" in result.err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("phone,name\n+12065550100,Ada,x\n", "rows.csv:2:3: this row has 3 cells, the header 2"),
        ("phone,name,city\n+12065550100,Ada\n", "rows.csv:2:2: this row has 2 cells, the header 3"),
        ("phone,name\n+12065550100," + "x" * 140_000 + "\n", "rows.csv:2:1: a cell is longer"),
        ("phone,name,name\n+12065550100,A,B\n", "rows.csv:1:3: column 'name' appears twice"),
        ("phone,,name\n+12065550100,,A\n", "rows.csv:1:2: column 2 of the header has no name"),
        (
            "phone,Name\n+12065550100,Ada\n",
            "rows.csv:1:2: no column 'name' (columns found: phone, Name) "
            "(if column 'Name' is meant to be name, rename it name)",
        ),
        ("phone,name\n+12065550100,A\x00da\n", "rows.csv:2:2: a NUL character is in this cell"),
        ('phone,name\n+12065550100,"Ada" L\n', "rows.csv:2:1: a cell in quotes has more text"),
        ("phone,name\n", "rows.csv:1:1: the file has no rows"),
        ("", "rows.csv:1:1: the file has no header line"),
        (b"\xff\xfep\x00h\x00", "the file is UTF-16: pass --encoding utf-16"),
    ],
)
def test_a_broken_csv_is_refused_with_its_line(sandbox, tmp_path, monkeypatch, content, says):
    monkeypatch.chdir(tmp_path)
    rows_file(tmp_path, content)
    result = refused(sandbox, BULK, "--input", "recipients=@rows.csv")
    assert says in result.err


@pytest.mark.parametrize(
    ("content", "args"),
    [
        (b"\xef\xbb\xbfphone,name\r\n+12065550100,Ada\r\n+12065550101,Bob\r\n", []),
        (b"phone;name\r\n+12065550100;Ada\r\n+12065550101;Bob\r\n", []),
        (b"phone\tname\n+12065550100\tAda\n+12065550101\tBob\n", []),
        (b"sep=;\nphone;name\n+12065550100;Ada\n+12065550101;Bob\n", []),
        (b"phone|name\n+12065550100|Ada\n+12065550101|Bob\n", ["--delimiter", "|"]),
        (b"phone,name\n\n+12065550100,Ada\n,\n+12065550101,Bob\n", []),
        (b'phone,name\n+12065550100,"Ada, ""the first"""\n', []),
    ],
    ids=["bom-crlf", "semicolon", "tab", "excel-sep-line", "pipe", "blank-rows", "quoted"],
)
def test_csv_as_spreadsheets_write_it(sandbox, tmp_path, content, args):
    rows = rows_file(tmp_path, content)
    result = run_flo("run", BULK, "--input", f"recipients=@{rows}", *args)
    assert result.code == 0, result.err
    names = sorted(m["body"] for m in sandbox.messages.values())
    assert names[0].startswith("Hi Ada") and len(names) in (1, 2)
    if b'"' in content:
        assert names == ['Hi Ada, "the first", welcome aboard']
    else:
        assert names == ["Hi Ada, welcome aboard", "Hi Bob, welcome aboard"]


def test_an_empty_file_is_allowed_when_the_schema_allows_an_empty_list(sandbox, tmp_path):
    flow = rows_file(
        tmp_path,
        (ROOT / "sample_flows/bulk_sms.yaml")
        .read_text()
        .replace("    type: array\n", "    type: array\n    minItems: 0\n"),
        "flow.yaml",
    )
    rows = rows_file(tmp_path, "phone,name\n")
    result = run_flo("run", str(flow), "--input", f"recipients=@{rows}")
    assert result.code == 0, result.err
    assert "recipients: 0 rows checked" in result.err


def test_json_rows_are_located_by_line_and_column(sandbox, tmp_path):
    rows = rows_file(
        tmp_path,
        '[\n  {"phone": "+12065550100", "name": "Ada"},\n  {"phone": 12065550101, "name": "B"}\n]\n',
        "rows.json",
    )
    result = refused(sandbox, BULK, "--input", f"recipients=@{rows}")
    assert (
        f"{rows}:3:3: step send, from ${{{{ item.phone }}}}: inputs.to must be of type string"
        in (result.err)
    )
    assert "quote phone numbers" in result.err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (
            '[\n  {"phone": "+12065550100", "name": "Ada"},\n  {"phone": }\n]',
            "rows.json:3:13: not valid JSON",
        ),
        ('[{"phone": "+12065550100", "name": "Ada"}', "rows.json:1:42: expected , or ]"),
        ('[{"phone": "+12065550100", "name": "Ada"}] x', "rows.json:1:44: more text after"),
        ("[" + "[" * 100 + "]" * 100 + "]", "rows.json:1:2: lists and objects are nested more"),
        ("[" + "[" * 5000 + "]" * 5000 + "]", "rows.json:1:2: lists and objects are nested more"),
        ("{", "rows.json:1:2: not valid JSON"),
    ],
)
def test_broken_json_is_located(sandbox, tmp_path, monkeypatch, content, says):
    monkeypatch.chdir(tmp_path)
    rows_file(tmp_path, content, "rows.json")
    result = refused(sandbox, BULK, "--input", "recipients=@rows.json")
    assert says in result.err


def test_json_lines_rows_are_checked_line_by_line(sandbox, tmp_path):
    rows = rows_file(
        tmp_path,
        '{"phone": "+12065550100", "name": "Ada"}\n\n{"phone": "+12065550101"}\n{"phone": \n',
        "rows.jsonl",
    )
    result = refused(sandbox, BULK, "--input", f"recipients=@{rows}")
    assert f"{rows}:3:1: recipients[1].name is required" in result.err
    assert f"{rows}:4:11: not valid JSON" in result.err
    rows.write_text(
        '{"phone": "+12065550100", "name": "Ada"}\n{"phone": "+12065550101", "name": "Bo"}\n'
    )
    assert run_flo("run", BULK, "--input", f"recipients=@{rows}").code == 0
    assert len(sandbox.messages) == 2


def test_a_list_given_on_the_command_line_is_checked_item_by_item(sandbox):
    items = [{"phone": "+12065550100", "name": "Ada"}, {"phone": "+1206", "name": "x" * 1601}]
    result = refused(sandbox, BULK, "--input", f"recipients={json.dumps(items)}")
    assert "bulk_sms.yaml:21:13: step send item 1, from ${{ item.name }}: inputs.body" in result.err


def test_a_single_step_is_checked_before_its_run_is_recorded(sandbox):
    flow = str(ROOT / "sample_flows/send_sms.yaml")
    result = refused(sandbox, flow, "--input", "to=12065551212")
    assert "send_sms.yaml:19:11: step sms, from ${{ inputs.to }}: inputs.to is not in" in result.err


def test_an_unknown_account_exits_2_and_records_no_run(sandbox):
    result = refused(sandbox, str(ROOT / "sample_flows/send_sms.yaml"), "--account", "nobody")
    assert "no account called 'nobody'" in result.err


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        (
            CsvFile,
            "phone,name\n" + "".join(f"+1206555{i % 10000:04d},N{i}\n" for i in range(60_000)),
        ),
        (
            JsonArrayFile,
            "["
            + ",\n".join(json.dumps({"phone": "+12065550100", "i": i}) for i in range(60_000))
            + "]",
        ),
        (
            JsonLinesFile,
            "".join(json.dumps({"phone": "+12065550100", "i": i}) + "\n" for i in range(60_000)),
        ),
    ],
    ids=["csv", "json", "jsonl"],
)
def test_files_are_read_row_by_row_in_constant_memory(tmp_path, kind, content):
    path = rows_file(tmp_path, content, "rows")
    source = kind(path, "rows")
    tracemalloc.start()
    try:
        count = sum(1 for _ in source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 60_000
    assert peak < len(content) / 5, f"{peak:,} bytes at the peak for a {len(content):,}-byte file"


def test_a_file_changed_after_its_check_is_refused_when_read_again(tmp_path):
    path = rows_file(tmp_path, "phone,name\n+12065550100,Ada\n")
    source = CsvFile(path, "rows.csv")
    assert list(source) == [{"phone": "+12065550100", "name": "Ada"}]
    path.write_text("phone,name\n+12065550100,Ada\n+12065550101,Eve\n")
    with pytest.raises(
        InvalidInputError, match=r"rows\.csv:1:1: the file changed after it was checked"
    ):
        list(source)


def test_rules_that_span_fields_are_checked_before_the_first_send(sandbox, tmp_path):
    rows = rows_file(tmp_path, "phone,name\n+12065550100,Ada\nwhatsapp:+12065550101,Bob\n")
    result = refused(sandbox, BULK, "--input", f"recipients=@{rows}")
    assert f"{rows}:3:1: step send: inputs.to and options.from must both be WhatsApp" in result.err


def test_a_custom_api_path_from_an_input_is_checked_before_anything_is_sent(sandbox, tmp_path):
    flow = rows_file(
        tmp_path,
        "flo: 1\ninputs:\n  path: {type: string}\nsteps:\n  - id: get\n    card: twilio.custom_api\n"
        "    options: {method: POST}\n    inputs: {relativeUrl: '${{ inputs.path }}'}\n",
        "flow.yaml",
    )
    result = refused(sandbox, str(flow), "--input", "path=https://elsewhere.example/x")
    assert "flow.yaml:8:13: step get: inputs.relativeUrl is a full URL" in result.err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--input", "recipients=@rows.csv", "--encoding", "utf-16"],
            "rows.csv:1:1: the file is not utf-16",
        ),
        (["--input", "recipients=@rows.json"], "rows.json:1:2: text that is not Unicode"),
        (
            ["--input", 'recipients=[{"phone": "+12065550100", "name": "\udcff"}]'],
            "text that is not Unicode",
        ),
    ],
    ids=["utf-16-without-bom", "json-surrogate-escape", "argument-in-another-encoding"],
)
def test_text_that_cannot_be_sent_is_refused_where_it_enters(
    sandbox, tmp_path, monkeypatch, args, says
):
    monkeypatch.chdir(tmp_path)
    rows_file(tmp_path, "phone,name\n+12065550100,Ada\n")
    rows_file(tmp_path, '[{"phone": "+12065550100", "name": "\\ud800"}]', "rows.json")
    result = refused(sandbox, BULK, *args)
    assert says in result.err
