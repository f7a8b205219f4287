"""Find plugins, and build the registry of cards and connection types they provide."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, cast

import pluggy

from flo_twilio import hookspecs
from flo_twilio.card import Card
from flo_twilio.connection import ConnectionType
from flo_twilio.errors import DuplicateCardError, InvalidInputError, PluginError, Problem

log = logging.getLogger(__name__)

# Built-in plugins load through the same path as third-party ones: (name, module).
BUILTIN_PLUGINS = (("twilio", "flo_twilio.cards"),)


def get_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A new plugin manager with the built-in plugins and, by default, every installed one.

    A plugin that fails to import is listed in ``pm.flo_failures`` (for the host to report
    once) and logged at debug level; the others still load.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    failures: list[str] = []
    sources: list[tuple[str, str, str | None]] = [(*b, None) for b in BUILTIN_PLUGINS]
    if load_entry_points:
        sources += [
            (ep.name, ep.value, ep.dist.name if ep.dist else None)
            for ep in entry_points(group=hookspecs.PROJECT)
        ]
    for name, target, package in sources:
        if pm.has_plugin(name):
            continue
        try:
            module_name, _, attr = target.partition(":")
            plugin: Any = importlib.import_module(module_name)
            if attr:
                plugin = getattr(plugin, attr)
            pm.register(plugin, name=name)
        except Exception as exc:  # a broken plugin must not hide the others
            failures.append(failure(name, target, package, exc))
            log.debug("%s", failures[-1], exc_info=True)
    pm.check_pending()
    pm.flo_failures = failures  # type: ignore[attr-defined]
    return pm


def failure(name: str, target: str, package: str | None, exc: BaseException) -> str:
    """A plugin's failure to load, in plain words, with what to do about it."""
    fix = (
        f"pip install --force-reinstall {package}, or pip uninstall {package}"
        if package
        else ("reinstall or uninstall the package that provides it")
    )
    return (
        f"the plugin {name!r} ({target}) could not be loaded: {type(exc).__name__}: {exc}; "
        f"its cards are missing. To fix it: {fix}"
    )


@dataclass
class Registry:
    """Cards and connection types by name; ``providers`` maps "card:NAME" to its plugin."""

    cards: dict[str, type[Card]] = field(default_factory=dict)
    connections: dict[str, ConnectionType[Any]] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def card(self, name: str) -> type[Card]:
        """The card called ``name``, or an error that suggests the closest names."""
        try:
            return self.cards[name]
        except KeyError:
            raise InvalidInputError([_unknown("card", name, self.cards)]) from None

    def connection(self, name: str) -> ConnectionType[Any]:
        try:
            return self.connections[name]
        except KeyError:
            raise InvalidInputError([_unknown("connection type", name, self.connections)]) from None


def load_registry(pm: pluggy.PluginManager | None = None) -> Registry:
    """Collect every plugin's cards and connections; refuse duplicate names."""
    pm = pm or get_plugin_manager()
    registry = Registry(failures=list(getattr(pm, "flo_failures", [])))
    for impl in pm.hook.flo_register_cards.get_hookimpls():
        cards = cast(list[type[Card]], _call(impl, registry.failures))
        for card in cards:
            _add(
                registry.cards,
                registry.providers,
                "card",
                getattr(card, "name", None),
                card,
                impl.plugin_name,
            )
    for impl in pm.hook.flo_register_connections.get_hookimpls():
        connections = cast(list[ConnectionType[Any]], _call(impl, registry.failures))
        for conn in connections:
            _add(
                registry.connections,
                registry.providers,
                "connection",
                conn.name,
                conn,
                impl.plugin_name,
            )
    return registry


def _call(impl: Any, failures: list[str]) -> list[Any]:
    """A plugin's hook result; a hook that raises is a failure of that plugin only."""
    try:
        return list(impl.function() or [])
    except Exception as exc:
        failures.append(
            f"the plugin {impl.plugin_name!r} failed in {impl.function.__name__}(): "
            f"{type(exc).__name__}: {exc}; its cards are missing"
        )
        return []


def _add(
    table: dict[str, Any],
    providers: dict[str, str],
    kind: str,
    name: Any,
    value: Any,
    plugin: str,
) -> None:
    if not isinstance(name, str) or not name:
        raise PluginError(f"plugin {plugin!r} registered a {kind} without a name")
    key = f"{kind}:{name}"
    if key in providers:
        raise DuplicateCardError(
            f"{kind} {name!r} is registered by both plugin {providers[key]!r} "
            f"and plugin {plugin!r}; uninstall one of them or rename it"
        )
    table[name] = value
    providers[key] = plugin


def _unknown(kind: str, name: str, known: dict[str, Any]) -> Problem:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(known))}"
    return Problem(f"unknown {kind} {name!r}", hint=hint)
