"""The exceptions of the contract between a flo host, its plugins and their providers.

FloError
├── InvalidInputError      bad flow, options or inputs; nothing was sent (exit code 2)
│   ├── ManifestError      a card manifest breaks the manifest meta-schema
│   └── RunInUseError      another live process runs that run: wait, it may end soon
├── KeyTaken               a run was started with that key already (``run_id``)
├── PluginError            a plugin could not be loaded or used
│   └── DuplicateCardError two plugins register the same card name
├── AccountError           an account is missing, unreadable or unsafe to read
│   └── CredentialsRefusedError  the provider refused its credentials
├── BadOutputsError        a card answered outputs that break its manifest (the call happened)
├── OutcomeUnknownError    a call that changes things may or may not have been processed
├── NotSentError           a call surely never reached the provider: it may be tried again
│   └── UnreachableError   nothing listens where the calls go: not worth trying again soon
└── ProviderError          the provider (the API a card calls) answered with an error

A plugin's client raises these or subclasses of them (the Twilio client's are in
``flo_twilio.client.errors``), so a host handles every provider the same way.
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


class RunInUseError(InvalidInputError):
    """Another live process runs the run (two processes resuming one run could both send an
    item): nothing was done; once that process ends, the run can be taken over."""

    def __init__(self, run_id: str, message: str) -> None:
        self.run_id = run_id
        super().__init__(message)


class KeyTaken(FloError):
    """A run was started with that key already: ``run_id`` (a host's retry resumes it)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id} was started with that key")


class PluginError(FloError):
    """A plugin could not be loaded or breaks the hook contract."""

    exit_code = 2  # the installation is wrong, as a flow or an account can be


class DuplicateCardError(PluginError):
    """Two plugins register a card with the same name."""


class AccountError(FloError):
    """An account is missing, its file is unsafe, or its credentials were refused."""

    exit_code = 2  # configuration, as invalid input; a refusal by the provider is 1


class CredentialsRefusedError(AccountError):
    """The provider refused an account's credentials (a request made, and failed)."""

    exit_code = 1


class BadOutputsError(FloError):
    """A card answered outputs that break its manifest: the call was made, its result is
    kept in ``outputs`` (so it is never made again) and ``problems`` says what is wrong."""

    def __init__(self, card: str, outputs: object, problems: list[Problem]) -> None:
        self.outputs = outputs
        self.problems = problems
        super().__init__(f"{card} answered outputs that break its manifest: {problems[0]}")


class OutcomeUnknownError(FloError):
    """A call that changes things timed out, lost its connection or got a 5xx: it may have
    been processed.

    It is never resent automatically; the runner looks the result up with the card's
    ``reconcile``. ``method`` and ``path`` say what was called (for an HTTP API, the
    request's method and path).
    """

    def __init__(self, method: str, path: str, reason: str) -> None:
        self.method = method
        self.path = path
        self.reason = reason
        super().__init__(
            f"{method} {path}: outcome unknown ({reason}); it may have been processed, "
            "so it was not sent again"
        )


class NotSentError(FloError):
    """A call surely never reached the provider (no connection could be made): it did
    nothing, and may simply be tried again later."""


class UnreachableError(NotSentError):
    """Nothing answers where the calls go (a connection refused on this machine): the call
    did nothing, and trying it again soon would only make the user wait for the same answer."""


class ProviderError(FloError):
    """The provider answered with an error: who (``provider``), the HTTP ``status``, the
    provider's own error ``code``, its ``message`` and a ``more_info`` link, as it said them."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        code: int | str | None = None,
        more_info: str | None = None,
    ) -> None:
        self.provider = provider
        self.status = status
        self.code = code
        self.message = message
        self.more_info = more_info
        http = f"HTTP {status}" if status else ""
        if code:
            text = f"{provider} error {code}" + (f" ({http})" if http else "")
        else:
            text = f"{provider} {http or 'error'}"
        text += f": {message}"
        if more_info:
            text += f" - {more_info}"
        super().__init__(text)
