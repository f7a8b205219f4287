"""The wheel carries the manifests: install it in a fresh venv and list the cards."""

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.helpers import ROOT


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_lists_the_cards(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = dist.glob("flo_twilio-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir)
    # Its dependencies (and pip) are this venv's: a path, so that its .pth files (this
    # checkout, installed editable) are not read.
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir)}))
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [env_dir / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [env_dir / "bin" / "flo", "cards", "list", "--json"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    cards = {card["name"] for card in json.loads(result.stdout)}
    shipped = {json.loads(p.read_text())["name"] for p in (ROOT / "card_manifests").glob("*.json")}
    assert len(shipped) > 3 and cards == shipped
    located = subprocess.run(
        [
            env_dir / "bin" / "python",
            "-c",
            "import flo_twilio.cards.manifest_folder as m; print(m.FOLDER)",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(env_dir) in located.stdout  # read from the wheel, not from this checkout
    # The sandbox's inbox page: its templates and static files are in the wheel too.
    shown = subprocess.run(
        [env_dir / "bin" / "python", "-c", INBOX_PAGE],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.split() == ["200", "200", "True"], shown.stdout


INBOX_PAGE = """
from starlette.testclient import TestClient
from flo_twilio.sandbox import create_app
with TestClient(create_app(), base_url="http://127.0.0.1") as client:
    page, script = client.get("/"), client.get("/_inbox/static/inbox.js")
print(page.status_code, script.status_code, "Text as a phone" in page.text)
"""
