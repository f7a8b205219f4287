"""The host examples of docs/hosts.md run as written, against a sandbox on loopback."""

import subprocess
import sys

from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT, ServerThread


def host_example(heading: str = "## Using the cards from your own host") -> str:
    text = (ROOT / "docs" / "hosts.md").read_text()
    section = text.split(heading, 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def run_example(code: str, server_url: str) -> subprocess.CompletedProcess[str]:
    code = (
        code.replace('"AC..."', f'"{SID}"')
        .replace('"auth_token": "..."', f'"auth_token": "{TOKEN}"')
        .replace("http://127.0.0.1:4010", server_url)
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_the_host_example_sends_a_message():
    state = SandboxState()
    with ServerThread(create_app(state)) as server:
        result = run_example(host_example(), server.url)
    assert result.returncode == 0, result.stderr
    sid, created = result.stdout.split()
    assert sid in state.messages and created.endswith("+00:00")


def test_the_exactly_once_host_example_sends_once_however_often_it_runs(tmp_path):
    """Run twice, as a host's retry would: the second run sends nothing."""
    code = host_example("## Send from a host, exactly once").replace(
        "/shared/flo-state", str(tmp_path / "state")
    )
    state = SandboxState()
    with ServerThread(create_app(state)) as server:
        first = run_example(code, server.url)
        again = run_example(code, server.url)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert first.stdout == again.stdout and len(state.messages) == 3
    sid, done, *_ = first.stdout.split()
    assert sid in state.messages and done == "2"
