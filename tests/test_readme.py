"""The README's host example runs as written, against a sandbox on loopback."""

import subprocess
import sys

from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT, ServerThread


def host_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Using the cards from your own host", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_host_example_sends_a_message():
    state = SandboxState()
    with ServerThread(create_app(state)) as server:
        code = (
            host_example()
            .replace('"AC..."', f'"{SID}"')
            .replace('"auth_token": "..."', f'"auth_token": "{TOKEN}"')
            .replace("http://127.0.0.1:4010", server.url)
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 0, result.stderr
    sid, created = result.stdout.split()
    assert sid in state.messages and created.endswith("+00:00")
