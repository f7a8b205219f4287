"""A plugin's connection type works in flo accounts add with no CLI code of its own: the
options, prompts, secrets, checks and list columns all come from the type."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from importlib.metadata import EntryPoint

import pytest

from flo_twilio import ConnectionType, Field, hookimpl, plugins
from flo_twilio.accounts import AccountStore, from_environment, resolve_account
from flo_twilio.cli import main
from flo_twilio.errors import Problem, ProviderError
from tests.inprocess import run_flo

TOKEN = "other-token-do-not-leak-5150"
seen: list[dict[str, str]] = []  # the values each client of the type was made with


class OtherClient:
    """What connect() gives: an async context manager, as for Twilio."""

    def __init__(self, values):
        self.values = dict(values)
        seen.append(self.values)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None


async def verify(client: OtherClient) -> dict[str, str]:
    if client.values["token"] != TOKEN:
        raise ProviderError("bad token", provider="Other", status=401, code="E401")
    return {"team_name": "Blue team"}


def check(values):
    endpoint = values.get("endpoint", "")
    if endpoint and not endpoint.startswith("https://"):
        return [Problem("the endpoint must be an https:// URL", hint="e.g. https://other.test")]
    return []


OTHER = ConnectionType(
    name="other",
    title="Other service",
    fields=(
        Field("endpoint", "Endpoint", "The service's URL.", env="OTHER_ENDPOINT"),
        Field("token", "Token", "The service's token.", secret=True, env="OTHER_TOKEN"),
        Field("team", "Team", "The team to act for.", required=False),
    ),
    connect=OtherClient,
    verify=verify,
    check=check,
    describe=lambda values: {"endpoint": values["endpoint"], "team": values.get("team", "-")},
)


class OtherPlugin:
    @hookimpl
    def flo_register_connections(self):
        return [OTHER]


PLUGIN = OtherPlugin()


@pytest.fixture(autouse=True)
def installed(monkeypatch):
    """The built-in plugin and this one, as if both were installed."""
    builtin = EntryPoint(name="twilio", value="flo_twilio.cards", group="flo")
    other = EntryPoint(name="other", value="tests.test_connection_types:PLUGIN", group="flo")
    monkeypatch.setattr(plugins, "entry_points", lambda group: [builtin, other])
    seen.clear()


def add(monkeypatch, *args, stdin=""):
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return run_flo("accounts", "add", *args)


def test_an_account_of_a_plugin_type_is_added_verified_listed_and_used(monkeypatch):
    result = add(
        monkeypatch,
        *("mine", "--type", "other", "--endpoint", "https://other.test", "--token", "-"),
        stdin=TOKEN + "\n",
    )
    assert result.code == 0, result.err
    assert "connected mine (https://other.test; Blue team)" in result.err
    assert seen == [{"endpoint": "https://other.test", "token": TOKEN}]  # verified with it
    stored = AccountStore().get("mine")
    assert (stored.connection, stored.values, stored.secrets) == (
        "other",
        {"endpoint": "https://other.test"},
        {"token": TOKEN},
    )
    assert resolve_account() == stored  # the first account added is the default
    listed = run_flo("accounts", "list", "--json")
    [row] = json.loads(listed.out)
    assert row["connection"] == "other" and row["team"] == "-" and row["team_name"] == "Blue team"
    table = run_flo("accounts", "list").out
    assert "https://other.test  -  secret in file" in table
    assert TOKEN not in listed.out + table + result.err


def test_the_type_decides_the_options_and_its_secrets_come_only_from_stdin(monkeypatch):
    on_the_line = add(
        monkeypatch, "mine", "--type", "other", "--endpoint", "https://o.test", "--token", TOKEN
    )
    assert on_the_line.code == 2 and "stdin" in on_the_line.err
    assert TOKEN not in on_the_line.err
    twilio_option = add(monkeypatch, "mine", "--type", "other", "--account-sid", "AC1")
    assert twilio_option.code == 2 and "unrecognized arguments: --account-sid" in twilio_option.err
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["accounts", "add", "--type", "other", "--help"]) == 0
    assert "--endpoint ENDPOINT" in out.getvalue() and "--token -" in out.getvalue()
    assert "--account-sid" not in out.getvalue() and "--mint-api-key" not in out.getvalue()
    assert seen == [] and AccountStore().nicknames() == []


def test_missing_fields_and_the_types_own_checks_stop_before_any_connection(monkeypatch):
    missing = add(monkeypatch, "mine", "--type", "other")
    assert missing.code == 2
    assert "--endpoint is required when not run at a terminal" in missing.err
    assert "--token is required when not run at a terminal" in missing.err
    assert "pass --token - with the Token on stdin" in missing.err
    refused = add(
        monkeypatch,
        *("mine", "--type", "other", "--endpoint", "http://o.test", "--token", "-"),
        stdin=TOKEN + "\n",
    )
    assert refused.code == 2 and "the endpoint must be an https:// URL" in refused.err
    assert seen == [] and AccountStore().nicknames() == []


def test_refused_credentials_are_an_account_error_and_nothing_is_stored(monkeypatch):
    result = add(
        monkeypatch,
        *("mine", "--type", "other", "--endpoint", "https://o.test", "--token", "-"),
        stdin="wrong-token-1234\n",
    )
    assert result.code == 1
    assert (
        "the credentials of 'mine' were refused: Other error E401 (HTTP 401): bad token"
        in result.err
    )
    assert AccountStore().nicknames() == []


def test_the_environment_gives_an_account_of_a_plugin_type():
    account = from_environment({"OTHER_ENDPOINT": "https://o.test", "OTHER_TOKEN": TOKEN})
    assert account is not None and account.connection == "other"
    assert (account.values, account.secrets) == ({"endpoint": "https://o.test"}, {"token": TOKEN})
    assert from_environment({"OTHER_TOKEN": TOKEN}) is None  # the endpoint is required


class ClashPlugin:
    @hookimpl
    def flo_register_connections(self):
        clashing = Field("default", "Default", "Named like the command's --default.")
        return [ConnectionType("clash", "Clash", (clashing,), OtherClient, verify)]


CLASH = ClashPlugin()


def test_a_type_whose_fields_clash_with_the_commands_own_options_is_reported(monkeypatch):
    clash = EntryPoint(name="clash", value="tests.test_connection_types:CLASH", group="flo")
    monkeypatch.setattr(plugins, "entry_points", lambda group: [clash])
    result = add(monkeypatch, "mine", "--type", "clash", "--no-verify")
    assert result.code == 2 and "internal error" not in result.err
    assert "'clash' has fields flo accounts add uses itself: default" in result.err
