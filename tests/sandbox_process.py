"""The sandbox in a child process (``flo sandbox``), for tests, benchmarks and fault drills
that need it on its own core, or a server that outlives the process that is killed."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN


@contextlib.contextmanager
def sandbox_process(*args: str, port: int | None = None) -> Iterator[str]:
    """``flo sandbox ARGS`` in a child process on a free loopback port; yields its URL."""
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flo_twilio.cli", "sandbox", "--port", str(port), *args],
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(
            proc,
            lambda: httpx.get(
                f"{url}/2010-04-01/Accounts.json", auth=(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
            ).raise_for_status(),
        )
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def wait_until_serving(
    proc: subprocess.Popen[Any], probe: Callable[[], object], seconds: float = 15
) -> None:
    """Call ``probe`` until it stops raising httpx errors; fail if ``proc`` dies or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            probe()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} did not start serving") from None
            time.sleep(0.05)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
