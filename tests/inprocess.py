"""Run ``flo`` in this process (fast enough for property tests) and watch what the
built-in sandbox receives."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flo_twilio.cli import main
from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox import embedded as embedded_sandbox
from tests.helpers import Result


def run_flo(
    *args: str, input: str | None = None, cwd: Path | None = None, env: dict | None = None
) -> Result:
    """``flo ARGS`` through ``flo_twilio.cli.main``, stdout and stderr captured; ``input``
    is stdin (a pipe's, not a terminal), ``cwd`` the folder (default: this one) and ``env``
    more environment for it."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(environment(env or {}))
        if input is not None:
            stack.enter_context(stdin(input))
        code = main(list(args))
    return Result(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``variables`` set, as it was afterwards."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def stdin(text: str) -> Iterator[None]:
    """``sys.stdin`` reading ``text``, as a pipe would give it."""
    before = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = before


def builtin_sandbox(monkeypatch: pytest.MonkeyPatch) -> SandboxState:
    """The state of the built-in sandbox flows run on when no account is set: one state
    for the whole test, so what was sent can be counted."""
    state = SandboxState(status_delay=0.01)

    def transport(_db_path: Any = None) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(create_app(state))

    monkeypatch.setattr(embedded_sandbox, "embedded_transport", transport)
    return state


def recorded_runs() -> list[dict[str, Any]]:
    """The runs in the journal (``flo runs list --json``)."""
    return json.loads(run_flo("runs", "list", "--json").out)
