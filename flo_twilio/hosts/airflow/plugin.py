"""Makes the connection list's **Test** button work for ``twilio`` connections on Airflow 3
up to 3.3.2, whose UI posts ``port: Number(connection.port)``, that is ``0`` for a
connection with no port (a Twilio one never has one). The api-server takes ``0`` for
another destination than the stored connection and answers 400 "The host or port to test
differs from the stored connection" (apache/airflow#73298 fixes it in the API, after
3.3.2). This middleware of the api-server drops ``port: 0`` from a test of a ``twilio``
connection, which is what that fix does; it changes no other request. Airflow loads it
through the ``airflow.plugins`` entry point.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TEST_PATH = "/api/v2/connections/test"
CONN_TYPE = "twilio"
MOST = 65536  # bytes read of a test's body; a longer one (no test is) passes on as it is


def portless(body: bytes) -> bytes:
    """The body of a connection test, without ``port: 0`` when it tests a ``twilio``
    connection; any other body as it is."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict) or data.get("conn_type") != CONN_TYPE:
        return body
    if data.get("port") != 0 or isinstance(data.get("port"), bool):
        return body
    del data["port"]
    return json.dumps(data).encode()


class PortlessConnectionTest:
    """ASGI middleware: a ``twilio`` connection's test request without ``port: 0``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].endswith(TEST_PATH)
        ):
            await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more and size <= MOST:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size, more = size + len(chunks[-1]), message.get("more_body", False)
        headers, body = scope["headers"], b"".join(chunks)
        if not more:
            body = portless(body)
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
        unread: list[Message] = [{"type": "http.request", "body": body, "more_body": more}]

        async def replay() -> Message:  # the body read above, then what the client sends
            return unread.pop() if unread else await receive()

        await self.app({**scope, "headers": headers}, replay, send)


class FloTwilioPlugin(AirflowPlugin):
    """flo-twilio's part of Airflow's api-server: the Test button's fix."""

    name = "flo_twilio"
    fastapi_root_middlewares = [  # noqa: RUF012 (Airflow reads the class attribute)
        {"middleware": PortlessConnectionTest, "name": "flo-twilio: Test button of twilio"}
    ]
