"""Serve the sandbox over loopback with uvicorn (``flo sandbox``)."""

from __future__ import annotations

import sys

import uvicorn

from flo_twilio.sandbox.app import create_app
from flo_twilio.sandbox.faults import Faults
from flo_twilio.sandbox.state import SandboxState


def serve(state: SandboxState, faults: Faults, host: str = "127.0.0.1", port: int = 4010) -> None:
    """Run until Ctrl-C; print how to connect first."""
    app = create_app(state, faults)
    for sid, account in state.accounts.items():
        numbers = ", ".join(n.phone_number for n in state.numbers[sid])
        print(
            f"flo sandbox: a Twilio-compatible API on http://{host}:{port}\n"
            f"  account sid:  {sid}\n"
            f"  auth token:   {account.auth_token}\n"
            f"  numbers:      {numbers}\n"
            f"  connect it:   flo accounts add sandbox --account-sid {sid} --auth-token - "
            f"--api-base-url http://{host}:{port}",
            file=sys.stderr,
            flush=True,
        )
    uvicorn.run(
        app, host=host, port=port, log_level="warning", access_log=False, server_header=False
    )
