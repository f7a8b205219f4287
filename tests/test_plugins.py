"""The hook contract: built-ins load like any plugin, failures are contained."""

import re
from importlib.metadata import EntryPoint
from pathlib import Path

import pluggy
import pytest

from flo_twilio import Card, CardContext, call_card, hookimpl, hookspecs, plugins
from flo_twilio.errors import DuplicateCardError, InvalidInputError
from flo_twilio.manifests import Manifest

README = Path(__file__).parent.parent / "README.md"

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


@pytest.fixture
def pm():
    manager = plugins.get_plugin_manager(load_entry_points=False)
    manager.register(EchoPlugin(), name="echo")
    return manager


def test_builtins_register_through_the_hook(pm):
    registry = plugins.load_registry(pm)
    assert registry.providers["card:twilio.send_sms"] == "twilio"
    assert registry.providers["connection:twilio"] == "twilio"


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


def test_a_plugin_that_fails_to_import_does_not_hide_the_others(monkeypatch):
    broken = EntryPoint(name="broken", value="no_such_module_for_flo_tests", group="flo")
    good = EntryPoint(name="twilio", value="flo_twilio.cards", group="flo")
    monkeypatch.setattr(plugins, "entry_points", lambda group: [broken, good])
    registry = plugins.load_registry(plugins.get_plugin_manager())
    assert {"twilio.send_sms", "twilio.send_mms", "twilio.custom_api"} <= set(registry.cards)
    [failure] = registry.failures
    assert "'broken'" in failure and "no_such_module_for_flo_tests" in failure


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


def test_the_contract_has_the_documented_hooks():
    assert HOOKS == ["flo_register_cards", "flo_register_connections"]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_in_the_readme(hook):
    assert re.search(rf"`{hook}\(\)`", README.read_text())


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    assert tests.count(hook) >= 2, f"{hook} is not exercised by a test"


def test_connections_hook_provides_the_twilio_connection():
    pm = plugins.get_plugin_manager(load_entry_points=False)
    results = pm.hook.flo_register_connections()
    twilio = [c for group in results for c in group if c.name == "twilio"]
    assert twilio and set(twilio[0].secret_fields) == {"auth_token", "api_secret"}
