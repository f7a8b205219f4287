"""The README's tour works as written, line by line, and the plugin example of
docs/writing-a-plugin.md runs."""

from __future__ import annotations

import importlib
import json
import re
import shlex
import subprocess
import sys
from importlib.metadata import EntryPoint

import httpx

from flo_twilio import plugins
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT, free_port, in_terminal
from tests.inprocess import run_flo
from tests.sandbox_process import wait_until_serving

README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def tour() -> list[list[str]]:
    """The tour's commands, comments dropped, ``a; b`` split."""
    block = section("A tour").split("```sh\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        for command in line.split("#", 1)[0].split(";"):
            if command.strip():
                commands.append(shlex.split(command))
    return commands


def test_the_tour_works_as_written(monkeypatch):
    monkeypatch.chdir(ROOT)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    run_id = None
    sandbox = None
    try:
        for command in tour():
            assert command[0] == "flo"
            args = [a.replace("http://127.0.0.1:4010", url) for a in command[1:]]
            if args == ["sandbox"]:
                sandbox = subprocess.Popen(
                    [sys.executable, "-m", "flo_twilio.cli", "sandbox", "--port", str(port)],
                    stderr=subprocess.DEVNULL,
                )
                wait_until_serving(sandbox, lambda: httpx.get(url))
                continue
            if args[:2] == ["accounts", "add"]:  # it asks: a terminal
                code, screen = in_terminal(
                    *args, replies=(("Account SID: ", SID), ("Auth Token: ", TOKEN))
                )
                assert code == 0 and "connected work" in screen, screen
                continue
            args = [run_id if a == "RUN_ID" else a for a in args]
            result = run_flo(*args)
            assert result.code == 0, (command, result.err)
            if args[:2] == ["runs", "list"]:
                run_id = re.match(r"\S+", result.out).group()
            if args[0] == "options":
                assert "+15005550006" in result.out
    finally:
        if sandbox:
            sandbox.terminate()
            sandbox.wait(10)
    assert run_id is not None


def test_the_plugin_example_runs_in_a_flow(tmp_path, monkeypatch):
    code = (
        (ROOT / "docs" / "writing-a-plugin.md")
        .read_text()
        .split("```python\n", 1)[1]
        .split("```", 1)[0]
    )
    (tmp_path / "shout_plugin.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = EntryPoint(name="shout", value="shout_plugin", group="flo")
    builtin = EntryPoint(name="twilio", value="flo_twilio.cards", group="flo")
    monkeypatch.setattr(plugins, "entry_points", lambda group: [builtin, entry])
    flow = tmp_path / "shout.yaml"
    flow.write_text(
        "flo: 1\ninputs:\n  text: {type: string}\nsteps:\n  - id: loud\n    card: demo.shout\n"
        "    inputs: {text: '${{ inputs.text }}'}\noutputs:\n  text: ${{ steps.loud.outputs.text }}\n"
    )
    result = run_flo("run", str(flow), "--input", "text=hello", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["outputs"] == {"text": "HELLO"}
    shout = importlib.import_module("shout_plugin").Shout
    assert shout.manifest.data["connection"] is None
