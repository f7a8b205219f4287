"""A host (Airflow, Prefect, Dagster...) in a virtual environment of its own, in two layers.

The host's venv holds its pinned requirements and flo-twilio's dependencies, not flo-twilio:
it is keyed on what it holds (the requirements file, flo-twilio's dependencies, Python's
version) and shared by every clone on the machine, in
``$FLO_HOSTVENVS`` (default ``$XDG_CACHE_HOME/flo-twilio/hostvenvs``, else
``~/.cache/flo-twilio/hostvenvs``). It is built in a temporary folder and renamed into
place, so a build cut short or two clones building at once never leave a broken one.

Each checkout adds a small overlay venv in ``.cache/hostvenvs/<name>``: it sees the shared
venv's packages, has this checkout installed editable, and the host's commands (``airflow``
...) run by its python. Its python is what the tests use.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from tests.helpers import ROOT
from tests.twilio_spec import CACHE, unavailable

UNUSED_DAYS = 30  # a shared venv no clone has used for this long is removed


def shared_folder() -> Path:
    """Where the hosts' venvs shared by every clone live."""
    if chosen := os.environ.get("FLO_HOSTVENVS"):
        return Path(chosen)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "flo-twilio" / "hostvenvs"


def host_python(name: str, requirements: Path) -> Path:
    """The python of the venv ``name`` with ``requirements`` and this checkout installed;
    skipped (failed in CI) when it cannot be installed."""
    packages = [*flo_requirements(), "-r", str(requirements)]
    shared = built(
        shared_folder() / name,
        shared_key(requirements),
        lambda building, _: install_shared(building, packages),
        unused_days=UNUSED_DAYS,
    )
    overlay = built(
        CACHE / "hostvenvs" / name,
        digest(str(shared), (ROOT / "pyproject.toml").read_bytes()),
        lambda building, target: install_overlay(building, target, shared),
    )
    return overlay / "bin" / "python"


def shared_key(requirements: Path) -> str:
    """What a shared venv holds: its requirements, flo-twilio's dependencies, Python."""
    return digest(requirements.read_bytes(), *flo_requirements(), sys.version, sys.platform)


def flo_requirements() -> list[str]:
    """flo-twilio's dependencies, from pyproject.toml."""
    return list(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])


def digest(*parts: str | bytes) -> str:
    hashed = hashlib.sha256()
    for part in parts:
        hashed.update(part if isinstance(part, bytes) else part.encode())
        hashed.update(b"\0")
    return hashed.hexdigest()[:16]


def built(
    folder: Path, key: str, build: Callable[[Path, Path], None], unused_days: float = 0
) -> Path:
    """``folder/key``, unless it is there already built by ``build(temporary, folder/key)``
    in a temporary folder then renamed; one build at a time (the others wait for it). A
    build first removes what others left in ``folder``: unfinished builds, and the venvs
    not used for ``unused_days`` (0: all of them)."""
    target = folder / key
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            for stale in folder.iterdir():  # left by a build cut short, or unused for long
                unused = time.time() - stale.stat().st_mtime >= unused_days * 86400
                if stale.is_dir() and (stale.name.startswith("tmp") or unused):
                    shutil.rmtree(stale, ignore_errors=True)
            building = Path(tempfile.mkdtemp(prefix="tmp", dir=folder))
            started = time.monotonic()
            build(building, target)
            (building / "built").write_text(f"in {time.monotonic() - started:.0f} s\n")
            building.rename(target)
        os.utime(target)  # in use: not removed as unused
    return target


def install_shared(target: Path, packages: list[str]) -> None:
    """A venv with ``packages``; its scripts (made where it was built) are run by overlays."""
    run([sys.executable, "-m", "venv", str(target)])
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "-q"]
    run([*pip, "--disable-pip-version-check", *packages])


def install_overlay(building: Path, target: Path, shared: Path) -> None:
    """A venv (built in ``building``, to be ``target``) that sees ``shared``'s packages, with
    this checkout installed editable, and its scripts and ``shared``'s run by its python."""
    run([sys.executable, "-m", "venv", "--without-pip", str(building)])
    site = Path(sysconfig.get_path("purelib", vars={"base": str(building)}))
    shared_site = sysconfig.get_path("purelib", vars={"base": str(shared)})
    (site / "shared_host_venv.pth").write_text(f"import site; site.addsitedir({shared_site!r})\n")
    pip = [str(building / "bin" / "python"), "-m", "pip", "install", "-q"]
    run([*pip, "--disable-pip-version-check", "--no-deps", "-e", str(ROOT)])
    scripts = building / "bin"
    for script in [*scripts.iterdir(), *(shared / "bin").iterdir()]:
        copy = scripts / script.name
        if (copy == script or not copy.exists()) and is_python_script(script):
            body = script.read_text().split("\n", 1)[1]
            copy.write_text(f"#!{target / 'bin' / 'python'}\n{body}")
            copy.chmod(0o755)


def is_python_script(path: Path) -> bool:
    with open(path, "rb") as script:
        first = script.readline()
    return re.fullmatch(rb"#!/\S*/bin/python[\d.]*\s*", first) is not None


def run(step: list[str]) -> None:
    try:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        unavailable(f"{' '.join(step[:4])} took over 15 minutes")
    if done.returncode != 0:
        unavailable(f"{' '.join(step[:4])} failed: {done.stderr.strip()[-500:]}")


def requirements_files() -> dict[str, Path]:
    """Each host's pinned requirements, by host name (``<name>-requirements.txt``)."""
    here = Path(__file__).parent
    return {p.name.removesuffix("-requirements.txt"): p for p in here.glob("*-requirements.txt")}


def build_ahead(names: set[str]) -> threading.Thread:
    """Build the hosts' venvs one after another on a thread, while the rest of the suite runs
    (a fresh machine spends minutes on them); a host's tests wait for its build (the
    lock), and one that failed here fails again there, with its reason."""

    def build() -> None:
        for name, requirements in sorted(requirements_files().items()):
            if name in names:
                with contextlib.suppress(BaseException):  # reported by the host's tests
                    host_python(name, requirements)

    thread = threading.Thread(target=build, name="host-venvs", daemon=True)
    thread.start()
    return thread
