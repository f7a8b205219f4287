"""Twilio webhook signatures (``X-Twilio-Signature``), checked as Twilio's SDKs check them
(twilio-python's ``RequestValidator``): over the URL Twilio requested, query included as
sent, with or without the scheme's default port (Twilio's signing is not consistent about
it); a form body's parameters sorted by name; a JSON body not at all, but by its SHA-256 in
the URL's ``bodySHA256`` parameter."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit, urlunsplit

DEFAULT_PORTS = {"https": 443, "http": 80}


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


def is_valid_request(
    auth_token: str,
    url: str,
    params: Iterable[tuple[str, str]],
    received: str,
    body: bytes = b"",
) -> bool:
    """Whether ``received`` signs a webhook to ``url`` with the form ``params``, or, when
    the URL has ``bodySHA256``, the raw ``body`` that hash is of."""
    expected = body_hash(url)
    if expected is not None:
        digest = hashlib.sha256(body).hexdigest().encode()
        if not hmac.compare_digest(digest, expected.encode("utf-8", "replace")):
            return False
        params = ()
    pairs = list(params)
    return any(
        is_valid(auth_token, candidate, pairs, received)
        for candidate in {with_default_port(url), without_port(url)}
    )


def body_hash(url: str) -> str | None:
    """The ``bodySHA256`` of ``url``'s query: set, the body is JSON and signed by it."""
    hashes = parse_qs(urlsplit(url).query).get("bodySHA256")
    return hashes[0] if hashes else None


def with_default_port(url: str) -> str:
    """``url`` with its scheme's port written out, if it names none."""
    parts = urlsplit(url)
    if parts.port is not None or parts.scheme not in DEFAULT_PORTS:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{DEFAULT_PORTS[parts.scheme]}"))


def without_port(url: str) -> str:
    """``url`` without a port."""
    parts = urlsplit(url)
    if parts.port is None:
        return url
    userinfo, at, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=userinfo + at + hostport.rpartition(":")[0]))
