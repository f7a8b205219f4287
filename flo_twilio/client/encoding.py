"""Twilio's wire formats: form bodies out, RFC 2822 dates in."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode


def form_pairs(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Key/value pairs as Twilio reads them: lists repeat the key, booleans are
    ``true``/``false``, datetimes ISO 8601 in UTC, objects JSON text, None is dropped."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is not None:
                pairs.append((key, _scalar(item)))
    return pairs


def encode_form(params: Mapping[str, Any]) -> bytes:
    """``params`` as an ``application/x-www-form-urlencoded`` body (see ``form_pairs``)."""
    return urlencode(form_pairs(params)).encode("ascii")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetimes sent to Twilio need a time zone")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def parse_date(value: str | None) -> datetime | None:
    """An RFC 2822 date from a Twilio response as a timezone-aware datetime."""
    if not value:
        return None
    return _parse_rfc2822(value)


@functools.lru_cache(maxsize=256)  # a bulk send's answers share their dates to the second
def _parse_rfc2822(value: str) -> datetime:
    parsed = parsedate_to_datetime(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
