"""Status callbacks: POST each status change to the message's StatusCallback, signed.

The sandbox signs as Twilio does, with its own code (it imports nothing from the client): a
test that checks its signatures with the client's or Twilio's own validator checks two
implementations against each other."""

from __future__ import annotations

import asyncio
import base64
import hmac
import ipaddress
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

from flo_twilio.sandbox.message_rules import render
from flo_twilio.sandbox.state import SandboxState

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
    """Runs one task per message with a StatusCallback; only loopback URLs are called."""

    def __init__(
        self, state: SandboxState, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.state = state
        self.transport = transport
        self.tasks: set[asyncio.Task[None]] = set()

    def schedule(self, message: dict[str, Any]) -> None:
        url = message["status_callback"]
        if not url:
            return
        if not is_loopback(urlsplit(url).hostname or ""):
            log.warning("sandbox: status callbacks go only to this machine; not calling %s", url)
            return
        task = asyncio.get_running_loop().create_task(self._follow(message, url))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _follow(self, message: dict[str, Any], url: str) -> None:
        seen = render(self.state, message)["status"]
        async with httpx.AsyncClient(transport=self.transport, trust_env=False, timeout=10) as http:
            while seen not in ("delivered", "undelivered", "failed", "canceled"):
                await asyncio.sleep(self.state.status_delay / 2)
                current = render(self.state, message)
                if current["status"] == seen:
                    continue
                seen = current["status"]
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
        headers = {"X-Twilio-Signature": signature(token, url, params.items())}
        try:
            await http.post(url, data=params, headers=headers)
        except httpx.HTTPError as exc:
            log.info("sandbox: status callback to %s failed: %s", url, type(exc).__name__)

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
