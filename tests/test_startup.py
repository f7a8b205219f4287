"""Start-up: what ``flo --version`` and ``flo run`` of a one-step flow import. python -m
bench times them (issue 12: under 0.2 s and 0.4 s); these tests keep out what they do not
need: the sandbox, jsonschema (jsonschema-rs passes what is valid) and httpx's own CLI."""

from __future__ import annotations

import json
import subprocess
import sys

from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ServerThread, flo

NEVER = {"flo_twilio.sandbox.state", "starlette", "uvicorn", "jsonschema", "click", "rich"}

ONE_STEP = """\
flo: 1
name: one_step
steps:
  - id: send
    card: twilio.send_sms
    options: {from: "+15005550006"}
    inputs: {to: "+12065551212", body: "Hi"}
"""


def imported_by(tmp_path, *args: str) -> set[str]:
    """The modules a fresh ``flo ARGS`` has imported when it ends (it must succeed)."""
    listing = tmp_path / "modules.json"
    script = (
        "import json, sys\nfrom flo_twilio.cli import main\n"
        f"code = main({list(args)!r})\n"
        f"open({str(listing)!r}, 'w').write(json.dumps(sorted(sys.modules)))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return set(json.loads(listing.read_text()))


def test_flo_version_imports_no_client_sandbox_or_validator(tmp_path):
    modules = imported_by(tmp_path, "--version")
    assert modules & (NEVER | {"httpx", "aiohttp", "jsonschema_rs", "yaml"}) == set()


def test_a_one_step_run_imports_neither_the_sandbox_nor_jsonschema_nor_httpx_cli(tmp_path):
    flow = tmp_path / "one-step.yaml"
    flow.write_text(ONE_STEP)
    with ServerThread(create_app(SandboxState())) as server:
        added = flo(
            "accounts", "add", "live", "--account-sid", SID, "--auth-token", "-",
            "--api-base-url", server.url, input=TOKEN,
        )  # fmt: skip
        assert added.code == 0, added.err
        modules = imported_by(tmp_path, "run", str(flow), "--account", "live")
    assert {"aiohttp", "httpx", "yaml"} <= modules  # it did load a flow and send
    assert modules & NEVER == set()
