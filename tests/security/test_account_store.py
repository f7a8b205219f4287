"""The account store on a shared machine: parallel adds lose nothing, files another user
owns are refused (as ssh does), and FLO_HOME with everything flo makes in it stays private."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from flo_twilio.accounts import Account, AccountStore
from flo_twilio.errors import AccountError
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from tests.inprocess import run_flo as flo  # in this process; a few tests start one

TOKEN = "store-test-token-0123456789"
ADDS = 10


def test_parallel_adds_keep_every_account(flo_home: Path, monkeypatch):
    """Ten adds at once, each with its own lock handle (as ten processes would have): before
    the lock, 7 of 10 survived in the attack; 1 or 2 of 10 here."""
    monkeypatch.setenv("FLO_NO_KEYRING", "1")
    start = threading.Barrier(ADDS)

    def add(i: int) -> None:
        start.wait()
        save(f"n{i}")

    threads = [threading.Thread(target=add, args=(i,)) for i in range(ADDS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert AccountStore().nicknames() == sorted(f"n{i}" for i in range(ADDS))


def as_another_user(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``path`` look owned by someone else: chown when we can, else change who we are."""
    if os.getuid() == 0:
        os.chown(path, 4242, 4242)
    else:
        uid = os.getuid()
        monkeypatch.setattr(os, "getuid", lambda: uid + 1)


def save(name: str = "mine") -> None:
    AccountStore().save(
        Account(name, "twilio", values={"account_sid": SID}, secrets={"auth_token": TOKEN})
    )


def test_an_accounts_file_owned_by_another_user_is_refused(flo_home: Path, monkeypatch):
    save()
    path = flo_home / "accounts.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    as_another_user(path, monkeypatch)
    with pytest.raises(AccountError, match="belongs to another user"):
        AccountStore().get("mine")
    with pytest.raises(AccountError, match="belongs to another user"):
        save("other")


def test_a_flo_home_owned_by_another_user_is_refused(flo_home: Path, monkeypatch):
    save()
    as_another_user(flo_home, monkeypatch)
    with pytest.raises(AccountError, match="belongs to another user"):
        AccountStore().nicknames()


def test_flo_home_and_everything_flo_makes_in_it_are_private(flo_home: Path):
    flo_home.chmod(0o777)
    old = os.umask(0o022)
    try:
        result = flo("run", "sample_flows/send_sms.yaml")
        assert result.code == 0, result.err
        assert stat.S_IMODE(flo_home.stat().st_mode) == 0o700
        save()
    finally:
        os.umask(old)
    made = sorted(p.name for p in flo_home.iterdir())
    assert "runs.db" in made and "accounts.json" in made
    for path in flo_home.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


def test_reading_an_open_flo_home_closes_it(flo_home: Path):
    save()
    flo_home.chmod(0o755)
    assert AccountStore().nicknames() == ["mine"]
    assert stat.S_IMODE(flo_home.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        '{"accounts": []}',
        '{"accounts": {"x": "not a record"}}',
        '{"accounts": {"x": {"values": {"account_sid": 5}}}}',
    ],
)
def test_a_malformed_accounts_file_is_an_error_not_a_crash(flo_home: Path, text: str):
    path = flo_home / "accounts.json"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(AccountError):
        AccountStore().get("x")
