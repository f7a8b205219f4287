"""The README's commands, CI, lint and types stay honest."""

import subprocess
import sys

from tests.helpers import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert "flo run" in commands[0] or "flo " in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme_commands()[1] in ci.splitlines()


def test_ruff_lint_and_format_are_clean():
    subprocess.run([sys.executable, "-m", "ruff", "check", str(ROOT)], check=True, cwd=ROOT)
    subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", str(ROOT)], check=True, cwd=ROOT
    )


def test_mypy_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_is_typed():
    assert (ROOT / "flo_twilio" / "py.typed").exists()
