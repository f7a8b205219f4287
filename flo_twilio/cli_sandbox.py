"""``flo sandbox``: serve the local Twilio-compatible API."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

TOKEN_VARIABLE = "FLO_SANDBOX_AUTH_TOKEN"


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``flo sandbox`` on ``commands``."""
    sandbox = commands.add_parser(
        "sandbox", help="serve a local Twilio-compatible API (no account, no network)"
    )
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=4010)
    sandbox.add_argument("--account-sid", help="the account's SID (default: a fixed sandbox SID)")
    sandbox.add_argument(
        "--auth-token",
        help=f"the account's Auth Token; '-' reads it from stdin (default: ${TOKEN_VARIABLE}, "
        "else a fixed one). A value given here is visible to other users in ps",
    )
    sandbox.add_argument(
        "--client-timeout",
        type=float,
        help="seconds a client may stay idle or take to send a request (default 10)",
    )
    sandbox.add_argument(
        "--number", action="append", help="a phone number of the account (repeatable)"
    )
    sandbox.add_argument("--db", help="keep messages in this SQLite file across restarts")
    sandbox.add_argument(
        "--status-delay", type=float, default=1.0, help="seconds between message statuses"
    )
    sandbox.add_argument(
        "--unsubscribed", action="append", default=[], help="a number that replied STOP"
    )
    sandbox.add_argument(
        "--max-concurrency", type=int, help="answer 429 past this many requests in flight"
    )
    sandbox.add_argument(
        "--rate-429", type=float, default=0.0, help="share of requests answered 429"
    )
    sandbox.add_argument(
        "--rate-500", type=float, default=0.0, help="share answered 500, not processed"
    )
    sandbox.add_argument(
        "--rate-503", type=float, default=0.0, help="share answered 503, not processed"
    )
    sandbox.add_argument(
        "--ambiguous-rate",
        type=float,
        default=0.0,
        help="share of message creates that succeed but answer 500 or drop the connection",
    )
    sandbox.add_argument("--ambiguous-mode", choices=["500", "drop"], default="500")
    sandbox.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    sandbox.set_defaults(handler=run_sandbox)


def run_sandbox(args: argparse.Namespace) -> int:
    from flo_twilio.client.urls import is_loopback
    from flo_twilio.errors import InvalidInputError
    from flo_twilio.sandbox import Faults, SandboxState
    from flo_twilio.sandbox.server import serve
    from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_NUMBERS

    if not is_loopback(args.host):
        raise InvalidInputError(
            "--host must be a loopback address such as 127.0.0.1: the sandbox is for this machine"
        )
    state = SandboxState(
        args.account_sid or DEFAULT_ACCOUNT_SID,
        sandbox_token(args.auth_token) or DEFAULT_AUTH_TOKEN,
        args.number or DEFAULT_NUMBERS,
        status_delay=args.status_delay,
        unsubscribed=args.unsubscribed,
        db_path=args.db,
    )
    faults = Faults(
        max_concurrency=args.max_concurrency,
        rate_429=args.rate_429,
        rate_500=args.rate_500,
        rate_503=args.rate_503,
        ambiguous_rate=args.ambiguous_rate,
        ambiguous_mode=args.ambiguous_mode,
        latency=args.latency,
    )
    if args.client_timeout is not None and not args.client_timeout > 0:
        raise InvalidInputError("--client-timeout must be a number of seconds above 0")
    serve(state, faults, args.host, args.port, client_timeout=args.client_timeout)
    return 0


def sandbox_token(flag: str | None) -> str:
    """The token from ``--auth-token`` ('-': stdin, or a hidden prompt at a terminal), else
    from the environment; empty for the default."""
    if flag != "-":
        return flag or os.environ.get(TOKEN_VARIABLE, "")
    if sys.stdin.isatty():
        return getpass.getpass("Sandbox Auth Token: ")
    return sys.stdin.readline().strip()
