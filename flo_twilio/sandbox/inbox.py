"""The inbox page at ``/``: every message, call, verification and webhook of the account,
live (server-sent events), with a box to text one of its numbers and one to set faults.

Only for this machine, as the rest of the sandbox: a request whose ``Host`` is not a
loopback name is refused (a DNS-rebinding page cannot read it), and so is a form posted
from another origin (another site cannot text a flow or change the faults). An account
with its own Auth Token (not the public default) asks for it, as the API does."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from flo_twilio.sandbox.api_inbound import text_in
from flo_twilio.sandbox.callbacks import is_loopback
from flo_twilio.sandbox.defaults import DEFAULT_AUTH_TOKEN
from flo_twilio.sandbox.faults import FaultError
from flo_twilio.sandbox.inbox_view import Thread, build, changes, clock_time
from flo_twilio.sandbox.state import SandboxAccount
from flo_twilio.sandbox.wire import read_form

if TYPE_CHECKING:
    import jinja2

    from flo_twilio.sandbox.guards import Sandbox

HERE = Path(__file__).parent
# Seconds between two looks at the account for the live page (FLO_INBOX_TICK).
TICK = float(os.environ.get("FLO_INBOX_TICK", "0.25"))
KEEPALIVE = 15.0  # seconds: an idle stream says so, and finds out when the tab is gone
SHOWN_FAULTS = ("rate_429", "rate_500", "rate_503", "latency")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' http: https: data:; connect-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer makes a form's Origin "null"
    "Cache-Control": "no-store",
}
Page = Callable[["Sandbox", Request, SandboxAccount], Awaitable[Response]]


def routes(sandbox: Sandbox) -> list[BaseRoute]:
    def page(handler: Page) -> Callable[[Request], Awaitable[Response]]:
        return guarded(sandbox, handler)

    return [
        Route("/", page(index), methods=["GET"]),
        Route("/_inbox/events", page(events), methods=["GET"]),
        Route("/_inbox/text", page(text), methods=["POST"]),
        Route("/_inbox/faults", page(faults), methods=["POST"]),
        Route("/_inbox/clear", page(clear), methods=["POST"]),
        Mount("/_inbox/static", StaticFiles(directory=HERE / "static"), name="inbox-static"),
    ]


def guarded(sandbox: Sandbox, handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """The handler, for loopback hosts and same-origin forms, with the security headers."""

    async def endpoint(request: Request) -> Response:
        host = urlsplit(f"//{request.headers.get('host', '')}").hostname or ""
        origin = request.headers.get("origin")
        if not is_loopback(host):
            answer: Response = refusal("this page answers only at a loopback address")
        elif request.method == "POST" and origin != f"{request.url.scheme}://{request.url.netloc}":
            answer = refusal("a form of this page is only taken from this page")
        else:
            account = inbox_account(sandbox, request)
            answer = await handler(sandbox, request, account) if account else ask_for_token()
        answer.headers.update(SECURITY_HEADERS)
        return answer

    return endpoint


def inbox_account(sandbox: Sandbox, request: Request) -> SandboxAccount | None:
    """The account whose credentials the request gives, else the first one if its Auth
    Token is the public default; None: ask."""
    if "authorization" in request.headers:
        account = sandbox.authenticate(request, None)
        return None if isinstance(account, Response) else account
    first = next(iter(sandbox.state.accounts.values()))
    return first if first.auth_token == DEFAULT_AUTH_TOKEN else None


def refusal(why: str) -> Response:
    return HTMLResponse(f"<p>{why}</p>", status_code=403)


def ask_for_token() -> Response:
    return HTMLResponse(
        "<p>Sign in with the account's SID and its Auth Token.</p>",
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="flo sandbox", charset="UTF-8"'},
    )


@cache
def templates() -> jinja2.Environment:
    """The page's templates, every value HTML-escaped (imported when first shown)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["clock"] = clock_time
    return env


def live_html(sandbox: Sandbox, account: SandboxAccount, query: str) -> str:
    view = build(sandbox.state, sandbox.callbacks.log, account.sid, query)
    return templates().get_template("live.html").render(view=view, query=query)


async def index(
    sandbox: Sandbox,
    request: Request,
    account: SandboxAccount,
    problem: str = "",
    status: int = 200,
) -> Response:
    query = request.query_params.get("q", "")
    form = await form_of(request) if request.method == "POST" else {}
    context: dict[str, Any] = {
        "account": account,
        "numbers": sandbox.state.numbers[account.sid],
        "faults": {name: getattr(sandbox.faults, name) for name in SHOWN_FAULTS},
        "faults_open": any(name in form for name in SHOWN_FAULTS),  # a fault refused
        "query": query,
        "problem": problem,
        "form": form,
        "live": live_html(sandbox, account, query),
    }
    page = templates().get_template("inbox.html").render(**context)
    return HTMLResponse(page, status_code=status)


async def events(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    """The live part of the page, sent again (as one server-sent event) whenever it changes."""
    query = request.query_params.get("q", "")

    async def stream() -> AsyncIterator[str]:
        sent, seen, settled, quiet = "", None, set[str](), 0.0
        yield "retry: 1000\n\n"
        while not getattr(request.app.state, "closing", False):  # set by a stopping server
            began = time.monotonic()
            mark = changes(sandbox.state, sandbox.callbacks.log, account.sid, settled)
            html = live_html(sandbox, account, query) if mark != seen else sent
            seen = mark
            if html != sent:
                sent, quiet = html, 0.0
                yield "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
            elif quiet >= KEEPALIVE:
                quiet = 0.0
                yield ": still here\n\n"
            # The page is drawn on the sandbox's event loop: a big, busy inbox is looked at
            # less often, so that the API keeps at least 4/5 of the loop's time.
            pause = max(TICK, 4 * (time.monotonic() - began))
            await asyncio.sleep(pause)
            quiet += pause

    return StreamingResponse(stream(), media_type="text/event-stream")


async def text(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    """The "Text as" box: a phone texts one of the account's numbers, firing its SmsUrl."""
    form = await form_of(request)
    media = form.get("media", "").strip()
    phone = form.get("from", "").strip()
    data = {
        "from": phone,
        "to": form.get("to", ""),
        "body": form.get("body", ""),
        "mediaUrls": [media] if media else [],
    }
    answer = await text_in(sandbox, account, data)
    if answer.status_code >= 400:
        return await index(sandbox, request, account, problem_of(answer), answer.status_code)
    return RedirectResponse(f"/#{Thread(phone).anchor}", status_code=303)


async def faults(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    """The faults box: the same checks as ``POST /_sandbox/faults``."""
    form = await form_of(request)
    changes = {name: number(form[name]) for name in SHOWN_FAULTS if name in form}
    try:
        sandbox.faults.update(changes)
    except FaultError as exc:
        return await index(sandbox, request, account, str(exc), 400)
    return RedirectResponse("/", status_code=303)


async def clear(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    """Forget the account's messages, calls, recordings and verifications, and the webhook
    log."""
    state = sandbox.state
    for sid in list(state.order[account.sid]):
        state.delete_message(sid)
    for sid in [sid for sid, call in state.calls.items() if call["account_sid"] == account.sid]:
        state.delete_call(sid)
    for sid in [sid for sid, r in state.recordings.items() if r["account_sid"] == account.sid]:
        state.delete_recording(sid)
    verify = state.verify.verifications
    for sid in [sid for sid, v in verify.items() if v.account_sid == account.sid]:
        del verify[sid]
    sandbox.callbacks.log.clear()
    return RedirectResponse("/", status_code=303)


async def form_of(request: Request) -> dict[str, str]:
    """The posted form (the page's forms are URL-encoded), the first value of each field."""
    return {name: values[0] for name, values in (await read_form(request)).items()}


def number(text: str) -> float | str:
    """``text`` as a number, or as it is (for the faults' own message)."""
    try:
        return float(text)
    except ValueError:
        return text


def problem_of(answer: Response) -> str:
    return str(json.loads(bytes(answer.body))["message"])
