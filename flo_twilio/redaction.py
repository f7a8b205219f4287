"""Keep secrets out of everything flo writes: logs, stdout, stderr, the journal, files.

Two complementary guards:

- **Registered secrets** (an account's token, an API key's secret, and the Basic auth
  value built from them) are replaced by ``***`` wherever they appear in text.
  ``register_secret`` is public: a host can register a secret before any client exists;
  loading an account registers its secrets.
- **Credential fields** (``auth_token``, ``AuthToken``, ``secret``, ``Secret``,
  ``api_secret``...) are masked in JSON values and in JSON, XML, form-encoded and CSV text,
  whatever the URL's extension said. A value found that way is registered too.

Log records are masked as they are made, and only those that hold a secret: every other
record keeps its ``args``, ``exc_info`` and ``stack_info`` untouched.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import functools
import io
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "MASK",
    "is_credential_field",
    "mask_secret_fields",
    "mask_text",
    "masked_json",
    "redact",
    "redacted_stdio",
    "register_secret",
    "safe_json",
]

MASK = "***"
# Shorter strings are not masked: a one-letter "secret" would mask every word.
MIN_SECRET_LENGTH = 8
_secrets: set[str] = set()


def register_secret(secret: str, *, username: str | None = None) -> None:
    """Mask ``secret`` from now on in logs, output and the journal; with ``username``,
    also the HTTP Basic auth value ``base64(username:secret)``. Safe to call repeatedly."""
    if len(secret) < MIN_SECRET_LENGTH:
        return
    _secrets.add(secret)
    if username is not None:
        _secrets.add(base64.b64encode(f"{username}:{secret}".encode()).decode())
    _install_log_masking()


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _holds_secret(text: str | None) -> bool:
    return text is not None and any(secret in text for secret in _secrets)


# Credential fields, in every body format.

_CREDENTIAL_NAMES = frozenset({"authtoken", "secret", "apisecret"})
_NAME = r"(?:auth[_-]?token|(?:api[_-]?)?secret)"
_JSON_MEMBER = re.compile(rf'("{_NAME}"\s*:\s*")((?:[^"\\]|\\.)+)(")', re.IGNORECASE)
_XML_ELEMENT = re.compile(
    rf"(<((?:[\w.-]+:)?{_NAME})(?:\s[^>]*)?>)(.+?)(</\2\s*>)", re.IGNORECASE | re.DOTALL
)
_ATTRIBUTE = re.compile(rf"(\b{_NAME}\s*=\s*)(\"[^\"]+\"|'[^']+')", re.IGNORECASE)
_FORM_PAIR = re.compile(rf"((?:^|(?<=[&?;\s])){_NAME}=)(?![\"'])([^&\s]+)", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)  # field names repeat on every item of a run
def is_credential_field(name: str) -> bool:
    """Whether a field called ``name`` holds a credential (``AuthToken``, ``api-secret``...)."""
    return name.lower().replace("_", "").replace("-", "") in _CREDENTIAL_NAMES


def _masked(value: Any) -> str:
    if isinstance(value, str):
        register_secret(value)
    return MASK


def mask_text(text: str) -> str:
    """``text`` with credential values masked, read as JSON, XML, form or CSV alike."""
    lowered = text.lower()
    if "token" not in lowered and "secret" not in lowered:
        return text  # the common case, quickly
    text = _JSON_MEMBER.sub(lambda m: m[1] + _masked(m[2]) + m[3], text)
    text = _XML_ELEMENT.sub(lambda m: m[1] + _masked(m[3]) + m[4], text)
    text = _ATTRIBUTE.sub(lambda m: m[1] + m[2][0] + _masked(m[2][1:-1]) + m[2][0], text)
    text = _FORM_PAIR.sub(lambda m: m[1] + _masked(m[2]), text)
    return _mask_csv(text)


def _mask_csv(text: str) -> str:
    """CSV whose header row names a credential column, with that column masked."""
    try:
        header = next(csv.reader([text.partition("\n")[0]]), [])
        columns = [i for i, name in enumerate(header) if is_credential_field(name.strip())]
        if len(header) < 2 or not columns:
            return text
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error:  # not CSV after all (a NUL, a huge field...)
        return text
    for row in rows[1:]:
        for i in columns:
            if i < len(row) and row[i]:
                row[i] = _masked(row[i])
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n" if "\r\n" in text else "\n").writerows(rows)
    return out.getvalue()


def mask_secret_fields(value: Any) -> Any:
    """A JSON value with every credential field replaced by ``***``, and credential values
    inside its strings (XML, form or CSV text) masked too."""
    if isinstance(value, dict):
        return {
            k: _masked(v)
            if isinstance(k, str) and is_credential_field(k) and v
            else mask_secret_fields(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_secret_fields(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def masked_json(
    value: Any, *, indent: int | None = None, default: Callable[[Any], Any] | None = None
) -> str:
    """JSON text of ``mask_secret_fields(value)``. Most values hold no credential: their
    text, made first, names none, and ``value`` is then not copied to be masked."""
    text = json.dumps(value, ensure_ascii=False, default=default, indent=indent)
    if _may_hold_credentials(text):
        masked = mask_secret_fields(value)
        text = json.dumps(masked, ensure_ascii=False, default=default, indent=indent)
    return text


def _may_hold_credentials(text: str) -> bool:
    """False when JSON text (non-ASCII kept) has no key that ``is_credential_field`` and no
    string that ``mask_text`` would change: each of those, folded as they fold names,
    holds "token" or "secret"."""
    folded = text.lower().replace("_", "").replace("-", "")
    return "token" in folded or "secret" in folded


def safe_json(value: Any, *, indent: int | None = None) -> str:
    """JSON text of ``value`` fit to print or store: credential fields masked and
    registered secrets redacted."""
    return redact(masked_json(value, indent=indent, default=str))


# Log records.


def _mask_record(record: logging.LogRecord) -> None:
    """Rewrite ``record`` as redacted text when it holds a secret; leave it alone otherwise."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it when the record is emitted
        return
    exc_text = record.exc_text
    if record.exc_info and record.exc_info[1] is not None and not exc_text:
        exc_text = logging.Formatter().formatException(record.exc_info)
    if not any(_holds_secret(text) for text in (message, exc_text, record.stack_info)):
        return
    record.msg, record.args = redact(message), ()
    if exc_text:
        record.exc_text, record.exc_info = redact(exc_text), None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _install_log_masking() -> None:
    """Mask records as they are made, whichever library logs them (a record factory, unlike
    a logger filter, also sees child loggers such as ``httpcore.http11``). Idempotent."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "flo_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _secrets:
            _mask_record(record)
        return record

    factory.flo_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


# Standard output and error.


class _RedactingStream:
    """A text stream that redacts registered secrets from everything written to it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return int(self._stream.write(redact(text)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def redacted_stdio() -> Iterator[None]:
    """Within the block, whatever is written to stdout and stderr is redacted."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _RedactingStream(sys.stdout), _RedactingStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
