"""The arrows of ARCHITECTURE.md, read from the source: every import of every module (at the
top, in functions or under TYPE_CHECKING) must point the way the parts allow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import flo_twilio

PACKAGE = Path(flo_twilio.__file__).parent
CONTRACT = {
    "errors",
    "card",
    "trigger",
    "manifests",
    "plugins",
    "hookspecs",
    "connection",
    "redaction",
}
PARTS = {"cards", "runner", "client", "sandbox", "serve", "cli", "accounts", "hosts"}
# What each part may import, besides itself; the CLI may import anything.
MAY_IMPORT = {
    "contract": set(),
    "accounts": {"contract"},
    "client": {"contract"},
    "cards": {"contract", "client"},
    "runner": {"contract", "accounts"},
    "sandbox": {"flo_twilio.errors"},
    "serve": {
        "contract",
        "accounts",
        "runner",
    },  # stands alone; reports bad settings as the CLI's errors
    "hosts": {"contract", "accounts", "runner"},  # Airflow, Prefect, Dagster: like serve
    "cli": {"contract", "accounts", "client", "cards", "runner", "sandbox", "serve"},
}
# Parts that others may use only through their package's exports (its ``__all__``), and
# the parts so kept to them.
THROUGH_PACKAGE = {
    "runner": {"serve", "hosts", "cli"},
    "client": {"cli"},
}


def part(module: str) -> str:
    """The part of flo_twilio a module belongs to (its own name for a top-level module of
    the contract is "contract"), or "" outside flo_twilio."""
    names = module.split(".")
    if names[0] != "flo_twilio":
        return ""
    if len(names) == 1 or names[1] in CONTRACT:
        return "contract"
    if names[1] in PARTS:
        return names[1]
    raise AssertionError(f"{module} belongs to no part: add it to ARCHITECTURE.md and here")


def is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports(source: str, module: str) -> set[str]:
    """The flo_twilio modules ``source`` (the text of ``module``) imports."""
    found = set()
    package = module if is_module(module + ".__init__") else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, one level up per dot after the first
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                whole = f"{base}.{alias.name}"
                found.add(whole if is_module(whole) else base)
    return {name for name in found if part(name)}


def forbidden(module: str, source: str) -> list[str]:
    """The imports of ``module`` (its text is ``source``) that its part may not make."""
    own = part(module)
    allowed = MAY_IMPORT[own] | {own}
    return sorted(
        name
        for name in imports(source, module)
        if (part(name) not in allowed and name not in allowed) or behind_package(own, name)
    )


def behind_package(own: str, name: str) -> bool:
    """Whether ``name`` is a module inside a part that ``own`` may use only through its
    package (``flo_twilio.runner``, not ``flo_twilio.runner.api``)."""
    target = part(name)
    return own in THROUGH_PACKAGE.get(target, ()) and name != f"flo_twilio.{target}"


def module_name(path: Path) -> str:
    names = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(names[:-1] if names[-1] == "__init__" else names)


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_every_import_points_the_way_the_architecture_allows(path):
    module = module_name(path)
    wrong = forbidden(module, path.read_text(encoding="utf-8"))
    assert wrong == [], f"{module} ({part(module)}) may not import {wrong}: see ARCHITECTURE.md"


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("flo_twilio.errors", "from flo_twilio.runner.engine import Engine"),
        ("flo_twilio.card", "import flo_twilio.cards.messages"),
        ("flo_twilio.redaction", "from flo_twilio.cli import main"),
        ("flo_twilio.runner.engine", "from flo_twilio.client import TwilioClient"),
        ("flo_twilio.runner.api", "from flo_twilio.sandbox import embedded"),
        ("flo_twilio.runner.flow", "from flo_twilio import cards"),
        ("flo_twilio.client.core", "from flo_twilio.runner.journal import Journal"),
        ("flo_twilio.client.core", "from flo_twilio.accounts import Account"),
        ("flo_twilio.sandbox.app", "from flo_twilio.client.urls import is_loopback"),
        ("flo_twilio.sandbox.app", "from flo_twilio.redaction import redact"),
        ("flo_twilio.cards.messages", "from flo_twilio.runner import engine"),
        ("flo_twilio.accounts", "from flo_twilio.cli.account_choice import choose_account"),
        ("flo_twilio.serve.server", "from flo_twilio.runner.api import Runner"),
        ("flo_twilio.hosts.core", "from flo_twilio.runner import journal"),
        ("flo_twilio.cli.cmd_runs", "from flo_twilio.runner.journal import open_journal"),
        ("flo_twilio.cli.cmd_sandbox", "from flo_twilio.client.urls import is_loopback"),
        ("flo_twilio.cli.account_choice", "import flo_twilio.client.transport"),
    ],
)
def test_a_forbidden_arrow_is_caught_wherever_it_is_written(module, line):
    assert forbidden(module, line) != []
    assert forbidden(module, f"def f():\n    {line}\n") != []  # imported late, still an arrow
    guarded = f"from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    {line}\n"
    assert forbidden(module, guarded) != []


def test_the_runner_and_the_client_are_used_through_their_packages():
    assert forbidden("flo_twilio.serve.server", "from flo_twilio.runner import Runner") == []
    assert forbidden("flo_twilio.cli.cmd_sandbox", "from flo_twilio.client import shown_url") == []
    assert forbidden("flo_twilio.cards.messages", "from flo_twilio.client.core import x") == []


def test_a_relative_import_is_read_as_the_module_it_names():
    assert forbidden("flo_twilio.runner.engine", "from ..client import core") == [
        "flo_twilio.client.core"
    ]
    assert forbidden("flo_twilio.runner.engine", "from . import journal") == []


def cycles_among(package: str) -> list[tuple[str, ...]]:
    """The import cycles among the modules of ``package`` (a part's folder), counting
    imports made inside functions and under TYPE_CHECKING."""
    graph = {
        module_name(path): {
            name
            for name in imports(path.read_text(encoding="utf-8"), module_name(path))
            if part(name) == package and name != f"flo_twilio.{package}"
        }
        for path in (PACKAGE / package).glob("*.py")
    }

    def cycle_from(start: str, seen: tuple[str, ...]) -> tuple[str, ...] | None:
        for name in sorted(graph.get(start, ())):
            if name in seen:
                return (*seen, name)
            found = cycle_from(name, (*seen, name))
            if found:
                return found
        return None

    return [c for start in graph if (c := cycle_from(start, (start,)))]


@pytest.mark.parametrize("package", ["cli", "sandbox"])
def test_a_packages_modules_import_one_another_in_one_direction(package):
    """No cycle among the CLI's modules (``main`` -> ``cmd_*`` -> helpers), nor among the
    sandbox's (``app`` -> ``api_*`` -> ``guards``, where the ``Sandbox`` type lives)."""
    assert cycles_among(package) == []


# Each host's packages, and the one adapter that may import them (the core package keeps
# none of their dependencies: they come with the extras [airflow], [prefect], [dagster]).
HOSTS = {
    "flo_twilio.hosts.airflow": {"airflow"},
    "flo_twilio.hosts.prefect": {"prefect"},
    "flo_twilio.hosts.dagster": {"dagster", "dagster_twilio"},
}


def host_packages(source: str) -> set[str]:
    """The top-level packages of hosts that ``source`` imports (absolute imports only)."""
    every = set().union(*HOSTS.values())
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add((node.module or "").split(".")[0])
    return found & every


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_only_a_hosts_adapter_imports_that_host(path):
    module = module_name(path)
    allowed = {
        package
        for adapter, packages in HOSTS.items()
        if module == adapter or module.startswith(adapter + ".")
        for package in packages
    }
    wrong = host_packages(path.read_text(encoding="utf-8")) - allowed
    assert not wrong, f"{module} may not import {sorted(wrong)}: only its host's adapter may"


def test_a_host_imported_outside_its_adapter_is_caught():
    assert host_packages("def f():\n    from airflow.sdk import BaseOperator\n") == {"airflow"}
    assert host_packages("import dagster_twilio, json") == {"dagster_twilio"}
    assert host_packages("from . import prefect") == set()  # our own module, not Prefect


def test_no_two_classes_share_a_name():
    """A type's name means one thing across flo_twilio (the sandbox's account is a
    ``SandboxAccount``, not a second ``Account``)."""
    where: dict[str, list[str]] = {}
    for path in MODULES:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, []).append(module_name(path))
    assert {name: modules for name, modules in where.items() if len(modules) > 1} == {}


def private_imports(source: str) -> list[str]:
    """The private names (``_name``) that ``source`` imports from flo_twilio's modules."""
    return [
        f"{node.module}.{alias.name}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flo_twilio")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_imports_another_modules_private_name(path):
    assert private_imports(path.read_text(encoding="utf-8")) == []


def test_a_private_name_imported_is_caught():
    assert private_imports("def f():\n    from flo_twilio.manifests import _explain\n") == [
        "flo_twilio.manifests._explain"
    ]
