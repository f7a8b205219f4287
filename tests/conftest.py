"""Shared fixtures: an asyncio backend for anyio tests, and a private FLO_HOME."""

from __future__ import annotations

import pytest


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
