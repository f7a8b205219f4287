"""``flo sandbox``: serve the local Twilio-compatible API."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import textwrap
from typing import Any

TOKEN_VARIABLE = "FLO_SANDBOX_AUTH_TOKEN"


class WholeWords(argparse.HelpFormatter):
    """Help text wrapped without breaking SIDs and tokens at their hyphens."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(
            " ".join(text.split()),
            width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_on_hyphens=False,
        )


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``flo sandbox`` on ``commands``."""
    from flo_twilio.sandbox.defaults import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_NUMBERS

    sandbox = commands.add_parser(
        "sandbox",
        help="serve a local Twilio-compatible API (no account, no network)",
        formatter_class=WholeWords,
        description="Serve, on this machine only, the parts of Twilio's REST API the cards use. "
        f"Its account: SID {DEFAULT_ACCOUNT_SID}, Auth Token {DEFAULT_AUTH_TOKEN} (unless "
        "--account-sid and --auth-token say otherwise). Connect it with: flo accounts add "
        "sandbox --account-sid SID --auth-token - --api-base-url http://127.0.0.1:PORT",
    )
    sandbox.add_argument(
        "--host", default="127.0.0.1", help="a loopback address to listen on (default: %(default)s)"
    )
    sandbox.add_argument(
        "--port", type=int, default=4010, help="the port to listen on (default: %(default)s)"
    )
    sandbox.add_argument(
        "--account-sid", help=f"the account's SID (default: {DEFAULT_ACCOUNT_SID})"
    )
    sandbox.add_argument(
        "--auth-token",
        help=f"the account's Auth Token; '-' reads it from stdin (default: ${TOKEN_VARIABLE}, "
        f"else {DEFAULT_AUTH_TOKEN}). A value given here is visible to other users in ps",
    )
    sandbox.add_argument(
        "--client-timeout",
        type=float,
        metavar="SECONDS",
        help="seconds a client may stay idle or take to send a request (default: 10)",
    )
    sandbox.add_argument(
        "--number",
        action="append",
        help=f"a phone number of the account, repeatable (default: {', '.join(DEFAULT_NUMBERS)})",
    )
    sandbox.add_argument(
        "--db",
        metavar="FILE",
        help="keep messages and API keys in this SQLite file across restarts "
        "(default: in memory only)",
    )
    sandbox.add_argument(
        "--status-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between a message's statuses: queued, sent, delivered (default: %(default)s)",
    )
    sandbox.add_argument(
        "--unsubscribed",
        action="append",
        default=[],
        metavar="NUMBER",
        help="a number that replied STOP: sending to it fails with 21610 (repeatable)",
    )
    sandbox.add_argument(
        "--max-concurrency",
        type=int,
        metavar="N",
        help="answer 429 (20429) past N requests in flight (default: no limit)",
    )
    for code, effect in (
        ("429", "answered 429 (Too Many Requests)"),
        ("500", "answered 500 without being processed"),
        ("503", "answered 503 without being processed"),
    ):
        sandbox.add_argument(
            f"--rate-{code}",
            type=float,
            default=0.0,
            metavar="SHARE",
            help=f"share of requests (0 to 1) {effect} (default: %(default)s)",
        )
    sandbox.add_argument(
        "--ambiguous-rate",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of message creates (0 to 1) that are stored but answered as --ambiguous-mode "
        "says (default: %(default)s)",
    )
    sandbox.add_argument(
        "--ambiguous-mode",
        choices=["500", "drop"],
        default="500",
        help="how an ambiguous create is answered: 500, or the connection dropped mid-response "
        "(default: %(default)s)",
    )
    sandbox.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds added to each request (default: %(default)s)",
    )
    sandbox.add_argument(
        "--sender-rate",
        type=float,
        metavar="SEGMENTS",
        help="segments a second each sender sends, queueing the rest as Twilio does "
        "(default: no queue)",
    )
    sandbox.add_argument(
        "--queue-seconds",
        type=float,
        default=36000.0,
        metavar="SECONDS",
        help="the most a sender's queue holds; past it, 21611 (or 30001 for a Messaging "
        "Service) (default: %(default)s)",
    )
    sandbox.add_argument(
        "--callbacks-disordered",
        action="store_true",
        help="send each message's status callbacks newest first and twice, once it ends",
    )
    sandbox.set_defaults(handler=run_sandbox)


def run_sandbox(args: argparse.Namespace) -> int:
    import sqlite3

    from flo_twilio.client import is_loopback
    from flo_twilio.errors import InvalidInputError, Problem
    from flo_twilio.sandbox import Faults, SandboxState
    from flo_twilio.sandbox.faults import FaultError
    from flo_twilio.sandbox.server import serve
    from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_NUMBERS

    if not is_loopback(args.host):
        raise InvalidInputError(
            "--host must be a loopback address such as 127.0.0.1: the sandbox is for this machine"
        )
    try:
        state = SandboxState(
            args.account_sid or DEFAULT_ACCOUNT_SID,
            sandbox_token(args.auth_token) or DEFAULT_AUTH_TOKEN,
            args.number or DEFAULT_NUMBERS,
            status_delay=args.status_delay,
            unsubscribed=args.unsubscribed,
            db_path=args.db,
        )
    except sqlite3.Error as exc:
        raise InvalidInputError(
            [
                Problem(
                    f"--db {args.db}: cannot keep the sandbox's messages there ({exc})",
                    hint="give a path to a new file or an earlier --db file, in a folder you can write to",
                )
            ]
        ) from None
    try:
        faults = Faults(
            max_concurrency=args.max_concurrency,
            rate_429=args.rate_429,
            rate_500=args.rate_500,
            rate_503=args.rate_503,
            ambiguous_rate=args.ambiguous_rate,
            ambiguous_mode=args.ambiguous_mode,
            latency=args.latency,
            sender_rate=args.sender_rate,
            queue_seconds=args.queue_seconds,
            callbacks_disordered=args.callbacks_disordered,
        )
    except FaultError as exc:
        flag = "--" + exc.field.replace("_", "-")
        message = str(exc).replace(exc.field, flag, 1)
        raise InvalidInputError([Problem(message, hint="see flo sandbox --help")]) from None
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
