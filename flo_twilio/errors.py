"""The exceptions flo_twilio raises.

FloError
├── InvalidInputError      bad flow, options or inputs; nothing was sent (exit code 2)
│   └── ManifestError      a card manifest breaks the manifest meta-schema
├── PluginError            a plugin could not be loaded or used
│   └── DuplicateCardError two plugins register the same card name
├── AccountError           an account is missing, unreadable or unsafe to read
└── TwilioError            talking to the Twilio API failed
    ├── TwilioApiError     the API answered with an error (status, code, message, more_info)
    ├── OutcomeUnknownError a request that changes things may or may not have been processed
    └── TwilioTransportError the request never got an answer and was not processed
"""

from __future__ import annotations

from dataclasses import dataclass, field


class FloError(Exception):
    """Base class of every error flo_twilio raises on purpose."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow, a card's options or its inputs."""

    message: str
    where: str = ""  # "file:line:col", or empty
    hint: str = ""
    path: tuple[str | int, ...] = field(default=(), compare=False)  # e.g. ("to",) in a section

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return f"{text} ({self.hint})" if self.hint else text


class InvalidInputError(FloError):
    """Input that cannot be sent: every problem is listed, nothing was sent."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | str) -> None:
        self.problems = [Problem(problems)] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ManifestError(InvalidInputError):
    """A card manifest does not follow the manifest meta-schema."""


class PluginError(FloError):
    """A plugin could not be loaded or breaks the hook contract."""


class DuplicateCardError(PluginError):
    """Two plugins register a card with the same name."""


class AccountError(FloError):
    """An account is missing, its file is unsafe, or its credentials were refused."""


class TwilioError(FloError):
    """Talking to the Twilio API failed."""


class TwilioApiError(TwilioError):
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
        self.status = status
        self.code = code
        self.message = message
        self.more_info = more_info
        self.method = method
        self.path = path
        label = f"Twilio error {code} (HTTP {status})" if code else f"Twilio HTTP {status}"
        text = f"{label}: {message}"
        if more_info:
            text += f" - {more_info}"
        super().__init__(text)


class OutcomeUnknownError(TwilioError):
    """A POST timed out, lost its connection or got a 5xx: it may have been processed.

    It is never resent automatically; the runner reconciles it against the API.
    """

    def __init__(self, method: str, path: str, reason: str) -> None:
        self.method = method
        self.path = path
        self.reason = reason
        super().__init__(
            f"{method} {path}: outcome unknown ({reason}); it may have been processed, "
            "so it was not sent again"
        )


class TwilioTransportError(TwilioError):
    """No answer from the API, and the request is known not to have been processed."""
