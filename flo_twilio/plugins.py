"""Find plugins, and build the registry of cards and connection types they provide."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from flo_twilio import hookspecs
from flo_twilio.card import Card
from flo_twilio.connection import ConnectionType
from flo_twilio.errors import DuplicateCardError, InvalidInputError, PluginError, Problem

log = logging.getLogger(__name__)


class PluginManager(pluggy.PluginManager):
    """pluggy's manager for the ``flo`` hooks, with the plugins that failed to load."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.failures: list[str] = []


def get_plugin_manager(*, load_entry_points: bool = True) -> PluginManager:
    """A new plugin manager with every plugin of the ``flo`` entry-point group.

    The built-in Twilio plugin is one of them, found through its package's entry point like
    any other. Each entry point is loaded (``EntryPoint.load``) or reported, whatever its
    name: two packages using one name both load (the second under "NAME (package)"), and a
    plugin that fails to import is listed in ``pm.failures`` (for the host to report once)
    and logged at debug level; the others still load. pluggy's own
    ``load_setuptools_entrypoints`` would skip the second name silently and stop at the
    first broken plugin. ``load_entry_points=False`` gives a manager with no plugins, for
    a host (or a test) that registers its own.
    """
    pm = PluginManager()
    for ep in entry_points(group=hookspecs.PROJECT) if load_entry_points else ():
        package = ep.dist.name if ep.dist else None
        name = ep.name if not pm.has_plugin(ep.name) else f"{ep.name} ({package or ep.value})"
        try:
            pm.register(ep.load(), name=name)
        except Exception as exc:  # a broken plugin must not hide the others
            pm.failures.append(failure(name, ep.value, package, exc))
            log.debug("%s", pm.failures[-1], exc_info=True)
    pm.check_pending()
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


def load_registry(pm: PluginManager | None = None) -> Registry:
    """Collect every plugin's cards and connections; refuse duplicate names."""
    pm = pm or get_plugin_manager()
    registry = Registry(failures=list(pm.failures))
    for plugin, card in each_plugins_results(pm, "flo_register_cards", registry.failures):
        _add(registry.cards, registry.providers, "card", getattr(card, "name", None), card, plugin)
    for plugin, conn in each_plugins_results(pm, "flo_register_connections", registry.failures):
        name = getattr(conn, "name", None)
        _add(registry.connections, registry.providers, "connection", name, conn, plugin)
    return registry


def each_plugins_results(
    pm: pluggy.PluginManager, hook: str, failures: list[str]
) -> Iterator[tuple[str, Any]]:
    """(plugin name, item) for every item each plugin's ``hook`` returns.

    Each plugin's implementation is called through pluggy on its own (pluggy's subset hook
    caller without the other plugins' implementations; wrappers and monitors stay), so its
    results are credited to it and a hook that raises is a failure of that plugin only.
    pluggy returns one list for all plugins, so crediting needs a call per plugin: each
    filters the n implementations, n x n set lookups in all (see ARCHITECTURE.md).
    """
    impls = [i for i in getattr(pm.hook, hook).get_hookimpls() if not (i.wrapper or i.hookwrapper)]
    providers = {impl.plugin for impl in impls}
    for impl in impls:
        try:
            results = pm.subset_hook_caller(hook, remove_plugins=providers - {impl.plugin})()
            items = [item for result in results for item in result or []]
        except Exception as exc:
            failures.append(
                f"the plugin {impl.plugin_name!r} failed in {hook}(): "
                f"{type(exc).__name__}: {exc}; its cards are missing"
            )
            continue
        for item in items:
            yield impl.plugin_name, item


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
