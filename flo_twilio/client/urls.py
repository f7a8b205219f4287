"""Where an account's requests go: api.twilio.com, a region/edge host, or an override.

Every part is checked where it enters (the command line, the environment, the accounts
file) and again when a URL is built, so credentials only ever go to ``*.twilio.com`` or to
the base URL the account was explicitly given.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

import httpx

from flo_twilio.errors import InvalidInputError, Problem
from flo_twilio.redaction import MASK

API_VERSION_PATH = "/2010-04-01"
TWILIO_DOMAIN = "twilio.com"
DEFAULT_PORTS = {"http": 80, "https": 443}
# A DNS label in lower case: Twilio's regions (us1, ie1, au1...), edges (dublin,
# sao-paulo, ashburn-ix...) and product hosts (api, messaging...) all fit it.
HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
EXAMPLE_BASE = "e.g. http://127.0.0.1:4010"
LABEL_EXAMPLES = {"region": "us1, ie1 or au1", "edge": "dublin, sydney or ashburn", "api": "api"}
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP address, maybe in brackets) is this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _refuse(message: str, hint: str) -> InvalidInputError:
    return InvalidInputError([Problem(message, hint=hint)])


def check_label(kind: str, value: str) -> str:
    """``value`` if it can only be one label of a host name under twilio.com."""
    if not HOST_LABEL.fullmatch(value):
        raise _refuse(
            f"{kind} {value!r} is not a Twilio {kind}",
            f"use lower-case letters, digits and '-', e.g. {LABEL_EXAMPLES.get(kind, 'api')}",
        )
    return value


def shown_url(url: str) -> str:
    """``url`` quoted for a message, with what may be secret masked: everything between its
    scheme and its last '@' (a user name and password, even one that breaks the URL), and
    its query and fragment."""
    scheme = SCHEME.match(url)
    start = scheme.end() if scheme else 0
    ats = [i for i, c in enumerate(url) if "@" in unicodedata.normalize("NFKC", c)]
    if ats and ats[-1] >= start:
        url = url[:start] + MASK + url[ats[-1] :]
    return repr(re.sub(r"[?#].*", lambda m: m[0][0] + MASK, url, count=1, flags=re.DOTALL))


def check_base_url(url: str) -> str:
    """``url`` as ``scheme://host[:port]`` when it is exactly that (no user info, path,
    query or fragment; plain http only to this machine), else an error saying why (the URL
    shown with ``shown_url``)."""

    def refuse(why: str, hint: str = EXAMPLE_BASE) -> InvalidInputError:
        return _refuse(f"api_base_url {shown_url(url)} {why}", hint)

    if any(c.isspace() or not c.isprintable() or c == "\\" for c in url):
        raise refuse("contains spaces, control characters or a backslash")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # its text may quote the URL: not shown
        raise refuse("is not a valid URL", f"check its host and port, {EXAMPLE_BASE}") from None
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise refuse("is not an http(s) URL", "e.g. https://api.twilio.com")
    if parts.scheme == "http" and not is_loopback(host):
        raise refuse(
            "uses plain http to a host that is not this machine",
            "use https, or http only for 127.0.0.1/localhost",
        )
    if "@" in parts.netloc:
        raise refuse(
            "holds a user name or password",
            "remove them and the '@', e.g. https://proxy.example.com; "
            "the credentials sent are the account's own",
        )
    if "?" in url or "#" in url or parts.path.strip("/"):
        raise refuse("must be a scheme and host only (no path, query or fragment)")
    base = f"{parts.scheme}://{parts.netloc}"
    sent_to = httpx.URL(base)  # the parser that sends must agree on the host and port
    default = DEFAULT_PORTS[parts.scheme]
    if sent_to.host != host or (sent_to.port or default) != (port or default):
        raise refuse("is ambiguous")
    return base


def base_url(
    product: str = "api",
    *,
    region: str | None = None,
    edge: str | None = None,
    api_base_url: str | None = None,
) -> str:
    """The base URL of a Twilio product, e.g. ``https://api.dublin.ie1.twilio.com`` or
    ``https://lookups.twilio.com``.

    An edge alone implies region ``us1``. ``api_base_url`` (a sandbox, mock or proxy)
    overrides the host: ``api`` is served at its root and every other product under
    ``/<product>`` (``http://127.0.0.1:4010/lookups``), as the sandbox serves them; plain
    http is accepted only for loopback hosts.
    """
    if api_base_url:
        base = check_base_url(api_base_url)
        return base if product == "api" else f"{base}/{check_label('api', product)}"
    if edge and not region:
        region = "us1"
    labels = [check_label("api", product)]
    if edge:
        labels.append(check_label("edge", edge))
    if region:
        labels.append(check_label("region", region))
    url = f"https://{'.'.join(labels)}.{TWILIO_DOMAIN}"
    if not httpx.URL(url).host.endswith(
        "." + TWILIO_DOMAIN
    ):  # cannot happen; never send if it does
        raise _refuse(f"{url} is not a Twilio host", "check the account's region and edge")
    return url
