"""Messages: create and list (``Messages.json``), fetch, cancel or redact, and delete one
(``Messages/{sid}.json``). What makes a message valid, and how it moves on, is in
``message_rules``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from flo_twilio.sandbox.message_rules import MessageError, create_message, message_status, render
from flo_twilio.sandbox.state import SandboxAccount, SandboxState
from flo_twilio.sandbox.wire import ACCOUNT, error, not_found, paged, read_form

if TYPE_CHECKING:
    from flo_twilio.sandbox.guards import Sandbox


def routes(sandbox: Sandbox) -> list[Route]:
    g = sandbox.guarded
    one = f"{ACCOUNT}/Messages/{{sid}}.json"
    return [
        Route(f"{ACCOUNT}/Messages.json", g(create), methods=["POST"]),
        Route(f"{ACCOUNT}/Messages.json", g(list_messages), methods=["GET"]),
        Route(one, g(fetch), methods=["GET"]),
        Route(one, g(update), methods=["POST"]),
        Route(one, g(delete), methods=["DELETE"]),
    ]


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


async def create(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    form = await read_form(request)
    try:
        message = create_message(sandbox.state, account.sid, form, sandbox.pace())
    except MessageError as exc:
        return error(400, exc.code, str(exc))
    sandbox.callbacks.schedule(message)
    if sandbox.faults.ambiguous():
        if sandbox.faults.ambiguous_mode == "drop":
            return DroppedConnection()
        return error(500, 20500, "Internal Server Error")
    return JSONResponse(render(sandbox.state, message), status_code=201)


async def list_messages(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    state, query = sandbox.state, request.query_params
    filters = {k: query[k] for k in ("To", "From") if k in query}
    dates = {op: query[f"DateSent{op}"] for op in ("", "<", ">") if f"DateSent{op}" in query}
    newest_first = (state.messages[sid] for sid in reversed(state.order[account.sid]))
    records = [
        message
        for message in newest_first
        if all(message[k.lower()] == v for k, v in filters.items())
        and (not dates or sent_matches(state, message, dates))
    ]
    return paged(request, records, "messages", lambda m: render(state, m))


def owned_message(
    sandbox: Sandbox, request: Request, account: SandboxAccount
) -> dict[str, Any] | None:
    """The message the path names, if it is the account's."""
    message = sandbox.state.messages.get(request.path_params["sid"])
    return message if message and message["account_sid"] == account.sid else None


async def fetch(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    message = owned_message(sandbox, request, account)
    return JSONResponse(render(sandbox.state, message)) if message else not_found(request)


async def update(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    """Cancel a scheduled message (Status=canceled) or redact its body (Body=)."""
    message = owned_message(sandbox, request, account)
    if not message:
        return not_found(request)
    form = {k: v[0] for k, v in (await read_form(request)).items()}
    if form.get("Status") == "canceled":
        status = message_status(sandbox.state, message)[0]
        if status not in ("scheduled", "accepted", "queued", "canceled"):
            return error(400, 30409, "Message cannot be canceled: it was already sent")
        message["canceled"] = True
    if "Body" in form:
        if form["Body"]:
            return error(400, 21602, "Body can only be redacted (set to empty)")
        message["body"] = ""
    message["updated"] = sandbox.state.clock()
    sandbox.state.save_message(message)
    return JSONResponse(render(sandbox.state, message))


async def delete(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    if not owned_message(sandbox, request, account):
        return not_found(request)
    sandbox.state.delete_message(request.path_params["sid"])
    return Response(status_code=204)


def sent_matches(state: SandboxState, message: dict[str, Any], dates: dict[str, str]) -> bool:
    """Twilio's DateSent filters: a day (YYYY-MM-DD) compares days, a date-time compares
    moments; ``<`` and ``>`` include the bound."""
    sent = message_status(state, message)[1]
    if sent is None:
        return False
    moment = datetime.fromtimestamp(sent, UTC)
    for op, value in dates.items():
        try:
            bound = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        mine: Any = moment if "T" in value else moment.date()
        limit: Any = (
            (bound if bound.tzinfo else bound.replace(tzinfo=UTC)) if "T" in value else bound.date()
        )
        if not {"": mine == limit, "<": mine <= limit, ">": mine >= limit}[op]:
            return False
    return True
