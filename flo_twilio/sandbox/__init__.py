"""A local Twilio-compatible API: the sandbox the tests, benchmarks and new users run against.

Its parts are imported when first used: a command that only needs the sandbox's defaults
does not pay for Starlette (start-up time)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flo_twilio.sandbox.app import create_app
    from flo_twilio.sandbox.faults import Faults
    from flo_twilio.sandbox.state import SandboxState

__all__ = ["Faults", "SandboxState", "create_app"]
_HOMES = {"create_app": "app", "Faults": "faults", "SandboxState": "state"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
