"""Shared fixtures: an asyncio backend for anyio tests, and a private FLO_HOME; the
Hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis: "ci" (CI set, as .ci/run does) tries 300 examples per property, "dev" a sixth
# of that; HYPOTHESIS_PROFILE chooses either, or "thorough" (ten times "ci").
_UNBOUNDED = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
settings.register_profile("ci", max_examples=300, **_UNBOUNDED)
settings.register_profile("dev", max_examples=50, **_UNBOUNDED)
settings.register_profile("thorough", max_examples=3000, **_UNBOUNDED)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def examples(in_ci: int) -> int:
    """For a property that needs another number of examples than most: ``in_ci`` under the
    "ci" profile, scaled as the profile scales the others (at least 5)."""
    return max(5, in_ci * settings.default.max_examples // 300)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The hosts' tests run last, and their venvs are built meanwhile, on a thread."""
    hosts = [item for item in items if "tests/hosts/" in item.nodeid]
    if not hosts:
        return
    items[:] = [item for item in items if item not in hosts] + hosts
    if config.option.collectonly:
        return
    from tests.hosts.hostvenv import build_ahead

    build_ahead({item.nodeid.split("tests/hosts/test_")[1].split(".py")[0] for item in hosts})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def flo_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own FLO_HOME and no Twilio account from the environment."""
    home = tmp_path_factory.mktemp("flo_home")
    home.chmod(0o700)
    monkeypatch.setenv("FLO_HOME", str(home))
    for name in (
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_API_KEY",
        "TWILIO_API_SECRET",
        "TWILIO_REGION",
        "TWILIO_EDGE",
    ):
        monkeypatch.delenv(name, raising=False)
    return home


from flo_twilio.client import Credentials, RetryPolicy, TwilioClient  # noqa: E402
from flo_twilio.sandbox import Faults, SandboxState, create_app  # noqa: E402
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN  # noqa: E402
from tests.postgres import journal_at, postgres, postgres_url  # noqa: E402, F401 - fixtures

FAST_RETRY = RetryPolicy(max_attempts=6, base_delay=0.001, max_delay=0.01)


@pytest.fixture
def sandbox_state() -> SandboxState:
    return SandboxState(status_delay=0.2)


@pytest.fixture
def faults() -> Faults:
    return Faults(seed=7)


@pytest.fixture
def sandbox_app(sandbox_state, faults):
    return create_app(sandbox_state, faults)


def sandbox_client(app, **kwargs) -> TwilioClient:
    """A TwilioClient that reaches the sandbox in-process (no socket), through
    ``transport`` when given (e.g. one that records what is sent)."""
    import httpx

    return TwilioClient(
        Credentials.of(DEFAULT_ACCOUNT_SID, auth_token=DEFAULT_AUTH_TOKEN),
        api_base_url="http://127.0.0.1",
        transport=kwargs.pop("transport", None) or httpx.ASGITransport(app),
        retry=kwargs.pop("retry", FAST_RETRY),
        **kwargs,
    )


@pytest.fixture
async def client(sandbox_app):
    async with sandbox_client(sandbox_app) as twilio:
        yield twilio


@pytest.fixture(autouse=True)
def private_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secrets a test registers (a client's credentials, a credential field's value in
    an answer) are forgotten after it, as a process's would be: commands run in this
    process must not redact text for the tests after them."""
    from flo_twilio import redaction

    monkeypatch.setattr(redaction, "_secrets", set(redaction._secrets))
