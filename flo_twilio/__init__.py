"""Twilio cards for workflow tools, a reference flow runner and a local sandbox."""

from flo_twilio.card import Card, CardContext, call_card
from flo_twilio.connection import ConnectionType, Field
from flo_twilio.errors import (
    AccountError,
    BadOutputsError,
    DuplicateCardError,
    FloError,
    InvalidInputError,
    ManifestError,
    NotSentError,
    OutcomeUnknownError,
    PluginError,
    Problem,
    ProviderError,
)
from flo_twilio.hookspecs import hookimpl
from flo_twilio.plugins import Registry, get_plugin_manager, load_registry

__version__ = "0.1.0"

__all__ = [
    "AccountError",
    "BadOutputsError",
    "Card",
    "CardContext",
    "ConnectionType",
    "DuplicateCardError",
    "Field",
    "FloError",
    "InvalidInputError",
    "ManifestError",
    "NotSentError",
    "OutcomeUnknownError",
    "PluginError",
    "Problem",
    "ProviderError",
    "Registry",
    "__version__",
    "call_card",
    "get_plugin_manager",
    "hookimpl",
    "load_registry",
]
