"""Where an account's requests go: api.twilio.com, a region/edge host, or an override."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flo_twilio.errors import InvalidInputError, Problem

API_VERSION_PATH = "/2010-04-01"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def base_url(
    product: str = "api",
    *,
    region: str | None = None,
    edge: str | None = None,
    api_base_url: str | None = None,
) -> str:
    """The scheme and host for a Twilio product, e.g. ``https://api.dublin.ie1.twilio.com``.

    An edge alone implies region ``us1``. ``api_base_url`` (a sandbox, mock or proxy)
    overrides everything; plain http is accepted only for loopback hosts.
    """
    if api_base_url:
        return check_base_url(api_base_url)
    if edge and not region:
        region = "us1"
    host = ".".join(part for part in (product, edge, region) if part)
    return f"https://{host}.twilio.com"


def check_base_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidInputError(
            [
                Problem(
                    f"api_base_url {url!r} is not an http(s) URL",
                    hint="e.g. https://api.twilio.com",
                )
            ]
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise InvalidInputError(
            [
                Problem(
                    f"api_base_url {url!r} uses plain http to a host that is not this machine",
                    hint="use https, or http only for 127.0.0.1/localhost",
                )
            ]
        )
    if parts.path.strip("/") or parts.query or parts.fragment or parts.username:
        raise InvalidInputError(
            [
                Problem(
                    f"api_base_url {url!r} must be a scheme and host only",
                    hint="e.g. http://127.0.0.1:4010",
                )
            ]
        )
    return f"{parts.scheme}://{parts.netloc}"
