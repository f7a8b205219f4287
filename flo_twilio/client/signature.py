"""Twilio webhook signatures (``X-Twilio-Signature``) for status callbacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """base64(HMAC-SHA1(token, url + each name+value, sorted by name))."""
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def is_valid(auth_token: str, url: str, params: Iterable[tuple[str, str]], received: str) -> bool:
    """Whether ``received`` is the signature of this request, compared in constant time
    (as bytes: a header may hold any character, and is then simply not the signature)."""
    expected = signature(auth_token, url, params).encode()
    return hmac.compare_digest(expected, received.encode("utf-8", "replace"))
