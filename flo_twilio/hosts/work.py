"""A host's call as a flow run: a one-step flow that makes the card's call for each item,
and an input file holding the options and the items. Both are named by their content, so
the same work always reads the same files, and a run bound to them refuses other work."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from flo_twilio.card import Card, CardContext, call_problems
from flo_twilio.errors import InvalidInputError, Problem

NAME_UNUSABLE = set("'\"]")


def checked_items(card: Card, options: Any, items: Any, ctx: CardContext) -> list[dict[str, Any]]:
    """``items`` as a list of dicts, once options and every item pass the card's manifest
    and its own ``check`` (``call_problems``, as the pre-pass makes them, on ``ctx``); else ``InvalidInputError``
    naming each problem by item number (from 1), before anything is sent."""
    problems = list(card.manifest.problems("options", options))  # each names "options"
    if not problems and (why := not_json(options)):
        problems.append(Problem(f"options must hold JSON values only: {why}"))
    options_fit = not problems
    fixed = frozenset(options) if isinstance(options, Mapping) else frozenset()
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence) or not items:
        raise InvalidInputError([*problems, Problem("items must be a non-empty list of inputs")])
    first = set(items[0]) if isinstance(items[0], Mapping) else set()
    for number, item in enumerate(items, 1):
        if not isinstance(item, Mapping):
            problems.append(Problem(f"item {number} must be a mapping of input: value"))
            continue
        if set(item) != first:
            problems.append(
                Problem(
                    f"item {number} has the inputs {sorted(item, key=str)}, "
                    f"item 1 has {sorted(first, key=str)}",
                    hint="give every item the same inputs (send the others in another call)",
                )
            )
        found = list(card.manifest.problems("inputs", dict(item)))
        if not found and (why := not_json(item)):
            found = [Problem(f"inputs must hold JSON values only: {why}")]
        if not found and options_fit:
            checked = call_problems(card, options, dict(item), fixed=(fixed, ()), ctx=ctx)
            found = [problem for _, problem in checked]
        problems += [Problem(f"item {number}: {p.message}", hint=p.hint) for p in found]
    if problems:
        raise InvalidInputError(problems)
    return [dict(item) for item in items]


def not_json(values: Mapping[str, Any]) -> str:
    """Why ``values`` cannot be written as the work's JSON text, or ""."""
    try:
        json.dumps(values, sort_keys=True, ensure_ascii=False).encode()
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        return str(exc)
    return ""


def field(root: str, name: str) -> str:
    """A reference to ``root``'s field ``name``, whatever characters it has."""
    if NAME_UNUSABLE & set(name):
        raise InvalidInputError(f"{name!r} cannot be a field name")
    return f"${{{{ {root}['{name}'] }}}}"


def flow_document(
    card: str,
    options: Mapping[str, Any],
    item: Mapping[str, Any],
    concurrency: int,
    hidden: Sequence[str] = (),
) -> dict[str, Any]:
    """The flow: one step calling ``card`` for each item of its input ``work``; option and
    input values are data in the input file, never parsed as templates. The ``hidden``
    (writeOnly) inputs come from the secret input ``secrets``, kept nowhere."""
    secrets = {"secrets": {"type": "object", "writeOnly": True}} if hidden else {}
    return {
        "flo": 1,
        "name": "host-" + card.replace(".", "-"),
        "inputs": {"work": {"type": "object", "required": ["options", "items"]}, **secrets},
        "steps": [
            {
                "id": "call",
                "card": card,
                "for_each": "${{ inputs.work.items }}",
                "concurrency": concurrency,
                "on_error": "continue",
                "options": {name: field("inputs.work.options", name) for name in sorted(options)},
                "inputs": {
                    name: field("inputs.secrets" if name in hidden else "item", name)
                    for name in sorted(item)
                },
            }
        ],
        "outputs": {"results": "${{ steps.call.outputs }}"},
    }


def write_once(folder: Path, text: str, suffix: str) -> Path:
    """``text`` in ``folder`` under a name made from it (0600, written whole or not at all);
    written again when the file there is not ``text`` (changed, cut short) since."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = text.encode()
    path = folder / (hashlib.sha256(data).hexdigest()[:32] + suffix)
    if not path.exists() or path.read_bytes() != data:
        # A temporary name of its own (0600), not one made from the PID: processes in
        # other containers sharing the folder may have the same PID.
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=path.stem + ".", suffix=".tmp")
        try:
            with open(handle, "w") as out:
                out.write(text)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    return path


def work_files(
    state: Path,
    card: str,
    options: Mapping[str, Any],
    items: list[dict[str, Any]],
    concurrency: int,
    secret: Collection[str] = (),
    *,
    in_journal: bool = False,
) -> tuple[Path, list[str]]:
    """The flow file and the inputs of this work: ``work=@file`` under ``state`` names the
    card, options and items, so it alone tells one piece of work from another; with
    ``in_journal``, ``work=JSON`` instead, which the run keeps in the journal, so a retry
    on any machine finds the same work whatever its local folders. The items'
    ``secret`` (writeOnly) inputs are left out of it and given as ``secrets=JSON``, which
    the run keeps nowhere (a retry gives them again): one item at a time."""
    hidden = sorted(set(secret) & set(items[0]))
    if hidden and len(items) > 1:
        raise InvalidInputError(
            [
                Problem(
                    f"{', '.join(hidden)} is a secret input of {card}: it is kept nowhere, so "
                    f"it is sent one item at a time (these are {len(items)})",
                    hint="use send_once for each item",
                )
            ]
        )
    document = flow_document(card, options, items[0], concurrency, hidden)
    flow = write_once(state / "flows", json.dumps(document, indent=2), ".yaml")
    kept = [{k: v for k, v in item.items() if k not in hidden} for item in items]
    work = json.dumps({"card": card, "options": dict(options), "items": kept}, sort_keys=True)
    given = work if in_journal else f"@{write_once(state / 'work', work, '.json')}"
    arguments = [f"work={given}"]
    if hidden:
        arguments.append("secrets=" + json.dumps({k: items[0][k] for k in hidden}))
    return flow, arguments
