"""Verify v2 (``verify.twilio.com``), served under ``/verify``: Services (create, fetch),
Verifications (create, fetch) and VerificationCheck, as ``verify_rules`` says; and the
sandbox's own ``GET /_sandbox/verifications?To=...``, which tells a test the code sent
(Twilio's routes never do)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flo_twilio.sandbox.guards import Handler, Sandbox
from flo_twilio.sandbox.state import SandboxAccount
from flo_twilio.sandbox.verify_rules import (
    VerifyError,
    check_json,
    service_json,
    verification_json,
)
from flo_twilio.sandbox.wire import error, read_form

PREFIX = "/verify/v2/Services"


def routes(sandbox: Sandbox) -> list[Route]:
    g = sandbox.guarded
    one = f"{PREFIX}/{{service_sid}}"
    return [
        Route(PREFIX, g(answering(create_service)), methods=["POST"]),
        Route(one, g(answering(fetch_service)), methods=["GET"]),
        Route(f"{one}/Verifications", g(answering(start)), methods=["POST"]),
        Route(f"{one}/Verifications/{{sid}}", g(answering(fetch)), methods=["GET"]),
        Route(f"{one}/VerificationCheck", g(answering(check)), methods=["POST"]),
        Route("/_sandbox/verifications", g(sent_code, drills=False), methods=["GET"]),
    ]


def answering(handler: Handler) -> Handler:
    """``handler``, with a ``VerifyError`` answered in Twilio's JSON error form."""

    async def endpoint(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
        try:
            return await handler(sandbox, request, account)
        except VerifyError as exc:
            return error(exc.status, exc.code, str(exc))

    return endpoint


def url_of(request: Request, *parts: str) -> str:
    return "/".join([str(request.base_url).rstrip("/") + PREFIX, *parts])


async def form_of(request: Request) -> dict[str, str]:
    return {k: v[0] for k, v in (await read_form(request)).items()}


async def create_service(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    form = await form_of(request)
    verify, now = sandbox.state.verify, sandbox.state.clock()
    service = verify.create_service(
        account.sid, form.get("FriendlyName", ""), form.get("CodeLength"), now
    )
    return JSONResponse(service_json(service, url_of(request, service.sid)), status_code=201)


async def fetch_service(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    sid = request.path_params["service_sid"]
    service = sandbox.state.verify.service(account.sid, sid, sandbox.state.clock())
    return JSONResponse(service_json(service, url_of(request, sid)))


async def start(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    form = await form_of(request)
    verify, now = sandbox.state.verify, sandbox.state.clock()
    service = verify.service(account.sid, request.path_params["service_sid"], now)
    verification = verify.start(service, form.get("To", ""), form.get("Channel", ""), now)
    url = url_of(request, service.sid, "Verifications", verification.sid)
    return JSONResponse(verification_json(verification, url), status_code=201)


async def fetch(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    verify, now = sandbox.state.verify, sandbox.state.clock()
    service = verify.service(account.sid, request.path_params["service_sid"], now)
    verification = verify.pending(service, now, sid=request.path_params["sid"])
    url = url_of(request, service.sid, "Verifications", verification.sid)
    return JSONResponse(verification_json(verification, url))


async def check(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    form = await form_of(request)
    verify, now = sandbox.state.verify, sandbox.state.clock()
    service = verify.service(account.sid, request.path_params["service_sid"], now)
    return JSONResponse(check_json(verify.check(service, form, now)))


async def sent_code(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    """The newest verification of ``To`` on the account, with its code."""
    verification = sandbox.state.verify.code_for(account.sid, request.query_params.get("To", ""))
    if verification is None:
        return error(404, 20404, "no verification was started to that To")
    return JSONResponse(
        {"sid": verification.sid, "status": verification.status, "code": verification.code}
    )
