"""The documentation site builds strictly, describes every hook, and the README stays a front
door whose links lead somewhere."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys

import pytest

from flo_twilio import hookspecs
from tests.helpers import ROOT

HOOKS = [
    name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("flo_")
]


@pytest.mark.slow
def test_the_docs_build_strictly_with_no_warning(tmp_path):
    """A broken link or anchor, or a page in nav that is missing, fails the build."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner about MkDocs 2.0
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    assert "WARNING" not in built.stderr, built.stderr
    assert (tmp_path / "index.html").exists()


def test_the_hooks_are_found_to_be_checked():
    assert HOOKS, "no hook found in hookspecs.py: the test below would check nothing"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_described_in_writing_a_plugin(hook):
    """Each hook of hookspecs.py has its row in the page's table of hooks, with what it returns."""
    page = (ROOT / "docs" / "writing-a-plugin.md").read_text()
    assert re.search(rf"^\| `{hook}\(\)` \| \w.*\|$", page, re.M), (
        f"docs/writing-a-plugin.md: add a row `| \\`{hook}()\\` | what it returns |` to the hooks table"
    )


def test_the_readme_stays_a_front_door_under_200_lines():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 200, "README.md: move the detail to a page in docs/ and link to it"


def test_every_relative_link_of_the_readme_leads_to_a_file():
    """GitHub and PyPI show the README outside the site: its links are checked here."""
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    relative = [target for target in targets if "://" not in target]
    assert relative, "the README links into docs/"
    assert [target for target in relative if not (ROOT / target).exists()] == []
