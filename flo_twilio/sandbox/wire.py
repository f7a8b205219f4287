"""Twilio's wire forms, shared by the sandbox's routes: the JSON error body, list pages,
form bodies and RFC 2822 dates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

V = "/2010-04-01"
ACCOUNT = f"{V}/Accounts/{{account_sid}}"  # the path of one account, as a route pattern


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


def not_found(request: Request) -> Response:
    return error(404, 20404, f"The requested resource {request.url.path} was not found")


async def read_form(request: Request) -> dict[str, list[str]]:
    return parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)


def twilio_date(moment: float) -> str:
    """Epoch seconds as Twilio writes dates (RFC 2822): ``Thu, 30 Jul 2015 20:12:31 +0000``."""
    return datetime.fromtimestamp(moment, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


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
