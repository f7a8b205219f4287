"""Keep secrets out of log records, whatever library wrote them."""

from __future__ import annotations

import base64
import logging
from typing import Any

MASK = "***"
_secrets: set[str] = set()


# Shorter strings are not masked: a one-letter "secret" would mask every word.
MIN_SECRET_LENGTH = 8


def register_secret(username: str, secret: str) -> None:
    """Mask ``secret``, and the Basic auth value built from it, in every log record."""
    if len(secret) >= MIN_SECRET_LENGTH:
        _secrets.add(secret)
        _secrets.add(base64.b64encode(f"{username}:{secret}".encode()).decode())


# Fields of Twilio responses that are credentials (an account's token, a new key's secret).
SECRET_FIELDS = frozenset({"auth_token", "secret"})


def mask_secret_fields(value: Any) -> Any:
    """A JSON value with every credential field replaced by ``***``."""
    if isinstance(value, dict):
        return {
            k: MASK if k in SECRET_FIELDS and v else mask_secret_fields(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_secret_fields(v) for v in value]
    return value


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _redact_record(record: logging.LogRecord) -> None:
    record.msg = redact(record.getMessage())
    record.args = None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None


def install() -> None:
    """Redact every log record as it is made: httpx, httpcore, aiohttp and ours alike.

    A record factory (rather than a logger filter) also covers child loggers such as
    ``httpcore.http11``. Records are only made for enabled levels, so it costs nothing
    on quiet loggers. Idempotent.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "flo_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _secrets:
            _redact_record(record)
        return record

    factory.flo_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
