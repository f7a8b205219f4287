"""The pre-pass: inputs checked in full before anything changes the world.

Every row of every input file is read and checked against the input's ``items`` schema,
and every call whose values depend only on inputs and the account (each item of such a
``for_each`` step, and such single steps) is rendered and checked against its card's
manifest, exactly as the engine will render it. Problems are collected, the first
``MAX_SHOWN`` listed with where they are, and raised together: nothing has been sent.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flo_twilio.errors import InvalidInputError, Problem
from flo_twilio.runner import refs
from flo_twilio.runner.flow import Flow, Step
from flo_twilio.runner.inputs import value_problems
from flo_twilio.runner.rowfiles import CsvFile, RowFile, Where

MAX_SHOWN = 20
# Where a problem of one call is, and what fed the field: (section, path) -> (where, from).
Place = Callable[[str, tuple[str | int, ...]], tuple[str, str]]


class Findings:
    """The problems found: the first ``cap`` kept, the others counted."""

    def __init__(self, cap: int = MAX_SHOWN) -> None:
        self.cap = cap
        self.shown: list[Problem] = []
        self.more = 0

    def __call__(self, problem: Problem) -> None:
        if len(self.shown) < self.cap:
            self.shown.append(problem)
        else:
            self.more += 1

    def raise_any(self) -> None:
        if self.more:
            self.shown.append(Problem(f"and {self.more:,} more problems"))
        if self.shown:
            raise InvalidInputError(self.shown)


def precheck(flow: Flow, inputs: Mapping[str, Any], account: Mapping[str, Any]) -> dict[str, int]:
    """Check every input row and every call known before the run; raise InvalidInputError
    listing what is wrong. Returns how many rows each input file has."""
    found = Findings()
    scope = {"inputs": inputs, "account": dict(account)}
    known = {name for name, value in inputs.items() if not isinstance(value, RowFile)}
    counts: dict[str, int] = {}
    for name, value in inputs.items():
        if isinstance(value, RowFile):
            streamed = [s for s in flow.steps if _iterates(s, name) and _checkable(s, inputs)]
            rows = _check_rows(flow, name, value, streamed, scope, found)
            if rows is not None:
                counts[name] = rows
                known.add(name)
    for step in flow.steps:
        if not _checkable(step, known) or any(_iterates(step, n) for n in counts):
            continue
        if step.for_each is None:
            _check_call(f"step {step.id}", step, scope, _in_flow(flow, step), found)
        else:
            _check_items(flow, step, scope, found)
    found.raise_any()
    return counts


def _roots(step: Step) -> Iterable[refs.Ref]:
    for value in (step.for_each, step.options, step.inputs):
        for _, template in refs.templates(value):
            yield from template.refs


def _checkable(step: Step, inputs: Iterable[str]) -> bool:
    """True when the step's values depend only on known inputs, its item and the account."""
    available = set(inputs)
    return all(
        ref.root in ("item", "account")
        or (ref.root == "inputs" and ref.path[:1] and ref.path[0] in available)
        for ref in _roots(step)
    )


def _iterates(step: Step, name: str) -> bool:
    whole = step.for_each.whole if isinstance(step.for_each, refs.Template) else None
    return whole is not None and whole.root == "inputs" and whole.path == (name,)


def _check_rows(
    flow: Flow,
    name: str,
    source: RowFile,
    steps: list[Step],
    scope: dict[str, Any],
    found: Findings,
) -> int | None:
    """Read the whole file once; the number of rows, or None when it cannot be used."""
    schema = flow.inputs[name]
    items = schema.get("items")
    if not isinstance(items, dict):
        items = {}
    count = 0
    try:
        for where, row in source.located(found):
            if count == 0 and not _has_columns(source, items, found):
                return None
            count += 1
            row_problems = value_problems(items, row, f"{name}[{count - 1}]")
            for problem in row_problems:
                found(_row_problem(source, where, problem, name))
            if row_problems:
                continue
            for step in steps:
                place = _in_row(source, where, step)
                _check_call(f"step {step.id}", step, {**scope, "item": row}, place, found)
    except InvalidInputError as exc:
        for problem in exc.problems:
            found(problem)
        return None
    if count == 0 and not _has_columns(source, items, found):
        return None
    _check_count(name, source, schema, count, found)
    return count


def _has_columns(source: RowFile, items: Mapping[str, Any], found: Findings) -> bool:
    """A CSV header without a required column is one problem, not one per row."""
    if not isinstance(source, CsvFile):
        return True
    missing = [c for c in items.get("required", []) if c not in source.header]
    for column in missing:
        close = difflib.get_close_matches(column, source.header, n=1)
        found(
            Problem(
                f"no column {column!r} (columns found: {', '.join(source.header)})",
                str(Where(source.label, source.header_line)),
                f"did you mean {close[0]}?" if close else f"add a column named {column}",
            )
        )
    return not missing


def _row_problem(source: RowFile, where: Where, problem: Problem, name: str) -> Problem:
    column = source.column(str(problem.path[0])) if problem.path else None
    place = Where(where.file, where.line, column or where.column)
    if column and problem.message.endswith(" is required"):
        return Problem(
            f"column {problem.path[0]!r} is empty",
            str(place),
            f"fill it in, or leave the row out: the flow's input {name} requires it",
        )
    return Problem(problem.message, str(place), problem.hint)


def _check_count(
    name: str, source: RowFile, schema: Mapping[str, Any], count: int, found: Findings
) -> None:
    where = f"{source.label}:1:1"
    if count == 0 and schema.get("minItems") != 0:
        found(
            Problem(
                "the file has no rows",
                where,
                f"add rows, or allow an empty list with minItems: 0 in the flow's input {name}",
            )
        )
    elif count < schema.get("minItems", 0):
        found(
            Problem(f"the file has {count} rows; {name} needs at least {schema['minItems']}", where)
        )
    elif count > schema.get("maxItems", count):
        found(
            Problem(f"the file has {count} rows; {name} takes at most {schema['maxItems']}", where)
        )


def _check_items(flow: Flow, step: Step, scope: dict[str, Any], found: Findings) -> None:
    where = flow.document.where(("steps", step.index, "for_each"))
    try:
        items = refs.render(step.for_each, scope)
    except refs.RefError as exc:
        found(Problem(f"step {step.id}: for_each: {exc}", where))
        return
    if not isinstance(items, list):
        found(
            Problem(f"step {step.id}: for_each must be a list, not {type(items).__name__}", where)
        )
        return
    for index, item in enumerate(items):
        label = f"step {step.id} item {index}"
        _check_call(label, step, {**scope, "item": item}, _in_flow(flow, step), found)


def _check_call(
    label: str, step: Step, scope: Mapping[str, Any], place: Place, found: Findings
) -> None:
    """Render one call as the engine will and check it against the card's manifest."""
    rendered: dict[str, Any] = {}
    for section in ("options", "inputs"):
        try:
            rendered[section] = refs.render(getattr(step, section), scope)
        except refs.RefError as exc:
            where, _ = place(section, ())
            found(Problem(f"{label}: {exc}", where))
            return
    for section, values in rendered.items():
        for problem in step.card.manifest.problems(section, values):
            where, source = place(section, problem.path)
            found(Problem(f"{label}{source}: {problem.message}", where, problem.hint))


def _feeding(step: Step, section: str, path: tuple[str | int, ...]) -> refs.Ref | None:
    """The one reference a field's value comes from, if it comes from exactly one."""
    value = getattr(step, section)
    field = value.get(path[0]) if path and isinstance(value, dict) else None
    found = [ref for _, template in refs.templates(field) for ref in template.refs]
    return found[0] if len(found) == 1 else None


def _in_row(source: RowFile, where: Where, step: Step) -> Place:
    """Problems of a call made from a file's row: the row's line, and the column that fed it."""

    def place(section: str, path: tuple[str | int, ...]) -> tuple[str, str]:
        ref = _feeding(step, section, path)
        if ref is None or ref.root != "item" or not ref.path:
            return str(where), ""
        column = source.column(str(ref.path[0]))
        if column is None:
            return str(where), f", from ${{{{ {ref} }}}}"
        return str(Where(where.file, where.line, column)), f", column {ref.path[0]}"

    return place


def _in_flow(flow: Flow, step: Step) -> Place:
    """Problems of a call whose values are all in the flow or its inputs: the field's place."""

    def place(section: str, path: tuple[str | int, ...]) -> tuple[str, str]:
        where = flow.document.where(("steps", step.index, section, *path))
        ref = _feeding(step, section, path)
        return where, f", from ${{{{ {ref} }}}}" if ref else ""

    return place
