import json
import re
import subprocess
import sys
from pathlib import Path

from flo_twilio import load_registry
from flo_twilio.cli.card_reference import card_reference
from tests.helpers import ROOT
from tests.inprocess import run_flo as flo  # in this process; a few tests start one


def test_version():
    result = flo("--version")
    assert result.code == 0 and result.out.startswith("flo-twilio ")


def test_the_flo_console_script_runs_the_cli():
    """The entry point pyproject.toml declares, as a user runs it."""
    script = Path(sys.executable).parent / "flo"
    proc = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("flo-twilio ")


def test_cards_list_json_has_the_three_manifests():
    result = flo("cards", "list", "--json")
    assert result.code == 0, result.err
    cards = {card["name"]: card for card in json.loads(result.out)}
    assert {"twilio.send_sms", "twilio.send_mms", "twilio.custom_api"} <= set(cards)
    assert cards["twilio.send_sms"]["title"] == "Send an SMS"
    assert cards["twilio.send_sms"]["plugin"] == "twilio"


def test_cards_list_for_people():
    result = flo("cards", "list")
    assert re.search(r"^twilio\.send_sms +Send an SMS$", result.out, re.M)


def test_cards_show_table():
    result = flo("cards", "show", "twilio.send_sms")
    assert result.code == 0
    lines = result.out.splitlines()
    to_line = next(line for line in lines if line.strip().startswith("to "))
    assert "string" in to_line and "required" in to_line and "+12065551212" in to_line
    assert any(line.strip().startswith("dateCreated") for line in lines)


def test_cards_show_json_is_the_manifest():
    result = flo("cards", "show", "twilio.custom_api", "--json")
    manifest = json.loads(result.out)
    assert manifest["options"]["properties"]["method"]["enum"] == [
        "GET",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
    ]


def test_unknown_card_suggests_the_closest_and_exits_2():
    result = flo("cards", "show", "twilio.send_sm")
    assert result.code == 2
    assert "unknown card 'twilio.send_sm'" in result.err
    assert "did you mean twilio.send_sms" in result.err
    assert "Traceback" not in result.err


def test_the_card_reference_page_is_in_sync_with_the_manifests():
    page = (ROOT / "docs" / "cards.md").read_text()
    assert page == card_reference(load_registry()) + "\n", (
        "docs/cards.md is stale: run flo cards list --markdown > docs/cards.md"
    )
