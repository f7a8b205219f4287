"""Custom API Action: any authenticated call to the account's Twilio API host."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx

from flo_twilio.card import Card, CardContext
from flo_twilio.cards.manifest_folder import load_manifest
from flo_twilio.client import TwilioClient, form_pairs
from flo_twilio.client.urls import API_VERSION_PATH
from flo_twilio.errors import InvalidInputError, Problem
from flo_twilio.redaction import mask_secret_fields

# Headers the connection sets itself: credentials, the host, and the message framing
# (hop-by-hop headers, RFC 9110 section 7.6.1; a second Content-Length or a
# Transfer-Encoding could smuggle a request).
FORBIDDEN_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a token, RFC 9110 section 5.6.2
HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")  # visible ASCII, spaces and tabs
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def safe_path(relative_url: str) -> str:
    """``relative_url`` as a path under the API base, or an error saying why it is not one.

    It must never become a URL to another host: schemes, ``//``, backslashes, ``@``,
    ``..`` segments, whitespace and control characters are refused, also when
    percent-encoded.
    """

    def refuse(why: str) -> InvalidInputError:
        return InvalidInputError(
            [
                Problem(
                    f"inputs.relativeUrl {why}",
                    hint="give a path relative to the API base, like /Accounts.json",
                )
            ]
        )

    text = relative_url
    for _ in range(4):  # look through layers of percent-encoding
        if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
            raise refuse("contains whitespace or control characters")
        if _SCHEME.match(text):
            raise refuse("is a full URL; only a path is allowed")
        if text.startswith(("//", "/\\")) or "\\" in text:
            raise refuse("contains // at the start or a backslash")
        if "@" in text:
            raise refuse("contains @")
        path = text.split("?", 1)[0]
        if "#" in text:
            raise refuse("contains a fragment (#)")
        if any(segment in (".", "..") for segment in path.split("/")):
            raise refuse("contains . or .. segments")
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    else:
        raise refuse("is percent-encoded too many times")
    return relative_url if relative_url.startswith("/") else "/" + relative_url


def query_pairs(query: Any) -> list[tuple[str, str]]:
    """The ``query`` input (object, JSON object text or urlencoded text) as pairs."""
    if query in (None, ""):
        return []
    if isinstance(query, str):
        text = query.strip()
        if text.startswith("{"):
            try:
                query = json.loads(text)
            except ValueError:
                raise InvalidInputError(
                    [
                        Problem(
                            "inputs.query is not valid JSON",
                            hint='e.g. {"PageSize": 20} or PageSize=20',
                        )
                    ]
                ) from None
        else:
            return parse_qsl(text, keep_blank_values=True)
    return form_pairs(query)


class CustomApi(Card):
    name = "twilio.custom_api"
    manifest = load_manifest(name)

    def changes_world(self, options: Mapping[str, Any]) -> bool:
        return options.get("method", "GET") != "GET"

    def check(self, options: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
        """A path under the API base, headers the flow may set, a query that reads."""
        self.request(options, inputs)

    def preview(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        method, path, request = self.request(options, inputs)
        preview = client.preview(
            method,
            path,
            form=request.get("form"),
            base=client.product_url(options.get("api", "api")),
        )
        preview["query"] = request.get("params", [])
        preview["headers"] = request["headers"]
        if "content" in request:
            preview["body"] = request["content"].decode()
        return preview

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        method, path, request = self.request(options, inputs)
        response = await client.request(
            method,
            path,
            base=client.product_url(options.get("api", "api")),
            raise_for_status=False,
            **request,
        )
        return response_outputs(response)

    def request(
        self, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> tuple[str, str, dict[str, Any]]:
        """Method, path and the rest of the request (headers, params, form or content)."""
        method = options["method"]
        path = safe_path(inputs["relativeUrl"])
        if options.get("api", "api") == "api":
            path = API_VERSION_PATH + path
        headers = checked_headers(inputs.get("headers") or {})
        request: dict[str, Any] = {"headers": headers}
        if method in ("GET", "DELETE"):
            request["params"] = query_pairs(inputs.get("query"))
        elif _is_json(headers):
            query = inputs.get("query")
            request["content"] = (
                query if isinstance(query, str) else json.dumps(query or {})
            ).encode()
        else:
            request["form"] = dict_of_lists(query_pairs(inputs.get("query")))
        return method, path, request


def checked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` when every name is an HTTP token the flow may set and every value is
    plain text; else an error listing each problem. Nothing is sent either way."""
    problems = []
    for name, value in headers.items():
        if not HEADER_NAME.fullmatch(name):
            problems.append(
                Problem(
                    f"inputs.headers: {name!r} is not a valid header name",
                    hint="letters, digits and !#$%&'*+-.^_`|~ only: no spaces, colons or control characters",
                )
            )
        elif name.lower() in FORBIDDEN_HEADERS:
            problems.append(
                Problem(
                    f"inputs.headers may not set {name}",
                    hint="the account's credentials, the host and the message framing are set for you",
                )
            )
        if not HEADER_VALUE.fullmatch(value):
            problems.append(
                Problem(
                    f"inputs.headers: the value of {name!r} contains line breaks, control or non-ASCII characters",
                    hint="give plain ASCII text on one line",
                )
            )
    if problems:
        raise InvalidInputError(problems)
    return dict(headers)


def dict_of_lists(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


def _is_json(headers: Mapping[str, str]) -> bool:
    return any(k.lower() == "content-type" and "json" in v.lower() for k, v in headers.items())


def response_outputs(response: httpx.Response) -> dict[str, Any]:
    """Status, headers and body, with credential fields masked whatever the body's format
    (JSON, or XML, form or CSV text: Twilio answers XML for a path without ``.json``)."""
    body: Any = response.text
    if "json" in response.headers.get("content-type", "") and response.content:
        with contextlib.suppress(ValueError):
            body = json.loads(response.content)
    headers = {k: ", ".join(response.headers.get_list(k)) for k in response.headers}
    return mask_secret_fields(
        {"statusCode": response.status_code, "headers": headers, "body": body}
    )
