"""``flo optouts``: the list by hand and by file, and ``flo run`` honouring it on the
built-in sandbox (its summary and its dry run count who was held back)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import ROOT
from tests.inprocess import builtin_sandbox, run_flo

SENDER = "+15005550006"  # the sender of sample_flows/bulk_sms.yaml
SERVICE = "MG" + "0123456789abcdef" * 2
BULK = str(ROOT / "sample_flows/bulk_sms.yaml")
ROWS = f"recipients=@{ROOT / 'sample_flows/recipients.csv'}"


def listed(*args: str) -> list[tuple[str, str, str]]:
    result = run_flo("optouts", "list", "--json", *args)
    assert result.code == 0, result.err
    return [(e["sender"], e["recipient"], e["source"]) for e in json.loads(result.out)]


def test_add_list_remove_and_the_list_shows_only_what_it_is_asked():
    assert run_flo("optouts", "add", "+12065550100", "--sender", SENDER).code == 0
    assert run_flo("optouts", "add", "+12065550101", "--sender", SERVICE).code == 0
    assert listed() == [(SENDER, "+12065550100", "added"), (SERVICE, "+12065550101", "added")]
    assert listed("--sender", SERVICE) == [(SERVICE, "+12065550101", "added")]
    text = run_flo("optouts", "list").out
    assert text.startswith(f"{SENDER}  +12065550100  added  20")
    removed = run_flo("optouts", "remove", "+12065550100", "--sender", SENDER)
    assert removed.code == 0 and "+12065550100" not in removed.err
    assert listed() == [(SERVICE, "+12065550101", "added")]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["12065550100", "--sender", SENDER], "the phone is not a number in E.164 form"),
        (["+12065550100", "--sender", "MG12"], "the sender is not a phone number or an MG SID"),
    ],
)
def test_a_bad_number_or_sender_is_refused_with_how_to_write_it(args, says):
    result = run_flo("optouts", "add", *args)
    assert result.code == 2 and says in result.err and "e.g." in result.err
    assert listed() == []


def test_an_excel_csv_is_imported_and_the_export_imports_again(tmp_path):
    excel = tmp_path / "stops.csv"
    excel.write_bytes(b"\xef\xbb\xbfphone,name\r\n+12065550100,Ada\r\n+12065550101,Grace\r\n")
    result = run_flo("optouts", "import", str(excel), "--sender", SENDER)
    assert result.code == 0, result.err
    assert listed() == [(SENDER, "+12065550100", "imported"), (SENDER, "+12065550101", "imported")]
    exported = run_flo("optouts", "export")
    assert exported.out.splitlines()[0] == "sender,phone,source,updated"
    copy = tmp_path / "copy.csv"
    copy.write_text(exported.out)
    run_flo("optouts", "remove", "+12065550100", "--sender", SENDER)
    assert run_flo("optouts", "import", str(copy)).code == 0  # its sender column
    assert len(listed()) == 2


def test_an_import_with_bad_rows_names_each_and_adds_nothing(tmp_path):
    rows = tmp_path / "stops.csv"
    rows.write_text("name,phone\nAda,+12065550100\nBob,2065550101\nCy,+1\n")
    result = run_flo("optouts", "import", str(rows), "--sender", SENDER)
    assert result.code == 2
    assert f"{rows}:3:2: the phone is not a number in E.164 form" in result.err
    assert f"{rows}:4:2:" in result.err and "Traceback" not in result.err
    assert listed() == []
    missing = run_flo("optouts", "import", str(tmp_path / "gone.csv"), "--sender", SENDER)
    assert missing.code == 2 and "gone.csv: cannot read the file" in missing.err


def test_a_run_and_its_dry_run_count_who_opted_out(monkeypatch):
    sandbox = builtin_sandbox(monkeypatch)
    run_flo("optouts", "add", "+12065550101", "--sender", SENDER)
    dry = run_flo("run", BULK, "--input", ROWS, "--dry-run")
    assert dry.code == 0 and "4 requests, nothing sent; 0 items invalid; 1 opted out" in dry.err
    result = run_flo("run", BULK, "--input", ROWS)
    assert result.code == 0, result.err
    assert "4 done, 1 skipped (1 opted out), 0 failed" in result.err
    assert f"1 x opted out of {SENDER} (added with flo optouts add)" in result.err
    assert "+12065550101" not in result.err  # the summary names no one
    sent = {m["to"] for m in sandbox.messages.values()}
    assert len(sent) == 4 and "+12065550101" not in sent


def test_an_import_takes_the_encoding_and_delimiter_its_hints_name(tmp_path):
    windows = tmp_path / "stops.csv"  # Excel on Windows, "CSV (semicolon)": cp1252
    windows.write_bytes("name|phone\r\nJosé|+12065550100\r\n".encode("cp1252"))
    refused = run_flo("optouts", "import", str(windows), "--sender", SENDER)
    assert refused.code == 2 and "--encoding cp1252" in refused.err
    args = ["--sender", SENDER, "--encoding", "cp1252", "--delimiter", "|"]
    result = run_flo("optouts", "import", str(windows), *args)
    assert result.code == 0, result.err
    assert listed() == [(SENDER, "+12065550100", "imported")]
    unknown = run_flo("optouts", "import", str(windows), "--sender", SENDER, "--encoding", "x")
    assert unknown.code == 2 and "--encoding 'x' is not a known encoding" in unknown.err


@pytest.mark.slow  # 40,000 rows, twice
def test_a_big_import_holds_one_row_at_a_time_not_the_file(tmp_path):
    import tracemalloc

    big = tmp_path / "stops.csv"
    rows = 40_000
    big.write_text("phone,name\n" + "".join(f"+1206{i:07d},Someone\n" for i in range(rows)))
    tracemalloc.start()
    try:
        result = run_flo("optouts", "import", str(big), "--sender", SENDER)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.code == 0 and f"imported {rows} opt-outs" in result.err, result.err
    assert peak < 4 << 20, f"{peak / 1e6:.1f} MB for a {big.stat().st_size / 1e6:.1f} MB file"
    assert len(listed("--sender", SENDER)) == rows


@pytest.mark.slow  # a PostgreSQL server
def test_an_import_reaches_a_postgresql_journal_in_one_transaction(tmp_path, postgres_url):
    rows = tmp_path / "stops.csv"
    rows.write_text("sender,phone\n" + "".join(f"{SENDER},+1206555{i:04d}\n" for i in range(50)))
    journal = ["--journal", postgres_url]
    result = run_flo("optouts", "import", str(rows), *journal)
    assert result.code == 0, result.err
    assert len(listed(*journal)) == 50
