"""The in-process sandbox flows run against when no account is configured. It keeps its
messages in a database file (the CLI's is ``$FLO_HOME/sandbox.db``), so a run on it can be
resumed (and its messages listed) by a later process, as on any account."""

from __future__ import annotations

from email.utils import formatdate
from pathlib import Path

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flo_twilio.sandbox.app import create_app
from flo_twilio.sandbox.state import SandboxState


def embedded_state(path: Path) -> SandboxState:
    """A sandbox's state kept in the database at ``path``, in a private folder (0700) and
    file (0600): it holds message bodies."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    return SandboxState(db_path=path)


def embedded_transport(db_path: Path) -> httpx.AsyncBaseTransport:
    """A transport that answers from an in-process sandbox kept at ``db_path``: no socket
    at all."""
    state = embedded_state(db_path)
    return httpx.ASGITransport(DateHeader(create_app(state), state))


class DateHeader:
    """Adds the ``Date`` header a server over a socket would, from the sandbox's clock."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                date = formatdate(self.state.clock(), usegmt=True).encode()
                message["headers"] = [*message.get("headers", []), (b"date", date)]
            await send(message)

        await self.app(scope, receive, dated)
