"""When to try a request again, and how long to wait first."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import httpx

# Methods that only read: one whose answer was lost may simply be asked again. Any other
# (DELETE too: asked again, it finds nothing and answers 404) may have acted once it may
# have been written, so its outcome is unknown: only a refused connection is "not sent".
READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})
TOO_MANY_REQUESTS = 429
# A 429 with another code refuses for minutes, not a moment: Verify's 60202 (max check
# attempts) and 60203 (max send attempts). Trying again would only use up the deadline.
SLOW_DOWN_CODES = frozenset({None, 20429})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped; ``max_attempts`` counts the first try."""

    max_attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 20.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (``attempt`` starts at 1)."""
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), self.max_delay)
            except ValueError:
                pass
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def asks_to_slow_down(response: httpx.Response) -> bool:
    """A 429 that a later try can get past: Twilio's 20429 (or no code at all)."""
    if response.status_code != TOO_MANY_REQUESTS:
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return True
    return not isinstance(body, dict) or body.get("code") in SLOW_DOWN_CODES


def never_sent(exc: httpx.TransportError) -> bool:
    """True when the request surely never reached the server (safe to send again).

    The aiohttp transport maps every aiohttp connection error, including a server that dropped
    the connection after reading the request, to ``ConnectTimeout``; only the cause
    tells a refused connection from a lost answer.
    """
    if not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return False
    import aiohttp  # here, not at start-up: only a failed request needs it

    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
    return True
