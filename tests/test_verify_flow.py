"""sample_flows/verify.yaml runs on the built-in sandbox, and the code it sent is never in
the journal."""

from __future__ import annotations

import json
import sqlite3

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
    assert "***" in items and verification.code not in items
