"""``flo serve FLOW.yaml...``: run flows with a trigger each time their event happens."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

from flo_twilio.cli.cmd_runs import add_journal_argument
from flo_twilio.errors import InvalidInputError, Problem

TIMEOUT_VARIABLE = "FLO_SERVE_CLIENT_TIMEOUT"
CONNECTIONS_VARIABLE = "FLO_SERVE_MAX_CONNECTIONS"

if TYPE_CHECKING:
    import asyncio

    from flo_twilio.accounts import Account
    from flo_twilio.plugins import Registry
    from flo_twilio.runner import Flow
    from flo_twilio.serve.server import Served


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run flows with a trigger each time their event happens (webhooks, or --poll)",
    )
    serve.add_argument("flows", type=Path, nargs="+", metavar="FLOW.yaml")
    serve.add_argument("--account", help="account nickname (default: the flows', or the default)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (0: any free one)")
    serve.add_argument(
        "--public-url",
        help="the URL the provider reaches this server at (a tunnel's or proxy's), e.g. "
        "https://abc.ngrok.app: the webhooks are signed for it (default http://HOST:PORT)",
    )
    serve.add_argument(
        "--trust-proxy",
        action="store_true",
        help="behind a reverse proxy: take the scheme and host webhooks were sent to from its "
        "X-Forwarded-Proto and X-Forwarded-Host (only when nothing but the proxy can reach "
        "this server)",
    )
    serve.add_argument(
        "--attach",
        action="store_true",
        help="point each trigger's webhook (a number's SmsUrl) at this server while it runs, "
        "if it is empty or already ours; the previous value is put back on exit",
    )
    serve.add_argument(
        "--replace", action="store_true", help="with --attach: take over a webhook set elsewhere"
    )
    serve.add_argument(
        "--poll",
        type=float,
        metavar="SECONDS",
        help="no public URL: list new events every SECONDS instead of receiving webhooks",
    )
    serve.add_argument(
        "--webhook-secret",
        choices=["-"],
        help="read the secret that signs webhooks from stdin (for Twilio: the Auth Token, "
        "needed when the account uses an API key)",
    )
    serve.add_argument("--settle", type=float, metavar="SECONDS", help="as for flo run")
    serve.add_argument(
        "--client-timeout",
        type=float,
        metavar="SECONDS",
        help=f"seconds a client may stay idle or take to send a whole request, then it gets 408 "
        f"and is dropped (default: ${TIMEOUT_VARIABLE}, else 10)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help=f"connections open at once; past it the one waiting longest for its client is "
        f"dropped (default: ${CONNECTIONS_VARIABLE}, else what the open-file limit leaves room "
        "for, at most 1000)",
    )
    add_journal_argument(serve)
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio

    import uvicorn

    from flo_twilio.accounts import secure_home
    from flo_twilio.cli.account_choice import choose_account, origin
    from flo_twilio.cli.cmd_cards import registry
    from flo_twilio.cli.output import warn_if_settle_is_short
    from flo_twilio.runner import Runner, load_flow, open_context, open_events, open_journal
    from flo_twilio.sandbox.limits import Refusals, guarded_protocol
    from flo_twilio.sandbox.server import bind, http_url
    from flo_twilio.serve.server import Server

    reg = registry()
    flows = [triggered(load_flow(path, reg), path) for path in args.flows]
    if args.poll is not None and (args.poll <= 0 or args.attach):
        raise InvalidInputError(
            "--poll takes a number of seconds above 0, and needs no --attach (nothing calls in)"
        )
    if args.replace and not args.attach:
        raise InvalidInputError("--replace goes with --attach")
    timeout, most = client_limits(args)
    flo = Runner(reg, open_journal(args.journal, secure_home), settle=args.settle)
    warn_if_settle_is_short(flo.settle)
    named = args.account or flows[0].account
    account, transport = choose_account(named)
    secret = "" if args.poll else webhook_secret(reg, account, args.webhook_secret)
    sock = None if args.poll else bind(args.host, args.port)
    port = sock.getsockname()[1] if sock else args.port
    base = public_base(args.public_url or http_url(args.host, port))
    served = [serving(flow, base) for flow in flows]
    paths = [s.path for s in served]
    if len(set(paths)) < len(paths):
        raise InvalidInputError("two flows have the same file name: their webhook URLs would clash")
    if len({s.route for s in served}) < len(served):
        raise InvalidInputError(
            "two flows have the same name and trigger (card and options): give each its own "
            "name:, which keys its events"
        )
    server = Server(
        flo,
        account,
        transport,
        origin(account, named),
        served,
        open_events(args.journal, secure_home),
        secret,
        trust_proxy=args.trust_proxy,
    )
    for s in served:
        where = f"polled every {args.poll:g}s" if args.poll else f"webhook URL {s.shown_url}"
        print(f"{s.flow.name} ({s.trigger.name}): {where}", file=sys.stderr, flush=True)

    refusals = Refusals("flo serve")

    async def main() -> None:
        stopping = stop_on_signals()  # from here on, SIGINT or SIGTERM lets the finally run
        asyncio.get_running_loop().set_exception_handler(refusals.loop_error)
        async with open_context(reg, account, transport) as ctx, server.running(ctx):
            if args.poll:
                await server.poll(args.poll, stopping)
                return
            attached = await server.attach(args.replace) if args.attach else []
            try:
                assert sock is not None
                config = uvicorn.Config(
                    server.app(),
                    log_level="warning",
                    access_log=False,
                    http=guarded_protocol(timeout, most, refusals),
                    lifespan="off",  # none used; a second Ctrl-C cancelled it with a traceback
                )
                await quiet_server(config, stopping).serve([sock])
            finally:
                await server.detach(attached)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    print("flo serve: stopped", file=sys.stderr)
    return 0


def client_limits(args: argparse.Namespace) -> tuple[float, int]:
    """How long a client may take to send a request, and how many may be connected: the
    flags, else the environment, else the defaults."""
    from flo_twilio.sandbox.limits import CLIENT_TIMEOUT, connections_allowed

    timeout = setting(args.client_timeout, TIMEOUT_VARIABLE, "--client-timeout", float, 3600)
    most = setting(args.max_connections, CONNECTIONS_VARIABLE, "--max-connections", int, 100_000)
    return (timeout or CLIENT_TIMEOUT, int(most or connections_allowed()))


def setting(
    flag: float | None, variable: str, name: str, kind: type[float] | type[int], highest: int
) -> float | None:
    """``flag``, else ``$variable``, else None; a value outside (0, highest] is refused."""
    import os

    value: float | None = flag
    if value is None and os.environ.get(variable, "").strip():
        try:
            value = kind(os.environ[variable])
        except ValueError:
            value = -1
    if value is not None and not 0 < value <= highest:  # NaN is refused too
        raise InvalidInputError(
            [Problem(f"{name} (or ${variable}) takes a number above 0, at most {highest}")]
        )
    return value


def triggered(flow: Flow, path: Path) -> Flow:
    if flow.trigger is None:
        raise InvalidInputError(
            [
                Problem(
                    "flo serve runs flows with a trigger; this one has none",
                    str(path),
                    "add trigger: {card: twilio.incoming_message, options: {to: ...}}, "
                    f"or run it with flo run {path}",
                )
            ]
        )
    return flow


def serving(flow: Flow, base: str) -> Served:
    from flo_twilio.runner import resolve_inputs
    from flo_twilio.serve.routes import route_of
    from flo_twilio.serve.server import Served
    from flo_twilio.trigger import Trigger

    assert flow.trigger is not None
    path = urlsplit(base).path.rstrip("/") + "/" + flow.path.stem
    card = flow.trigger.card()
    assert isinstance(card, Trigger)
    return Served(
        flow=flow,
        trigger=card,
        options=flow.trigger.options,
        inputs=resolve_inputs(flow.inputs, {}),
        path=path,
        url=base.rstrip("/") + "/" + flow.path.stem,
        route=route_of(flow),
    )


def public_base(url: str) -> str:
    parts = urlsplit(url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or not readable_port(parts)
    ):
        from flo_twilio.client import shown_url  # the client loads only when it is needed

        raise InvalidInputError(
            [
                Problem(
                    f"--public-url {shown_url(url)} is not an http(s) URL",
                    hint="e.g. https://abc.ngrok.app",
                )
            ]
        )
    return url


def readable_port(parts: SplitResult) -> bool:
    """The URL names no port, or one from 0 to 65535 (with 99999 or x, every webhook's
    signature check would raise)."""
    try:
        parts.port  # noqa: B018  # read for what it raises
    except ValueError:
        return False
    return True


def webhook_secret(reg: Registry, account: Account, given: str | None) -> str:
    """The secret that signs the provider's webhooks: the account's, or read from stdin."""
    kind = reg.connection(account.connection)
    if not kind.webhook_secret:
        raise InvalidInputError(f"{kind.title} accounts have no webhook signatures to check")
    if given == "-":
        secret = sys.stdin.readline().strip()
    else:
        secret = account.connection_values().get(kind.webhook_secret, "")
    if not secret:
        label = kind.field(kind.webhook_secret).label
        raise InvalidInputError(
            [
                Problem(
                    f"account {account.nickname!r} has no {label}: flo serve checks every "
                    f"webhook's signature with it, and serves no unchecked webhooks",
                    hint=f"give the {label} on stdin with --webhook-secret -, or use --poll",
                )
            ]
        )
    return secret


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (until uvicorn takes their handling over), so a
    signal that comes before the server serves still puts the webhooks back."""
    import asyncio

    from flo_twilio.cli.interrupts import on_signals

    stopping = asyncio.Event()
    on_signals(stopping.set, signal.SIGINT, signal.SIGTERM)  # nothing once the loop has ended
    return stopping


def quiet_server(config: Any, stopping: asyncio.Event) -> Any:
    """uvicorn that stops on SIGINT or SIGTERM, or at once when ``stopping`` was set before it
    started, without raising the signal again after, so the server's ``finally`` (putting
    webhooks back) runs."""
    import uvicorn

    class Quiet(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            self.force_exit = self.should_exit and sig == signal.SIGINT
            self.should_exit = True

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            self.should_exit = self.should_exit or stopping.is_set()

    return Quiet(config)
