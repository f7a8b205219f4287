"""A local Twilio-compatible API: the sandbox the tests, benchmarks and new users run against."""

from flo_twilio.sandbox.app import create_app
from flo_twilio.sandbox.faults import Faults
from flo_twilio.sandbox.state import SandboxState

__all__ = ["Faults", "SandboxState", "create_app"]
