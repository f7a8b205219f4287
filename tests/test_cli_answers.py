"""What the flo command answers: one JSON document with --json in every case, exit codes
as the README promises, quiet on a closed pipe, and the resume hint only where a resume
can succeed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flo_twilio.runner.journal import Journal
from tests.helpers import ROOT
from tests.inprocess import builtin_sandbox, recorded_runs, run_flo


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["cards", "show", "nope", "--json"], 2, "unknown card 'nope'"),
        (["options", "twilio.send_sms", "to", "--json"], 2, "has no option 'to' with choices"),
        (["runs", "show", "nope", "--json"], 2, "no run 'nope'"),
        (["resume", "nope", "--json"], 2, "no run 'nope'"),
        (["runs", "list", "--json", "--bogus"], 2, "unrecognized arguments: --bogus"),
        (["run", "sample_flows/send_sms.yaml", "--json", "--input", "to=1"], 2, "inputs.to"),
        (["run", "sample_flows/send_sms.yaml", "--json", "--dry-run"], 2, "--dry-run prints"),
        (["run", "sample_flows/send_sms.yaml", "--json", "--account", "x"], 2, "no account"),
    ],
)
def test_json_errors_are_one_json_document(monkeypatch, args, code, message):
    monkeypatch.chdir(ROOT)
    result = run_flo(*args)
    assert result.code == code
    answer = json.loads(result.out)  # exactly one document: anything more fails to parse
    error = answer["error"]
    assert message in error["message"] and answer["exit_code"] == code
    assert set(error) == {"message", "location", "hint", "problems"}


def test_a_json_error_locates_every_problem(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    rows = tmp_path / "rows.csv"
    rows.write_text("phone,name\n+12065550100,\n12065550101,Bob\n")
    result = run_flo(
        "run", "sample_flows/bulk_sms.yaml", "--json", "--input", f"recipients=@{rows}"
    )
    problems = json.loads(result.out)["error"]["problems"]
    assert [p["location"] for p in problems] == [f"{rows}:2:2", f"{rows}:3:1"]
    assert problems[0]["hint"].startswith("fill it in")


def test_an_unsafe_accounts_file_is_answered_in_json(flo_home):
    (flo_home / "accounts.json").write_text("{}")
    (flo_home / "accounts.json").chmod(0o644)
    result = run_flo("accounts", "list", "--json")
    assert result.code == 2
    assert "chmod 600" in json.loads(result.out)["error"]["message"]


def test_an_interrupted_run_answers_in_json(monkeypatch):
    from flo_twilio.runner.engine import Engine

    async def interrupted(self, inputs, trigger=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(Engine, "run", interrupted)
    result = run_flo("run", str(ROOT / "sample_flows/send_sms.yaml"), "--json")
    assert result.code == 130
    assert json.loads(result.out)["status"] == "interrupted"


def test_a_closed_pipe_ends_quietly():
    proc = subprocess.Popen(
        [sys.executable, "-m", "flo_twilio.cli", "cards", "list", "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before flo writes a byte
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(60) == 0
    assert err == ""


def test_the_resume_hint_appears_only_where_a_resume_can_succeed(flo_home):
    runs = Journal(flo_home / "runs.db")
    run_id = runs.start_run("f", "/f.yaml", "sandbox", {}, {})
    runs.finish(run_id, "send", 0, "failed", key="a", inputs={}, error={"type": "InvalidInput"})
    twilio_refused = {"type": "TwilioApiError", "status": 400, "code": 21211}
    runs.finish(run_id, "send", 1, "failed", key="b", inputs={}, error=twilio_refused)
    from flo_twilio.plugins import Registry
    from flo_twilio.runner.api import Runner

    resumable = Runner(Registry(), runs, settle=0).resumable
    assert not resumable(run_id)
    for error in (
        {"type": "TwilioApiError", "status": 503, "code": None},
        {"type": "TwilioApiError", "status": 401, "code": 20003},
        {"type": "TwilioTransportError"},
    ):
        runs.finish(run_id, "send", 2, "failed", key="c", inputs={}, error=error)
        assert resumable(run_id), error
    runs.finish(run_id, "send", 2, "unknown", key="c", inputs={}, error={"type": "OutcomeUnknown"})
    assert resumable(run_id)


def test_a_run_whose_items_twilio_refused_does_not_advise_resume(monkeypatch, tmp_path):
    sandbox = builtin_sandbox(monkeypatch)
    rows = tmp_path / "rows.csv"
    rows.write_text("phone,name\n+12065550100,Ada\n+15005550001,Bad\n")
    result = run_flo(
        "run", str(ROOT / "sample_flows/bulk_sms.yaml"), "--input", f"recipients=@{rows}"
    )
    assert result.code == 1 and len(sandbox.messages) == 1
    assert "see flo runs show" in result.err and "flo resume" not in result.err
    assert recorded_runs()[0]["status"] == "failed"


def test_progress_writes_to_the_stderr_of_the_moment():
    """Not the one at import: a host (or main's redaction) may have replaced it since."""
    import contextlib
    import io

    from flo_twilio.cli.progress import Progress

    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        assert Progress().stream is buffer


def test_runs_show_renders_the_outputs_of_the_flow_the_run_ran_not_of_its_file_edited_since(
    monkeypatch, tmp_path
):
    builtin_sandbox(monkeypatch)
    flow = tmp_path / "send.yaml"
    flow.write_text((ROOT / "sample_flows/send_sms.yaml").read_text())
    assert run_flo("run", str(flow)).code == 0
    run_id = recorded_runs()[0]["id"]
    flow.write_text(flow.read_text().replace("status: ${{", "state: ${{") + "  broken: [\n")
    shown = json.loads(run_flo("runs", "show", run_id, "--json").out)
    assert shown["outputs"]["status"] in ("queued", "sent", "delivered"), shown
    assert "no_outputs" not in shown
