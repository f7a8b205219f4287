"""The sandbox's ASGI app: the parts of Twilio's REST API (2010-04-01) the cards use."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from flo_twilio.sandbox.callbacks import Callbacks
from flo_twilio.sandbox.faults import Faults
from flo_twilio.sandbox.limits import MAX_BODY, BodyLimit
from flo_twilio.sandbox.messages import (
    MessageError,
    create_message,
    render,
    render_media,
    status_of,
    twilio_date,
)
from flo_twilio.sandbox.state import Account, SandboxState

V = "/2010-04-01"
Handler = Callable[[Request, Account], Awaitable[Response]]
FAULT_ERRORS = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


def error(status: int, code: int, message: str) -> JSONResponse:
    """Twilio's JSON error body."""
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


class DroppedConnection(Response):
    """Headers, then the connection closes before the body is complete."""

    def __init__(self) -> None:
        super().__init__(status_code=201)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"sid": ', "more_body": True})


class Sandbox:
    """Routes, auth and fault drills around a ``SandboxState``."""

    def __init__(self, state: SandboxState, faults: Faults, callbacks: Callbacks) -> None:
        self.state, self.faults, self.callbacks = state, faults, callbacks
        self.in_flight = 0

    def authenticate(self, request: Request, account_sid: str | None) -> Account | Response:
        """The account the request's Basic auth proves, or Twilio's 401. Whether it was an
        API key is kept in ``request.state.by_api_key``."""
        header = request.headers.get("authorization", "")
        try:
            scheme, _, encoded = header.partition(" ")
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            scheme = ""
        if scheme.lower() != "basic":
            return error(401, 20003, "Authentication Error - No credentials provided")
        key = self.state.keys.get(username)
        request.state.by_api_key = bool(key and key.secret == password)
        if key and request.state.by_api_key:
            owner = key.account_sid
        else:
            account = self.state.accounts.get(username)
            owner = username if account and account.auth_token == password else ""
        if not owner:
            return error(401, 20003, "Authenticate")
        if account_sid is not None and account_sid != owner:
            return error(401, 20003, "Authenticate")
        return self.state.accounts[owner]

    def guarded(
        self, handler: Handler, *, drills: bool = True, auth_token_only: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """Auth and (with ``drills``) the concurrency cap and injected faults, then the handler.

        With ``auth_token_only``, API keys are refused: like Twilio's standard keys, they
        cannot mint keys (nor, here, change the fault drills).
        """

        async def endpoint(request: Request) -> Response:
            self.in_flight += 1
            try:
                cap = self.faults.max_concurrency
                if drills and cap is not None and self.in_flight > cap:
                    return error(429, 20429, "Too Many Requests")
                if drills and self.faults.latency:
                    await asyncio.sleep(self.faults.latency)
                account = self.authenticate(request, request.path_params.get("account_sid"))
                if isinstance(account, Response):
                    return account
                if auth_token_only and request.state.by_api_key:
                    return error(
                        401,
                        20003,
                        "Authenticate: this needs the account's Auth Token, not an API key",
                    )
                injected = self.faults.injected_status() if drills else None
                if injected:
                    return error(injected, *FAULT_ERRORS[injected])
                return await handler(request, account)
            finally:
                self.in_flight -= 1

        return endpoint

    # Accounts, numbers, keys.

    async def list_accounts(self, request: Request, account: Account) -> Response:
        return paged(request, [account_json(account, request)], "accounts")

    async def fetch_account(self, request: Request, account: Account) -> Response:
        if request.path_params["account_sid"] != account.sid:
            return not_found(request)
        return JSONResponse(account_json(account, request))

    async def list_numbers(self, request: Request, account: Account) -> Response:
        numbers = [number_json(account.sid, n) for n in self.state.numbers[account.sid]]
        return paged(request, numbers, "incoming_phone_numbers")

    async def create_key(self, request: Request, account: Account) -> Response:
        form = await read_form(request)
        key = self.state.add_key(account.sid, (form.get("FriendlyName") or [""])[0])
        return JSONResponse(
            {
                "sid": key.sid,
                "friendly_name": key.friendly_name,
                "date_created": twilio_date(key.created),
                "date_updated": twilio_date(key.created),
                "secret": key.secret,
            },
            status_code=201,
        )

    # Messages.

    async def create_message(self, request: Request, account: Account) -> Response:
        form = await read_form(request)
        try:
            message = create_message(self.state, account.sid, form)
        except MessageError as exc:
            return error(400, exc.code, str(exc))
        self.callbacks.schedule(message)
        if self.faults.ambiguous():
            if self.faults.ambiguous_mode == "drop":
                return DroppedConnection()
            return error(500, 20500, "Internal Server Error")
        return JSONResponse(render(self.state, message), status_code=201)

    async def list_messages(self, request: Request, account: Account) -> Response:
        query = request.query_params
        filters = {k: query[k] for k in ("To", "From") if k in query}
        dates = {op: query[f"DateSent{op}"] for op in ("", "<", ">") if f"DateSent{op}" in query}
        newest_first = (self.state.messages[sid] for sid in reversed(self.state.order[account.sid]))
        records = [
            message
            for message in newest_first
            if all(message[k.lower()] == v for k, v in filters.items())
            and (not dates or sent_matches(self.state, message, dates))
        ]
        return paged(request, records, "messages", lambda m: render(self.state, m))

    def message(self, request: Request, account: Account) -> dict[str, Any] | None:
        message = self.state.messages.get(request.path_params["sid"])
        return message if message and message["account_sid"] == account.sid else None

    async def fetch_message(self, request: Request, account: Account) -> Response:
        message = self.message(request, account)
        return JSONResponse(render(self.state, message)) if message else not_found(request)

    async def update_message(self, request: Request, account: Account) -> Response:
        message = self.message(request, account)
        if not message:
            return not_found(request)
        form = {k: v[0] for k, v in (await read_form(request)).items()}
        if form.get("Status") == "canceled":
            if status_of(self.state, message)[0] not in ("scheduled", "accepted", "queued"):
                return error(400, 30409, "Message cannot be canceled: it was already sent")
            message["canceled"] = True
        if "Body" in form:
            if form["Body"]:
                return error(400, 21602, "Body can only be redacted (set to empty)")
            message["body"] = ""
        message["updated"] = self.state.clock()
        self.state.save_message(message)
        return JSONResponse(render(self.state, message))

    async def delete_message(self, request: Request, account: Account) -> Response:
        if not self.message(request, account):
            return not_found(request)
        self.state.delete_message(request.path_params["sid"])
        return Response(status_code=204)

    async def list_media(self, request: Request, account: Account) -> Response:
        message = self.message(request, account)
        if not message:
            return not_found(request)
        return paged(request, render_media(message), "media_list")

    # Fault drills at run time (not part of Twilio's API).

    async def faults_endpoint(self, request: Request, account: Account) -> Response:
        if request.method == "POST":
            try:
                self.faults.update(json.loads(await request.body() or b"{}"))
            except (ValueError, TypeError) as exc:
                return error(400, 20001, str(exc))
        return JSONResponse(self.faults.as_dict())


def create_app(
    state: SandboxState | None = None,
    faults: Faults | None = None,
    callback_transport: Any = None,
    max_body: int = MAX_BODY,
) -> Starlette:
    """The sandbox as an ASGI app; ``app.state.sandbox`` holds its state and faults.
    Request bodies over ``max_body`` bytes are refused with 413."""
    state = state or SandboxState()
    sandbox = Sandbox(state, faults or Faults(), Callbacks(state, callback_transport))
    g = sandbox.guarded
    a = f"{V}/Accounts/{{account_sid}}"
    routes = [
        Route(f"{V}/Accounts.json", g(sandbox.list_accounts), methods=["GET"]),
        Route(f"{a}.json", g(sandbox.fetch_account), methods=["GET"]),
        Route(f"{a}/IncomingPhoneNumbers.json", g(sandbox.list_numbers), methods=["GET"]),
        Route(f"{a}/Keys.json", g(sandbox.create_key, auth_token_only=True), methods=["POST"]),
        Route(f"{a}/Messages.json", g(sandbox.create_message), methods=["POST"]),
        Route(f"{a}/Messages.json", g(sandbox.list_messages), methods=["GET"]),
        Route(f"{a}/Messages/{{sid}}.json", g(sandbox.fetch_message), methods=["GET"]),
        Route(f"{a}/Messages/{{sid}}.json", g(sandbox.update_message), methods=["POST"]),
        Route(f"{a}/Messages/{{sid}}.json", g(sandbox.delete_message), methods=["DELETE"]),
        Route(f"{a}/Messages/{{sid}}/Media.json", g(sandbox.list_media), methods=["GET"]),
        Route(
            "/_sandbox/faults",
            g(sandbox.faults_endpoint, drills=False, auth_token_only=True),
            methods=["GET", "POST"],
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(BodyLimit, max_body=max_body)],
        exception_handlers={
            HTTPException: http_error,  # type: ignore[dict-item]
            Exception: internal_error,
        },
    )
    app.state.sandbox = sandbox
    return app


async def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 405:
        return error(405, 20004, "Method not allowed")
    return not_found(request)


async def internal_error(request: Request, exc: Exception) -> Response:
    """A bug in the sandbox still answers in Twilio's JSON error form."""
    return error(500, 20500, f"Internal Server Error ({type(exc).__name__})")


def not_found(request: Request) -> Response:
    return error(404, 20404, f"The requested resource {request.url.path} was not found")


async def read_form(request: Request) -> dict[str, list[str]]:
    return parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)


def paged(
    request: Request,
    records: list[dict[str, Any]],
    key: str,
    show: Callable[[dict[str, Any]], dict[str, Any]] = lambda record: record,
) -> Response:
    """One page of ``records`` (each passed through ``show``) with Twilio's paging fields;
    PageToken is the last sid seen."""
    query = request.query_params
    try:
        size = min(max(int(query.get("PageSize", 50)), 1), 1000)
        page = max(int(query.get("Page", 0)), 0)
    except ValueError:
        return error(400, 20001, "PageSize and Page must be integers")
    token = query.get("PageToken", "")
    if token.startswith("PA"):
        after = token[2:]
        start = next((i + 1 for i, r in enumerate(records) if r.get("sid") == after), len(records))
    else:
        start = page * size
    chunk = records[start : start + size]
    base = {k: v for k, v in query.items() if k not in ("Page", "PageToken", "PageSize")}
    path = request.url.path

    def uri(page_number: int, extra: dict[str, str] | None = None) -> str:
        return (
            f"{path}?{urlencode({**base, 'PageSize': size, 'Page': page_number, **(extra or {})})}"
        )

    has_next = start + size < len(records)
    return JSONResponse(
        {
            key: [show(record) for record in chunk],
            "end": start + len(chunk) - 1 if chunk else start,
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1, {"PageToken": f"PA{chunk[-1].get('sid', '')}"})
            if has_next and chunk
            else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "start": start,
            "uri": uri(page),
        }
    )


def sent_matches(state: SandboxState, message: dict[str, Any], dates: dict[str, str]) -> bool:
    sent = status_of(state, message)[1]
    if sent is None:
        return False
    day = datetime.fromtimestamp(sent, UTC).date().isoformat()
    checks = {
        "": day == dates.get(""),
        "<": day <= dates.get("<", ""),
        ">": day >= dates.get(">", ""),
    }
    return all(checks[op] for op in dates)


def account_json(account: Account, request: Request) -> dict[str, Any]:
    """The account's record; its Auth Token only for a caller who proved it, never for an
    API key (a key must not lead to the token)."""
    uri = f"{V}/Accounts/{account.sid}"
    return {
        "auth_token": None if request.state.by_api_key else account.auth_token,
        "date_created": twilio_date(account.created),
        "date_updated": twilio_date(account.created),
        "friendly_name": account.friendly_name,
        "owner_account_sid": account.sid,
        "sid": account.sid,
        "status": account.status,
        "subresource_uris": {
            "messages": f"{uri}/Messages.json",
            "incoming_phone_numbers": f"{uri}/IncomingPhoneNumbers.json",
            "keys": f"{uri}/Keys.json",
        },
        "type": account.type,
        "uri": f"{uri}.json",
    }


def number_json(account_sid: str, number: Any) -> dict[str, Any]:
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "capabilities": number.capabilities,
        "date_created": twilio_date(number.created),
        "date_updated": twilio_date(number.created),
        "friendly_name": number.friendly_name,
        "phone_number": number.phone_number,
        "sid": number.sid,
        "status": "in-use",
        "uri": f"{V}/Accounts/{account_sid}/IncomingPhoneNumbers/{number.sid}.json",
    }
