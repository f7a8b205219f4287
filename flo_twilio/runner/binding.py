"""What a run is bound to: its flow as it was when the run started (kept in the journal), the
content of its input files, the Account SID behind its account's nickname, and where that
account's records live (its API host, region and edge: a resume looks its calls up there).

Items are known by their step and position, so any edit that could make an item look new
(a renamed step, a changed body, a row inserted in the CSV, a nickname re-pointed at another
account, or at another region where the run's messages are not found) would send it again. A resume therefore compares, before it sends anything, and
refuses such a change, saying what changed and what to do. What cannot make anything be
sent twice may change: a step's ``concurrency`` and ``on_error``, the flow's ``name``,
``description`` and ``outputs``, comments and layout.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flo_twilio.errors import Problem
from flo_twilio.runner.wording import counted
from flo_twilio.runner.yamlmarks import load

BOUND_TOP_KEYS = ("inputs", "account")
BOUND_STEP_KEYS = ("id", "card", "options", "inputs", "for_each")


def input_files(arguments: list[str]) -> list[str]:
    """The files named by ``name=@file`` arguments (already absolute)."""
    return [
        value[1:]
        for _, sep, value in (a.partition("=") for a in arguments)
        if sep and value.startswith("@")
    ]


def digest(path: str) -> str:
    """SHA-256 of a file's content, read in chunks; empty when it cannot be read."""
    sha = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                sha.update(chunk)
    except OSError:
        return ""
    return sha.hexdigest()


def bind(
    flow_text: str, arguments: list[str], account_sid: str, location: dict[str, str]
) -> dict[str, Any]:
    return {
        "flow": flow_text,
        "files": {path: digest(path) for path in input_files(arguments)},
        "account_sid": account_sid,
        "location": location,
    }


def changes(
    bound: dict[str, Any],
    flow_path: str,
    flow_data: Any,
    account: str,
    account_sid: str,
    location: dict[str, str],
) -> list[Problem]:
    """Every way the flow, the input files or the account differ from what the run is bound
    to, each with what to do about it."""
    problems = flow_changes(bound, flow_path, flow_data)
    for path, was in bound.get("files", {}).items():
        now = digest(path)
        if now != was:
            problems.append(
                Problem(
                    f"input file {path} {'is gone' if not now else 'changed'} since the run started",
                    hint="put back the file the run started with to finish it; a new run "
                    "(flo run) would send to every row of the new file again",
                )
            )
    if bound.get("account_sid") != account_sid:
        problems.append(
            Problem(
                f"account {account!r} is now {account_sid}; the run started on "
                f"{bound.get('account_sid')}",
                hint=f"point {account!r} back at {bound.get('account_sid')} to finish it",
            )
        )
    return problems + _moved(bound.get("location"), location, account)


def _moved(was: Any, now: dict[str, str], account: str) -> list[Problem]:
    """The parts of where the account's records live that differ from the run's (none for a
    run recorded before runs were bound to it)."""
    if not isinstance(was, dict):
        return []
    return [
        Problem(
            f"account {account!r} now reaches {part} {now.get(part) or '(none)'}; the run "
            f"started at {was.get(part) or '(none)'}, where its messages are: looked up "
            "anywhere else, the ones in flight would not be found and would be sent again",
            hint=f"point {account!r} back at {was.get(part) or '(none)'} (its API base URL, "
            "region and edge) to finish the run; a new run (flo run) would send everything "
            "again",
        )
        for part in sorted(set(was) | set(now))
        if was.get(part) != now.get(part)
    ]


def flow_changes(bound: dict[str, Any], flow_path: str, flow_data: Any) -> list[Problem]:
    """How the flow ``flow_data`` differs from the copy the run is bound to, where a
    resume could send differently (its outputs, names and pace may change)."""
    return _flow_changes(load(bound["flow"], flow_path).data, flow_data, flow_path)


def _flow_changes(was: Any, now: Any, where: str) -> list[Problem]:
    hint = (
        "put the flow back as it was (flo runs show RUN_ID --flow prints it) to finish the run; "
        "only concurrency, on_error, outputs, name and description may change"
    )
    if not isinstance(was, dict) or not isinstance(now, dict):
        return [Problem("the flow is not what it was when the run started", where, hint)]
    found = [f"its {key} changed" for key in BOUND_TOP_KEYS if was.get(key) != now.get(key)]
    steps_was, steps_now = _steps(was), _steps(now)
    if len(steps_was) != len(steps_now):
        found.append(f"it had {counted(len(steps_was), 'step')} and now has {len(steps_now)}")
    for number, (old, new) in enumerate(zip(steps_was, steps_now, strict=False), start=1):
        name = f"step {number} ({old.get('id')})"
        if old.get("id") != new.get("id"):
            found.append(f"{name} is now called {new.get('id')!r}")
        for key in BOUND_STEP_KEYS[1:]:
            found += [f"{name}: {field} changed" for field in _differing(old, new, key)]
    return [Problem(f"since the run started, {what}", where, hint) for what in found]


def _differing(old: dict[str, Any], new: dict[str, Any], key: str) -> list[str]:
    """``key``, or each ``key.field`` of a mapping, that differs between ``old`` and ``new``."""
    a, b = old.get(key), new.get(key)
    if a == b:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        return [f"{key}.{k}" for k in sorted(set(a) | set(b), key=str) if a.get(k) != b.get(k)]
    return [key]


def _steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    steps = data.get("steps")
    return [s if isinstance(s, dict) else {} for s in steps] if isinstance(steps, list) else []


def flow_file_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None
