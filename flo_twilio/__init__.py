"""Twilio cards for workflow tools, a reference flow runner and a local sandbox.

The contract's names below are imported when first used (``from flo_twilio import Card``
works as always), so that ``flo --version`` loads none of them."""

from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from flo_twilio.card import Card, CardContext, call_card
    from flo_twilio.connection import ConnectionType, Field
    from flo_twilio.errors import (
        AccountError,
        BadOutputsError,
        CredentialsRefusedError,
        DuplicateCardError,
        FloError,
        InvalidInputError,
        ManifestError,
        NotSentError,
        OutcomeUnknownError,
        PluginError,
        Problem,
        ProviderError,
        UnreachableError,
    )
    from flo_twilio.hookspecs import hookimpl
    from flo_twilio.plugins import Registry, get_plugin_manager, load_registry
    from flo_twilio.trigger import AttachConflict, Event, Rejected, Trigger, Webhook

__version__ = "0.1.0"

_HOMES = {
    "card": ("Card", "CardContext", "call_card"),
    "connection": ("ConnectionType", "Field"),
    "errors": (
        "AccountError",
        "BadOutputsError",
        "CredentialsRefusedError",
        "DuplicateCardError",
        "FloError",
        "InvalidInputError",
        "ManifestError",
        "NotSentError",
        "OutcomeUnknownError",
        "PluginError",
        "Problem",
        "ProviderError",
        "UnreachableError",
    ),
    "hookspecs": ("hookimpl",),
    "plugins": ("Registry", "get_plugin_manager", "load_registry"),
    "trigger": ("AttachConflict", "Event", "Rejected", "Trigger", "Webhook"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> _Any:
    if name not in _HOME_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(f"{__name__}.{_HOME_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME_OF})


__all__ = sorted([*_HOME_OF, "__version__"])
