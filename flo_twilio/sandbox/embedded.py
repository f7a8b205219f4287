"""The in-process sandbox flows run against when no account is configured."""

from __future__ import annotations

import httpx

from flo_twilio.accounts import Account
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


def embedded_transport(state: SandboxState | None = None) -> httpx.AsyncBaseTransport:
    """A transport that answers from a fresh in-process sandbox: no socket at all."""
    return httpx.ASGITransport(create_app(state or SandboxState()))
