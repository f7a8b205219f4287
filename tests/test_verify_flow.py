"""sample_flows/verify.yaml runs on the built-in sandbox, and the code it sent is never in
the journal."""

from __future__ import annotations

import json
import sqlite3

from flo_twilio.redaction import MASK
from flo_twilio.runner.item_lifecycle import item_key
from tests.helpers import ROOT
from tests.inprocess import builtin_sandbox, run_flo


def test_verify_sample_flow(monkeypatch, tmp_path):
    monkeypatch.setenv("FLO_HOME", str(tmp_path))
    state = builtin_sandbox(monkeypatch)
    flow = str(ROOT / "sample_flows/verify.yaml")
    result = run_flo("run", flow, "--input", "to=+12065551212", "--json")
    assert result.code == 0, result.err
    outputs = json.loads(result.out)["outputs"]
    assert outputs["status"] == "pending" and outputs["verification"].startswith("VE")
    [verification] = state.verify.verifications.values()
    assert verification.to == "+12065551212" and verification.sid == outputs["verification"]
    assert verification.code.encode() not in (tmp_path / "runs.db").read_bytes()


CHECK_FLOW = """flo: 1
name: check
inputs:
  code: {type: string, description: the code the person typed}
steps:
  - id: check
    card: twilio.check_verification
    options: {serviceSid: VA00000000000000000000000000000001}
    inputs: {to: "+12065551212", code: "${{ inputs.code }}"}
outputs:
  valid: ${{ steps.check.outputs.valid }}
"""


def test_a_checked_code_is_not_in_the_journal_s_items(monkeypatch, tmp_path):
    monkeypatch.setenv("FLO_HOME", str(tmp_path))
    state = builtin_sandbox(monkeypatch)
    assert (
        run_flo("run", str(ROOT / "sample_flows/verify.yaml"), "--input", "to=+12065551212").code
        == 0
    )
    [verification] = state.verify.verifications.values()
    flow = tmp_path / "check.yaml"
    flow.write_text(CHECK_FLOW)
    result = run_flo("run", str(flow), "--input", f"code={verification.code}", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["outputs"] == {"valid": True}
    with sqlite3.connect(tmp_path / "runs.db") as db:
        items = json.dumps(db.execute("SELECT * FROM items").fetchall())
        [(key,)] = db.execute("SELECT key FROM items WHERE step_id = 'check'").fetchall()
    assert "***" in items and verification.code not in items
    # The item's key is made from the masked inputs: a hash of the code (a few digits) would
    # give it away to anyone who tries every code.
    options = {"serviceSid": "VA00000000000000000000000000000001"}
    assert key == item_key(options, {"to": "+12065551212", "code": MASK})
    assert key != item_key(options, {"to": "+12065551212", "code": verification.code})


def started_verification(monkeypatch, tmp_path):
    """The built-in sandbox's state, once a code was sent to +12065551212, and the code."""
    monkeypatch.setenv("FLO_HOME", str(tmp_path))
    state = builtin_sandbox(monkeypatch)
    sent = run_flo("run", str(ROOT / "sample_flows/verify.yaml"), "--input", "to=+12065551212")
    assert sent.code == 0, sent.err
    [verification] = state.verify.verifications.values()
    return state, verification.code


def test_a_secret_input_is_not_in_the_run_s_record_nor_shown(monkeypatch, tmp_path):
    _, code = started_verification(monkeypatch, tmp_path)
    flow = tmp_path / "check.yaml"
    flow.write_text(CHECK_FLOW)
    result = run_flo("run", str(flow), "--input", f"code={code}", "--json")
    assert result.code == 0, result.err
    run_id = json.loads(result.out)["run"]
    with sqlite3.connect(tmp_path / "runs.db") as db:
        (arguments,) = db.execute("SELECT arguments FROM runs WHERE id = ?", (run_id,)).fetchone()
    assert json.loads(arguments)["inputs"] == []
    assert json.loads(arguments)["secret_inputs"] == ["code"]  # its name alone
    for shown in (run_flo("runs", "show", run_id, "--json"), run_flo("runs", "list", "--json")):
        assert shown.code == 0 and f"code={code}" not in shown.out and '"inputs": []' in shown.out


def test_a_resume_asks_for_the_secret_input_again(monkeypatch, tmp_path):
    state, code = started_verification(monkeypatch, tmp_path)
    flow = tmp_path / "check.yaml"
    flow.write_text(CHECK_FLOW)
    result = run_flo("run", str(flow), "--input", f"code={code}", "--json")
    run_id = json.loads(result.out)["run"]
    with sqlite3.connect(tmp_path / "runs.db") as db:  # as if killed before its first call
        db.execute("DELETE FROM items WHERE run_id = ?", (run_id,))
        db.execute("UPDATE runs SET status = 'failed' WHERE id = ?", (run_id,))
    state.verify.verifications.clear()
    again = run_flo("run", str(ROOT / "sample_flows/verify.yaml"), "--input", "to=+12065551212")
    assert again.code == 0
    [verification] = state.verify.verifications.values()
    missing = run_flo("resume", run_id)
    assert missing.code == 2
    assert f"run {run_id} needs its secret input 'code' again" in missing.err
    assert f"flo resume {run_id} --input code=..." in missing.err
    other = run_flo("resume", run_id, "--input", f"code={verification.code}", "--input", "to=+1")
    assert other.code == 2 and "input 'to' is not a secret input of the run" in other.err
    resumed = run_flo("resume", run_id, "--input", f"code={verification.code}", "--json")
    assert resumed.code == 0, resumed.err
    assert json.loads(resumed.out)["outputs"] == {"valid": True}


def test_a_secret_input_cannot_go_where_it_would_be_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("FLO_HOME", str(tmp_path))
    flow = tmp_path / "leak.yaml"
    flow.write_text(
        CHECK_FLOW.replace("outputs:\n  valid: ${{ steps.check.outputs.valid }}", "")
        + "  - id: tell\n    card: twilio.send_sms\n    options: {from: '+15005550006'}\n"
        + "    inputs: {to: '+12065551212', body: 'you typed ${{ inputs.code }}'}\n"
        + "outputs:\n  typed: ${{ inputs.code }}\n"
    )
    result = run_flo("validate", str(flow))
    assert result.code == 2
    assert f"{flow}:14:40:" in result.err and f"{flow}:16:10:" in result.err
    assert "${{ inputs.code }} is a secret input" in result.err


CHECK_EACH_FLOW = """flo: 1
name: check_each
inputs:
  rows: {type: array, description: people and the codes they typed}
steps:
  - id: check
    card: twilio.check_verification
    for_each: ${{ inputs.rows }}
    options: {serviceSid: VA00000000000000000000000000000001}
    inputs: {to: "${{ item.to }}", code: "${{ item.code }}"}
"""


def test_codes_given_inline_in_a_list_are_refused_before_anything_is_kept(monkeypatch, tmp_path):
    """A list whose items fill a writeOnly input would be kept whole in the run's record if
    given inline: flo asks for a file instead, and records nothing."""
    monkeypatch.setenv("FLO_HOME", str(tmp_path))
    builtin_sandbox(monkeypatch)
    flow = tmp_path / "check_each.yaml"
    flow.write_text(CHECK_EACH_FLOW)
    rows = json.dumps([{"to": "+12065551212", "code": "55443322"}])
    result = run_flo("run", str(flow), "--input", f"rows={rows}")
    assert result.code == 2, result.err
    assert "--input rows=@rows.csv" in result.err and "55443322" not in result.err
    journal = tmp_path / "runs.db"
    assert not journal.exists() or b"55443322" not in journal.read_bytes()
    listed = run_flo("runs", "list", "--json")
    assert json.loads(listed.out) == []
    (tmp_path / "rows.json").write_text(rows)
    from_file = run_flo("run", str(flow), "--input", f"rows=@{tmp_path / 'rows.json'}")
    assert "--input rows=@rows.csv" not in from_file.err
    assert b"55443322" not in journal.read_bytes()
