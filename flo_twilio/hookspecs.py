"""The hook contract between a flo host and its plugins.

A plugin is a module or object with functions marked ``@hookimpl``, found through the
``flo`` entry-point group. Both hooks are called with no arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from flo_twilio.card import Card
    from flo_twilio.connection import ConnectionType

PROJECT = "flo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def flo_register_cards() -> list[type[Card]]:  # type: ignore[empty-body]
    """Return the card classes this plugin provides.

    :return: a list of ``Card`` subclasses, each with a unique ``name``
    """


@hookspec
def flo_register_connections() -> list[ConnectionType[Any]]:  # type: ignore[empty-body]
    """Return the connection types (kinds of account) this plugin provides.

    :return: a list of ``ConnectionType`` objects, each with a unique ``name``
    """
