"""Helpers for tests that run the ``flo`` command as a user would."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.sandbox_process import free_port, sandbox_process

ROOT = Path(__file__).parent.parent
__all__ = [
    "ROOT",
    "Result",
    "ServerThread",
    "basic_auth",
    "callback_receiver",
    "flo",
    "free_port",
    "in_terminal",
    "sandbox_process",
]


def basic_auth(username: str, password: str) -> str:
    """The Authorization header of HTTP Basic auth, as RFC 7617 writes it."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


@dataclass
class Result:
    code: int
    out: str
    err: str


def flo(
    *args: str, input: str | None = None, cwd: Path | None = None, env: dict | None = None
) -> Result:
    """Run ``python -m flo_twilio.cli ARGS`` in a subprocess with the test's environment."""
    proc = subprocess.run(
        [sys.executable, "-m", "flo_twilio.cli", *args],
        input=input,
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


class ServerThread:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a thread: real loopback HTTP."""

    def __init__(self, app, port: int | None = None) -> None:
        import threading

        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        import time

        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def in_terminal(
    *args: str, replies: tuple[tuple[str, str], ...] = (), timeout: float = 60
) -> tuple[int, str]:
    """Run ``flo ARGS`` in a pseudo-terminal, typing each reply when its prompt appears."""
    import os
    import pty
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: become flo
        os.chdir(ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "flo_twilio.cli", *args])
    output, pending = b"", list(replies)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 0.1)[0]:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if pending and pending[0][0].encode() in output:
                os.write(fd, (pending.pop(0)[1] + "\n").encode())
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def callback_receiver(path: str):
    """An ASGI app that records each POST to ``path`` as (form, X-Twilio-Signature)."""
    from urllib.parse import parse_qsl

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    received: list[tuple[dict[str, str], str]] = []

    async def hook(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        received.append((form, request.headers["x-twilio-signature"]))
        return Response()

    return Starlette(routes=[Route(path, hook, methods=["POST"])]), received
