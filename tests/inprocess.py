"""Run ``flo`` in this process (fast enough for property tests) and watch what the
built-in sandbox receives."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import httpx
import pytest

from flo_twilio.cli import main
from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox import embedded as embedded_sandbox
from tests.helpers import Result


def run_flo(*args: str) -> Result:
    """``flo ARGS`` through ``flo_twilio.cli.main``, stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return Result(code, out.getvalue(), err.getvalue())


def builtin_sandbox(monkeypatch: pytest.MonkeyPatch) -> SandboxState:
    """The state of the built-in sandbox flows run on when no account is set: one state
    for the whole test, so what was sent can be counted."""
    state = SandboxState(status_delay=0.01)

    def transport(_: Any = None) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(create_app(state))

    monkeypatch.setattr(embedded_sandbox, "embedded_transport", transport)
    return state


def recorded_runs() -> list[dict[str, Any]]:
    """The runs in the journal (``flo runs list --json``)."""
    return json.loads(run_flo("runs", "list", "--json").out)
