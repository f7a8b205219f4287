"""flo accounts: add, list, verify, remove, default, the environment, and safe storage."""

from __future__ import annotations

import json
import stat
import typing

import pytest

from flo_twilio.accounts import Account, AccountStore, from_environment
from flo_twilio.errors import AccountError
from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ServerThread
from tests.inprocess import run_flo as flo  # in this process; a few tests start one


@pytest.fixture
def sandbox_url():
    with ServerThread(create_app(SandboxState())) as server:
        yield server.url


def add(sandbox_url, nickname="work", token=TOKEN, *extra):
    return flo(
        "accounts",
        "add",
        nickname,
        "--account-sid",
        SID,
        "--auth-token",
        "-",
        "--api-base-url",
        sandbox_url,
        *extra,
        input=token + "\n",
    )


def everything_under(home) -> str:
    return "".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())


def test_add_list_verify_remove(sandbox_url, flo_home):
    added = add(sandbox_url)
    assert added.code == 0, added.err
    assert "connected work" in added.err and "Sandbox account" in added.err
    listed = flo("accounts", "list", "--json")
    [row] = json.loads(listed.out)
    assert row["nickname"] == "work" and row["account_sid"] == SID and row["default"] is True
    assert row["friendly_name"] == "Sandbox account" and row["type"] == "Full"
    assert row["secret_kept_in"] == "file"
    assert TOKEN not in listed.out + flo("accounts", "list").out
    verified = flo("accounts", "verify", "work")
    assert verified.code == 0 and "credentials accepted" in verified.out
    assert flo("accounts", "remove", "work").code == 0
    assert json.loads(flo("accounts", "list", "--json").out) == []
    assert TOKEN not in everything_under(flo_home)


def test_a_wrong_token_is_refused_and_leaves_nothing(sandbox_url, flo_home):
    result = add(sandbox_url, "work", "wrong-token")
    assert result.code == 1
    assert "refused" in result.err and "20003" in result.err and "Traceback" not in result.err
    assert not (flo_home / "accounts.json").exists()


def test_storage_is_private_and_atomic(sandbox_url, flo_home):
    assert add(sandbox_url).code == 0
    path = flo_home / "accounts.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(flo_home.stat().st_mode) == 0o700
    assert [p.name for p in flo_home.iterdir()] == ["accounts.json"]  # no temp file left


def test_a_readable_file_is_refused_with_the_fix(sandbox_url, flo_home):
    assert add(sandbox_url).code == 0
    path = flo_home / "accounts.json"
    path.chmod(0o644)
    result = flo("accounts", "list")
    assert result.code == 2 and f"chmod 600 {path}" in result.err


def test_a_symlinked_file_is_refused(flo_home, tmp_path):
    real = tmp_path / "elsewhere.json"
    real.write_text('{"default": null, "accounts": {}}')
    real.chmod(0o600)
    (flo_home / "accounts.json").symlink_to(real)
    with pytest.raises(AccountError, match="symlink"):
        AccountStore().nicknames()


def test_secrets_are_not_taken_from_the_command_line(sandbox_url):
    result = flo(
        "accounts",
        "add",
        "work",
        "--account-sid",
        SID,
        "--auth-token",
        TOKEN,
        "--api-base-url",
        sandbox_url,
    )
    assert result.code == 2 and "stdin" in result.err
    assert TOKEN not in result.err


def test_a_password_in_the_base_url_is_never_shown(flo_home):
    url = "https://alice7:hunter2pw@proxy.example"
    result = add(url)
    assert result.code == 2 and "Traceback" not in result.err
    assert "api_base_url 'https://***@proxy.example' holds a user name or password" in result.err
    assert "hunter2pw" not in result.err + result.out and "alice7" not in result.err
    assert not (flo_home / "accounts.json").exists()
    # an accounts file edited by hand: every command that reads it refuses it, unshown
    values = {"account_sid": SID, "api_base_url": url}
    AccountStore().save(Account("work", "twilio", values, secrets={"auth_token": TOKEN}))
    for command in (
        ("accounts", "list"),
        ("accounts", "verify", "work"),
        ("run", "sample_flows/send_sms.yaml"),
    ):
        result = flo(*command)
        assert result.code in (1, 2) and "https://***@proxy.example" in result.err, result.err
        assert "hunter2pw" not in result.err + result.out and "alice7" not in result.err


@pytest.mark.parametrize("nickname", ["has space", "-dash", "x" * 65, "a/b", "env"])
def test_nicknames_are_validated(sandbox_url, nickname):
    result = add(sandbox_url, nickname)
    assert result.code == 2


def test_bad_account_sid_is_explained(sandbox_url):
    result = flo(
        "accounts",
        "add",
        "w",
        "--account-sid",
        "AC123",
        "--auth-token",
        "-",
        "--api-base-url",
        sandbox_url,
        input="t\n",
    )
    assert result.code == 2 and "AC followed by 32" in result.err


def test_mint_api_key_stores_only_the_key(sandbox_url, flo_home):
    result = add(sandbox_url, "keyed", TOKEN, "--mint-api-key")
    assert result.code == 0, result.err
    [row] = json.loads(flo("accounts", "list", "--json").out)
    assert row["auth"] == "api_key" and row["api_key"].startswith("SK")
    assert TOKEN not in everything_under(flo_home)
    assert flo("accounts", "verify", "keyed").code == 0  # the key works


def test_in_flight_cap_is_kept_per_account(sandbox_url):
    import asyncio

    from flo_twilio.cards.twilio_connection import connect

    assert add(sandbox_url, "capped", TOKEN, "--max-in-flight", "3").code == 0
    client = connect(AccountStore().get("capped").connection_values())
    assert client._in_flight._value == 3
    asyncio.run(client.aclose())
    assert add(sandbox_url, "zero", TOKEN, "--max-in-flight", "0").code == 2


def test_requests_per_second_are_kept_per_account(sandbox_url):
    import asyncio

    from flo_twilio.cards.twilio_connection import connect

    assert add(sandbox_url, "paced", TOKEN, "--max-per-second", "2.5").code == 0
    client = connect(AccountStore().get("paced").connection_values())
    assert client.pacing.rate("+15005550006") == 2.5
    asyncio.run(client.aclose())
    for wrong in ("0", "-1", "fast", "nan", "1e-308"):
        refused = add(sandbox_url, "wrong", TOKEN, "--max-per-second", wrong)
        assert (
            refused.code == 2
            and "max_per_second (--max-per-second) must be a number above 0" in refused.err
        )


def test_api_key_accounts(sandbox_url, flo_home):
    assert add(sandbox_url, "base").code == 0
    stored = json.loads((flo_home / "accounts.json").read_text())
    assert stored["accounts"]["base"]["secrets"] == {"auth_token": TOKEN}


def test_default_account_moves(sandbox_url):
    assert add(sandbox_url, "one").code == 0
    assert add(sandbox_url, "two").code == 0
    assert AccountStore().default() == "one"
    assert flo("accounts", "default", "two").code == 0
    assert AccountStore().default() == "two"
    assert flo("accounts", "remove", "two").code == 0
    assert AccountStore().default() == "one"


def test_environment_variables_work_without_any_file(flo_home):
    env = {
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_REGION": "ie1",
        "TWILIO_EDGE": "dublin",
    }
    account = from_environment(env)
    assert account is not None and account.values["region"] == "ie1"
    assert account.connection_values()["auth_token"] == TOKEN
    keyed = from_environment(
        {"TWILIO_ACCOUNT_SID": SID, "TWILIO_API_KEY": "SK" + "1" * 32, "TWILIO_API_SECRET": "s"}
    )
    assert keyed is not None and keyed.values["api_key"].startswith("SK")
    listed = flo("accounts", "list", "--json", env=env)
    [row] = json.loads(listed.out)
    assert row["nickname"] == "env" and row["secret_kept_in"] == "environment"
    assert TOKEN not in listed.out
    assert not any(flo_home.iterdir())


def test_unknown_account_says_how_to_add_it():
    result = flo("accounts", "verify", "nobody")
    assert result.code == 2 and "flo accounts add nobody" in result.err


class MemoryKeyring:
    """A real keyring backend (priority above zero) that keeps passwords in a dict."""

    def __init__(self):
        from keyring.backend import KeyringBackend

        class Backend(KeyringBackend):
            priority = 1
            store: typing.ClassVar[dict] = {}

            def get_password(self, service, username):
                return self.store.get((service, username))

            def set_password(self, service, username, password):
                self.store[(service, username)] = password

            def delete_password(self, service, username):
                self.store.pop((service, username), None)

        self.backend = Backend()


def test_secrets_go_to_a_real_keyring_when_there_is_one(flo_home, monkeypatch):
    import keyring
    from keyring.backends import fail

    from flo_twilio.accounts import Account, real_keyring

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    assert real_keyring() is None  # the fail backend is no keyring
    memory = MemoryKeyring().backend
    keyring.set_keyring(memory)
    try:
        store = AccountStore()
        store.save(
            Account("kr", "twilio", values={"account_sid": SID}, secrets={"auth_token": TOKEN})
        )
        assert memory.store == {("flo-twilio", "kr:auth_token"): TOKEN}
        assert TOKEN not in everything_under(flo_home)
        assert store.get("kr").secrets == {"auth_token": TOKEN}
        assert store.get("kr").secret_store == "keyring"
        store.remove("kr")
        assert memory.store == {}
        monkeypatch.setenv("FLO_NO_KEYRING", "1")
        assert AccountStore().keyring is None
    finally:
        keyring.set_keyring(previous)


def test_add_asks_at_a_terminal_and_never_echoes_the_token(flo_home):
    """No server thread here: a terminal is made with fork, which wants a one-thread process."""
    from tests.helpers import in_terminal

    code, screen = in_terminal(
        "accounts",
        "add",
        "typed",
        "--no-verify",
        replies=(("Account SID: ", SID), ("Auth Token: ", TOKEN)),
    )
    assert code == 0, screen
    assert "connected typed" in screen and SID in screen
    assert TOKEN not in screen
    assert AccountStore().get("typed").secrets == {"auth_token": TOKEN}


def test_an_api_key_account_takes_its_secret_from_stdin_and_can_be_the_default(
    sandbox_url, monkeypatch
):
    import io
    import sys

    import httpx

    from tests.inprocess import run_flo

    def add(nickname, *extra, stdin=""):
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        common = ("--account-sid", SID, "--api-base-url", sandbox_url)
        return run_flo("accounts", "add", nickname, *common, *extra)

    assert add("first", "--auth-token", "-", stdin=TOKEN + "\n").code == 0
    key = httpx.post(
        f"{sandbox_url}/2010-04-01/Accounts/{SID}/Keys.json", auth=(SID, TOKEN), data={}
    ).json()
    without = add("bykey", "--api-key", key["sid"])
    assert (
        without.code == 2 and "--api-secret is required when not run at a terminal" in without.err
    )
    keyed = add(
        "bykey", "--api-key", key["sid"], "--api-secret", "-", "--default", stdin=key["secret"]
    )
    assert keyed.code == 0, keyed.err  # verified with the key
    stored = AccountStore().get("bykey")
    assert stored.values["api_key"] == key["sid"] and stored.secrets == {
        "api_secret": key["secret"]
    }
    assert AccountStore().default() == "bykey"
