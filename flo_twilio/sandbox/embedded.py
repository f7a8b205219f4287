"""The in-process sandbox flows run against when no account is configured. It keeps its
messages in ``$FLO_HOME/sandbox.db``, so a run on it can be resumed (and its messages
listed) by a later process, as on any account."""

from __future__ import annotations

from email.utils import formatdate

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flo_twilio.accounts import Account, flo_home
from flo_twilio.sandbox.app import create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, SandboxState

NICKNAME = "sandbox"
NOTICE = "sandbox: no account configured, running against the built-in sandbox; no message left this machine"


def embedded_account() -> Account:
    return Account(
        NICKNAME,
        "twilio",
        values={"account_sid": DEFAULT_ACCOUNT_SID, "api_base_url": "http://127.0.0.1"},
        secret_store="embedded",
        secrets={"auth_token": DEFAULT_AUTH_TOKEN},
    )


def embedded_state() -> SandboxState:
    """The built-in sandbox's state, kept under FLO_HOME (private: it holds message bodies)."""
    home = flo_home()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = home / "sandbox.db"
    path.touch(mode=0o600, exist_ok=True)
    return SandboxState(db_path=path)


def embedded_transport(state: SandboxState | None = None) -> httpx.AsyncBaseTransport:
    """A transport that answers from an in-process sandbox: no socket at all."""
    state = state or embedded_state()
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
