"""The hook contract: built-ins load like any plugin, failures are contained."""

from importlib.metadata import EntryPoint

import pluggy
import pytest

import flo_twilio.cards
from flo_twilio import (
    Card,
    CardContext,
    ConnectionType,
    Field,
    call_card,
    hookimpl,
    hookspecs,
    plugins,
)
from flo_twilio.errors import DuplicateCardError, InvalidInputError
from flo_twilio.manifests import Manifest

ECHO_MANIFEST = {
    "name": "demo.echo",
    "title": "Echo",
    "description": "Returns its text, upper-cased.",
    "connection": None,
    "options": {"type": "object", "properties": {}},
    "inputs": {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string", "description": "What to say."}},
    },
    "outputs": {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string", "description": "What was said."}},
    },
}


class Echo(Card):
    name = "demo.echo"
    manifest = Manifest(ECHO_MANIFEST)

    async def run(self, ctx, options, inputs):
        return {"text": inputs["text"].upper()}


class EchoPlugin:
    @hookimpl
    def flo_register_cards(self):
        return [Echo]


ECHO = EchoPlugin()  # for entry points: "tests.test_plugins:ECHO"


@pytest.fixture
def pm():
    """The built-in plugin and Echo, and nothing else installed."""
    manager = plugins.get_plugin_manager(load_entry_points=False)
    manager.register(flo_twilio.cards, name="twilio")
    manager.register(EchoPlugin(), name="echo")
    return manager


def test_the_builtin_plugin_loads_from_its_entry_point_like_any_other():
    registry = plugins.load_registry(plugins.get_plugin_manager())
    assert registry.providers["card:twilio.send_sms"] == "twilio"
    assert registry.providers["connection:twilio"] == "twilio"
    assert registry.failures == []


@pytest.mark.anyio
async def test_a_plugin_that_is_not_twilio_runs_through_the_same_contract(pm):
    registry = plugins.load_registry(pm)
    card = registry.card("demo.echo")()
    assert registry.providers["card:demo.echo"] == "echo"
    assert await call_card(card, CardContext(client=None), {}, {"text": "hi"}) == {"text": "HI"}
    with pytest.raises(InvalidInputError, match=r"inputs\.text is required"):
        await call_card(card, CardContext(client=None), {}, {})


def test_duplicate_card_names_are_refused_naming_both_plugins(pm):
    class Again:
        @hookimpl
        def flo_register_cards(self):
            return [Echo]

    pm.register(Again(), name="again")
    with pytest.raises(
        DuplicateCardError, match=r"'demo.echo'.*'echo'.*'again'|'demo.echo'.*'again'.*'echo'"
    ):
        plugins.load_registry(pm)


BUILTIN = EntryPoint(name="twilio", value="flo_twilio.cards", group="flo")


def installed(monkeypatch, *entry_points):
    """Make ``entry_points`` the installed plugins."""
    monkeypatch.setattr(plugins, "entry_points", lambda group: list(entry_points))


def test_a_plugin_that_fails_to_import_does_not_hide_the_others(monkeypatch):
    broken = EntryPoint(name="broken", value="no_such_module_for_flo_tests", group="flo")
    installed(monkeypatch, broken, BUILTIN)
    pm = plugins.get_plugin_manager()
    registry = plugins.load_registry(pm)
    assert {"twilio.send_sms", "twilio.send_mms", "twilio.custom_api"} <= set(registry.cards)
    assert pm.failures == registry.failures  # kept by flo's manager, for a host to report
    [failure] = registry.failures
    assert "'broken'" in failure and "no_such_module_for_flo_tests" in failure


@pytest.mark.parametrize("first", [True, False], ids=["builtin-first", "builtin-second"])
def test_a_third_party_plugin_named_twilio_loads_too(monkeypatch, first):
    """Entry-point names are not unique across packages: a second ``twilio`` still loads,
    under a name that tells it apart, in whichever order they come."""
    other = EntryPoint(name="twilio", value="tests.test_plugins:ECHO", group="flo")
    installed(monkeypatch, *([BUILTIN, other] if first else [other, BUILTIN]))
    registry = plugins.load_registry(plugins.get_plugin_manager())
    assert registry.failures == []
    second = f"twilio ({other.value if first else BUILTIN.value})"
    assert registry.providers["card:twilio.send_sms"] == ("twilio" if first else second)
    assert registry.providers["card:demo.echo"] == (second if first else "twilio")


def test_an_entry_point_that_cannot_be_registered_is_reported(monkeypatch):
    """The same module under a second name: pluggy refuses it, and flo says so."""
    again = EntryPoint(name="again", value="flo_twilio.cards", group="flo")
    installed(monkeypatch, BUILTIN, again)
    registry = plugins.load_registry(plugins.get_plugin_manager())
    assert registry.providers["card:twilio.send_sms"] == "twilio"
    [failure] = registry.failures
    assert "'again'" in failure and "already registered" in failure


def test_hooks_are_called_through_pluggy_so_wrappers_and_monitors_apply(pm):
    class Policy:
        """A host-side wrapper that hides the Custom API Action."""

        @hookimpl(wrapper=True)
        def flo_register_cards(self):
            cards = yield
            return [[c for c in group if c.name != "twilio.custom_api"] for group in cards]

    calls = []
    pm.add_hookcall_monitoring(lambda name, impls, kwargs: calls.append(name), lambda *a: None)
    pm.register(Policy(), name="policy")
    registry = plugins.load_registry(pm)
    assert "twilio.custom_api" not in registry.cards and "twilio.send_sms" in registry.cards
    assert calls.count("flo_register_cards") == 2  # once per plugin: twilio and echo
    assert registry.providers["card:demo.echo"] == "echo"


def test_installed_entry_point_finds_the_builtin_plugin():
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="flo")}
    assert names.get("twilio") == "flo_twilio.cards"


def test_a_misspelled_hook_fails_loudly():
    class Typo:
        @hookimpl
        def flo_register_crads(self):
            return []

    pm = plugins.get_plugin_manager(load_entry_points=False)
    pm.register(Typo(), name="typo")
    with pytest.raises(pluggy.PluginValidationError, match="flo_register_crads"):
        pm.check_pending()


HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("flo_"))


def shout_connection():
    return ConnectionType(
        name="demo.shout",
        title="Shout",
        fields=(Field("key", "Key", "Any key."),),
        connect=lambda values: None,
        verify=lambda client: None,
    )


# What each hook gives, and where the registry keeps it: a new hook fails the test below
# until it is added here, and then must reach the registry through pluggy.
HOOK_RESULTS = {
    "flo_register_cards": (lambda: Echo, "cards", "demo.echo"),
    "flo_register_connections": (shout_connection, "connections", "demo.shout"),
}


def test_the_contract_has_the_documented_hooks():
    assert HOOKS == sorted(HOOK_RESULTS) == ["flo_register_cards", "flo_register_connections"]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_reaches_the_registry(hook):
    """A plugin implementing only this hook: what it returns is in the registry, credited
    to it."""
    make, table, name = HOOK_RESULTS[hook]
    result = make()
    plugin = type("OneHook", (), {hook: hookimpl(lambda self: [result])})()
    pm = plugins.get_plugin_manager(load_entry_points=False)
    pm.register(plugin, name="one-hook")
    pm.check_pending()
    registry = plugins.load_registry(pm)
    assert getattr(registry, table) == {name: result}
    assert registry.providers == {f"{table[:-1]}:{name}": "one-hook"}


def test_every_card_class_of_the_builtin_plugin_is_registered():
    """Adding a built-in card is one line in ``cards/__init__.py``'s ``CARDS``: a card class
    written in ``cards/`` but left out of it fails here."""
    import inspect
    import pkgutil
    from importlib import import_module

    written = {
        value
        for info in pkgutil.iter_modules(flo_twilio.cards.__path__, "flo_twilio.cards.")
        for value in vars(import_module(info.name)).values()
        if inspect.isclass(value)
        and issubclass(value, Card)
        and value.__module__ == info.name
        and not inspect.isabstract(value)
        and getattr(value, "name", None)
    }
    assert written - set(flo_twilio.cards.CARDS) == set()
    assert set(plugins.load_registry(plugins.get_plugin_manager()).cards.values()) >= written
