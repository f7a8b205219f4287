"""Webhooks: POST each status change to the message's StatusCallback, and incoming messages
to their number's SmsUrl; signed as Twilio signs them, with Twilio's idempotency token (the
same for every delivery of one event), and only to this machine.

The sandbox signs with its own code (it imports nothing from the client): a test that checks
its signatures with the client's or Twilio's own validator checks two implementations
against each other."""

from __future__ import annotations

import asyncio
import base64
import hmac
import ipaddress
import logging
import uuid
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from flo_twilio.sandbox.faults import Faults
from flo_twilio.sandbox.message_rules import render
from flo_twilio.sandbox.state import SandboxState
from flo_twilio.sandbox.webhook_log import WebhookLog

log = logging.getLogger("flo_twilio.sandbox")


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """``X-Twilio-Signature``: base64(HMAC-SHA1(token, url + each name+value by name))."""
    payload = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(
        hmac.new(auth_token.encode(), payload.encode(), "sha1").digest()
    ).decode()


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: callbacks go nowhere else."""
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Callbacks:
    """Runs one task per message with a StatusCallback; only loopback URLs are called.
    With the drill ``callbacks_disordered`` (in ``faults``), a message's callbacks are held
    until its last status, then sent newest first, each twice."""

    def __init__(
        self,
        state: SandboxState,
        transport: httpx.AsyncBaseTransport | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.state = state
        self.transport = transport
        self.faults = faults or Faults()
        self.log = WebhookLog(state.clock)  # every webhook sent, for the inbox page
        self.tasks: set[asyncio.Task[None]] = set()

    def schedule(self, message: dict[str, Any]) -> None:
        url = message["status_callback"]
        if not url:
            return
        if not is_loopback(urlsplit(url).hostname or ""):
            log.warning("sandbox: status callbacks go only to this machine; not calling %s", url)
            return
        self.spawn(self._follow(message, url))

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background until it ends or the sandbox closes."""
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _follow(self, message: dict[str, Any], url: str) -> None:
        seen = render(self.state, message)["status"]
        disordered = self.faults.callbacks_disordered
        held: list[dict[str, Any]] = []
        async with self.client() as http:
            while seen not in ("delivered", "undelivered", "failed", "canceled"):
                await asyncio.sleep(self.state.status_delay / 2)
                current = render(self.state, message)
                if current["status"] == seen:
                    continue
                seen = current["status"]
                if disordered:
                    held.append(current)
                else:
                    await self._post(http, url, message, current)
            for current in reversed(held):
                for _ in range(2):
                    await self._post(http, url, message, current)

    async def _post(
        self, http: httpx.AsyncClient, url: str, message: dict[str, Any], current: dict[str, Any]
    ) -> None:
        params = {
            "AccountSid": current["account_sid"],
            "ApiVersion": "2010-04-01",
            "From": current["from"] or "",
            "To": current["to"],
            "MessageSid": current["sid"],
            "SmsSid": current["sid"],
            "MessageStatus": current["status"],
            "SmsStatus": current["status"],
        }
        if current["error_code"]:
            params["ErrorCode"] = str(current["error_code"])
        token = self.state.accounts[message["account_sid"]].auth_token
        event = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{current['sid']}/{current['status']}"))
        await deliver(http, url, "POST", params, token, event)

    def client(self, timeout: float = 10) -> httpx.AsyncClient:
        """An HTTP client for webhooks (through the sandbox's transport, if it has one)."""
        transport = self.log.wrap(self.transport)
        return httpx.AsyncClient(transport=transport, trust_env=False, timeout=timeout)

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def deliver(
    http: httpx.AsyncClient,
    url: str,
    method: str,
    params: Mapping[str, str],
    auth_token: str,
    event: str,
) -> int | str:
    """Send one webhook as ``call_webhook`` does: the HTTP status, or why there is none."""
    answer = await call_webhook(http, url, method, params, auth_token, event)
    return answer if isinstance(answer, str) else answer.status_code


async def call_webhook(
    http: httpx.AsyncClient,
    url: str,
    method: str,
    params: Mapping[str, str],
    auth_token: str,
    event: str,
) -> httpx.Response | str:
    """Send one webhook as Twilio does: the parameters as a form body (POST) or in the query
    (GET), ``X-Twilio-Signature`` over the URL requested and the POST parameters, and the
    event's ``I-Twilio-Idempotency-Token``. The answer, or why there is none."""
    if not is_loopback(urlsplit(url).hostname or ""):
        log.warning("sandbox: webhooks go only to this machine; not calling %s", url)
        return "not called: webhooks go only to this machine (loopback)"
    if method == "GET":
        url += ("&" if urlsplit(url).query else "?") + urlencode(params)
        signed: Mapping[str, str] = {}
    else:
        signed = params
    headers = {
        "X-Twilio-Signature": signature(auth_token, url, signed.items()),
        "I-Twilio-Idempotency-Token": event,
        "User-Agent": "TwilioProxy/1.1",
    }
    try:
        response = await http.request(method, url, data=dict(signed) or None, headers=headers)
    except httpx.HTTPError as exc:
        log.info("sandbox: webhook to %s failed: %s", url, type(exc).__name__)
        return f"failed: {type(exc).__name__}"
    return response
