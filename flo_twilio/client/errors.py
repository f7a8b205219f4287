"""The Twilio client's errors: the contract's, told apart for Twilio.

FloError
├── TwilioError               talking to Twilio failed (e.g. paging that never ends)
│   ├── TwilioApiError        the API answered with an error: also a ProviderError
│   └── TwilioTransportError  no answer, and the request is known not to have been processed
│                             (also the contract's NotSentError)
│       └── TwilioUnreachableError  a connection refused on this machine: not tried again
└── OutcomeUnknownError       (the contract's) a POST that may have been processed
"""

from __future__ import annotations

from flo_twilio.errors import FloError, NotSentError, ProviderError, UnreachableError

PROVIDER = "Twilio"


class TwilioError(FloError):
    """Talking to the Twilio API failed."""


class TwilioApiError(ProviderError, TwilioError):
    """The API answered with an error status and (usually) a Twilio error body."""

    def __init__(
        self,
        status: int,
        code: int | None,
        message: str,
        more_info: str | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        self.method = method
        self.path = path
        super().__init__(message, provider=PROVIDER, status=status, code=code, more_info=more_info)


class TwilioTransportError(NotSentError, TwilioError):
    """No answer from the API, and the request is known not to have been processed."""


class TwilioUnreachableError(UnreachableError, TwilioTransportError):
    """Nothing listens at the API's address on this machine (the sandbox is not running?)."""
