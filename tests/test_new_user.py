"""The small things a new user hit: accounts, the sandbox command, media URLs, plugins,
and connection errors that say what happened."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys

import httpx
import pytest

from flo_twilio import plugins
from flo_twilio.accounts import AccountStore
from flo_twilio.cards.messages import message_params
from flo_twilio.client import Credentials, RetryPolicy, TwilioClient, TwilioTransportError
from flo_twilio.client.neterrors import cause, unreachable
from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ServerThread, flo, free_port, in_terminal
from tests.inprocess import run_flo


@pytest.fixture
def sandbox_url():
    with ServerThread(create_app(SandboxState())) as server:
        yield server.url


def accounts(monkeypatch, *args: str, token: str = TOKEN):
    """``flo accounts ARGS`` in this process, the token on stdin."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(token + "\n"))
    return run_flo("accounts", *args)


def test_re_adding_a_nickname_needs_replace_and_the_first_account_is_said_default(
    sandbox_url, monkeypatch
):
    def add(url: str, nickname: str = "work", *extra: str):
        return accounts(
            monkeypatch, "add", nickname, "--account-sid", SID, "--auth-token", "-",
            "--api-base-url", url, *extra,
        )  # fmt: skip

    first = add(sandbox_url)
    assert first.code == 0, first.err
    assert "work is the default account (the first one added)" in first.err
    second = add(sandbox_url, "other")
    assert second.code == 0 and "default account" not in second.err
    again = add(sandbox_url)
    assert again.code == 2 and "already an account called 'work'" in again.err
    assert "--replace" in again.err
    replaced = add(sandbox_url, "work", "--replace", "--region", "ie1", "--no-verify")
    assert replaced.code == 0, replaced.err
    assert AccountStore().get("work").values["region"] == "ie1"


def test_accounts_list_shows_each_api_host(sandbox_url, monkeypatch):
    common = ("--account-sid", SID, "--auth-token", "-", "--no-verify")
    assert accounts(monkeypatch, "add", "work", *common, "--api-base-url", sandbox_url).code == 0
    eu = accounts(monkeypatch, "add", "eu", *common, "--region", "ie1", "--edge", "dublin")
    assert eu.code == 0
    table = run_flo("accounts", "list").out
    assert sandbox_url in table and "https://api.dublin.ie1.twilio.com" in table
    listed = json.loads(run_flo("accounts", "list", "--json").out)
    hosts = {row["nickname"]: row["api_host"] for row in listed}
    assert hosts == {"work": sandbox_url, "eu": "https://api.dublin.ie1.twilio.com"}


def test_the_token_typed_at_the_prompt_is_stripped(flo_home):
    """No server thread here: a terminal is made with fork, which wants a one-thread process."""
    code, screen = in_terminal(
        "accounts", "add", "typed", "--no-verify",
        replies=(("Account SID: ", f" {SID} "), ("Auth Token: ", f"  {TOKEN}  ")),
    )  # fmt: skip
    assert code == 0, screen
    assert AccountStore().get("typed").secrets == {"auth_token": TOKEN}


def test_a_busy_port_is_one_line_with_a_port_hint_and_no_banner():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = flo("sandbox", "--port", str(port))
    assert result.code == 2
    assert result.err.count("\n") == 1 and f"--port {port + 1}" in result.err
    assert "account sid" not in result.err and "Traceback" not in result.err


def test_the_banner_appears_once_the_port_accepts_connections():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flo_twilio.cli", "sandbox", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with proc.stderr:
            banner = "".join(proc.stderr.readline() for _ in range(5))
            assert f"http://127.0.0.1:{port}" in banner and f"account sid:  {SID}" in banner
            response = httpx.get(
                f"http://127.0.0.1:{port}/2010-04-01/Accounts.json", auth=(SID, TOKEN)
            )
            assert response.status_code == 200  # no retry: the banner came after the bind
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("where", ["missing/runs.db", ".", "not-a-db"])
def test_a_bad_sandbox_db_is_said(tmp_path, where):
    (tmp_path / "not-a-db").write_text("hello")
    result = flo("sandbox", "--port", str(free_port()), "--db", where, cwd=tmp_path)
    assert result.code == 2 and result.err.startswith(f"error: --db {where}: cannot keep")
    assert "Traceback" not in result.err


def test_sandbox_help_describes_every_option_with_the_default_account():
    from flo_twilio.cli.cmd_sandbox import add_commands

    commands = __import__("argparse").ArgumentParser().add_subparsers()
    add_commands(commands)
    options = [a for a in commands.choices["sandbox"]._actions if a.option_strings]
    assert len(options) >= 16 and all(a.help for a in options)
    shown = flo("sandbox", "--help")
    assert shown.code == 0 and SID in shown.out and TOKEN in shown.out
    assert all(a.option_strings[-1] in shown.out for a in options)


def test_a_media_url_with_non_ascii_letters_is_sent_percent_encoded():
    params = message_params(
        {"from": "+15005550006"},
        {"to": "+12065551212", "mediaUrls": ["https://example.com/my%20cat%20é.png?size=big"]},
    )
    assert params["MediaUrl"] == ["https://example.com/my%20cat%20%C3%A9.png?size=big"]
    already = message_params({"from": "+1"}, {"to": "+1", "mediaUrls": ["https://x/a%20b.png"]})
    assert already["MediaUrl"] == ["https://x/a%20b.png"]


def test_a_plugin_that_fails_to_load_is_reported_once_and_cards_list_exits_2(tmp_path):
    """An installed package whose entry point names a module that is not there."""
    info = tmp_path / "broken_flo_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-flo-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[flo]\nbroken = no_such_module_for_flo_tests\n")
    result = flo("cards", "list", env={"PYTHONPATH": str(tmp_path)})
    assert result.code == 2 and "twilio.send_sms" in result.out
    assert result.err.count("no_such_module_for_flo_tests") == 2  # the target and the cause
    assert result.err.count("\n") == 1, result.err
    assert "the plugin 'broken' (no_such_module_for_flo_tests) could not be loaded: " in result.err
    assert "pip uninstall broken-flo-plugin" in result.err


def test_a_plugin_hook_that_raises_is_a_failure_of_that_plugin_only():
    from flo_twilio import hookimpl

    class Raising:
        @hookimpl
        def flo_register_cards(self):
            raise RuntimeError("boom")

    pm = plugins.get_plugin_manager()  # the installed ones, the built-in among them
    pm.register(Raising(), name="raising")
    registry = plugins.load_registry(pm)
    assert "twilio.send_sms" in registry.cards
    assert registry.failures == [
        "the plugin 'raising' failed in flo_register_cards(): RuntimeError: boom; "
        "its cards are missing"
    ]


@pytest.mark.anyio
async def test_a_refused_connection_names_the_host_and_the_cause():
    port = free_port()
    client = TwilioClient(
        Credentials.of(SID, auth_token=TOKEN),
        api_base_url=f"http://127.0.0.1:{port}",
        retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.01),
    )
    async with client:
        with pytest.raises(TwilioTransportError) as info:
            await client.fetch_account()
    assert f"could not reach 127.0.0.1:{port}: connection refused" in str(info.value)


@pytest.mark.anyio
async def test_tls_to_a_plain_http_server_says_tls(sandbox_url):
    client = TwilioClient(
        Credentials.of(SID, auth_token=TOKEN),
        api_base_url=sandbox_url.replace("http://", "https://"),
        retry=RetryPolicy(max_attempts=1),
    )
    async with client:
        with pytest.raises(TwilioTransportError, match="TLS failed"):
            await client.fetch_account()


def test_an_unreachable_twilio_says_how_to_use_the_sandbox():
    import socket as sockets

    error = httpx.ConnectTimeout("Cannot connect")
    error.__cause__ = sockets.gaierror(-2, "Name or service not known")
    text = unreachable(error, "https://api.twilio.com/2010-04-01/Accounts.json")
    assert text.startswith("could not reach api.twilio.com: the name does not resolve (DNS)")
    assert "flo sandbox" in text and "--api-base-url http://127.0.0.1:4010" in text
    assert cause(httpx.ReadTimeout("t")) == "timed out"
