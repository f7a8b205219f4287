"""Files flo keeps, broken by hand or by accident, and out-of-range flags: each is a message
naming the file or flag and the fix, never a traceback or "internal error"."""

from __future__ import annotations

import pytest

from flo_twilio.runner.events import EventStore
from flo_twilio.runner.journal import Journal
from flo_twilio.sandbox import SandboxState
from flo_twilio.sandbox.server import banner
from tests.helpers import ROOT
from tests.inprocess import run_flo as flo

BULK = str(ROOT / "sample_flows/bulk_sms.yaml")
ROWS = "recipients=@" + str(ROOT / "sample_flows/recipients.csv")


def garbage(path):
    path.write_bytes(bytes(range(256)) * 8)


def folder(path):
    path.mkdir()


@pytest.mark.parametrize(
    ("breaks", "expected"),
    [
        (garbage, "runs.db is not an SQLite database, so not the journal of runs"),
        (folder, "runs.db is a folder, where flo keeps the journal of runs"),
    ],
)
def test_a_journal_that_is_garbage_or_a_folder_is_named_with_the_fix(flo_home, breaks, expected):
    breaks(flo_home / "runs.db")
    for args in (["runs", "list"], ["run", BULK, "--input", ROWS]):
        done = flo(*args)
        assert done.code == 2, done.err
        assert expected in done.err and "internal error" not in done.err
    assert "mv " in flo("runs", "list").err or breaks is folder


@pytest.mark.parametrize("breaks", [garbage, folder])
def test_the_stores_refuse_a_broken_file_before_sqlite_opens_it(tmp_path, breaks):
    from flo_twilio.errors import InvalidInputError

    for store, name in ((Journal, "runs.db"), (EventStore, "events.db")):
        breaks(tmp_path / name)
        with pytest.raises(InvalidInputError, match=name):
            store(tmp_path / name)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b'{"default": "\xff", "accounts": {}}',
            "accounts.json is not UTF-8 (byte 0xFF at offset 13)",
        ),
        (
            b'{"default": ["x"], "accounts": {}}',
            'accounts.json: "default" is ["x"], not a nickname',
        ),
    ],
)
def test_a_broken_accounts_file_is_named_with_the_fix(flo_home, content, expected):
    path = flo_home / "accounts.json"
    path.write_bytes(content)
    path.chmod(0o600)
    for args in (["accounts", "list"], ["run", BULK, "--input", ROWS]):
        done = flo(*args)
        assert done.code != 0 and expected in done.err, done.err
        assert "internal error" not in done.err


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_port_out_of_range_is_refused(port):
    done = flo("sandbox", "--port", port)
    assert done.code == 2
    assert f"--port {port} is not a port (give one from 1 to 65535" in done.err


def test_an_ipv6_address_is_shown_in_brackets():
    shown = banner(SandboxState(), "::1", 4010)
    assert "API on http://[::1]:4010" in shown and "--api-base-url http://[::1]:4010" in shown
