"""The pre-pass: inputs checked in full before anything changes the world.

Every row of every input file is read and checked against the input's ``items`` schema,
and every call whose values (and ``if:``) depend only on inputs and the account (each item
of such a ``for_each`` step, and such single steps) whose ``if:`` holds is rendered and
checked as the engine will (``runner.calls``: its card's manifest, then the card's
``check`` of what spans several fields), with nothing sent. Problems are collected, the
first ``MAX_SHOWN`` listed with where they are, and raised together. Each such call whose
recipient opted out is held back: listed (step, item, why) for the run to journal as
skipped before anything is sent.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flo_twilio.card import Card, CardContext, call_problems
from flo_twilio.errors import InvalidInputError, Problem
from flo_twilio.manifests import SchemaCheck
from flo_twilio.runner import refs
from flo_twilio.runner.calls import Unrendered, fixed_keys, holds, render_call
from flo_twilio.runner.flow import Flow, Step
from flo_twilio.runner.inputs import value_problems
from flo_twilio.runner.optouts import OptOutCheck
from flo_twilio.runner.rowfiles import DELIMITERS, CsvFile, RowFile, Where
from flo_twilio.runner.wording import counted

MAX_SHOWN = 20
# Where a problem of one call is, and what fed the field: (section, path) -> (where, from).
Place = Callable[[str, tuple[str | int, ...]], tuple[str, str]]
HeldBack = tuple[str, int, str]  # step id, item index, why it is not sent


def precheck(
    flow: Flow,
    inputs: Mapping[str, Any],
    ctx: CardContext,
    opt_outs: OptOutCheck | None = None,
    held_back: list[HeldBack] | None = None,
) -> dict[str, int]:
    """Check every input row and every call known before the run; raise InvalidInputError
    listing what is wrong. Returns how many rows each input file has; the calls whose
    recipient is on ``opt_outs`` are added to ``held_back``."""
    prepass = PrePass(flow, inputs, ctx)
    prepass.opt_outs = opt_outs
    counts = prepass.run()
    if held_back is not None:
        held_back.extend(prepass.held_back)
    return counts


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


class PrePass:
    def __init__(self, flow: Flow, inputs: Mapping[str, Any], ctx: CardContext) -> None:
        self.flow, self.inputs, self.ctx = flow, inputs, ctx
        self.scope: dict[str, Any] = {"inputs": inputs, "account": dict(ctx.account)}
        self.found = Findings()
        self.cards: dict[str, Card] = {step.id: step.card() for step in flow.steps}
        self.opt_outs: OptOutCheck | None = None
        self.held_back: list[HeldBack] = []

    def run(self) -> dict[str, int]:
        known = {name for name, value in self.inputs.items() if not isinstance(value, RowFile)}
        counts: dict[str, int] = {}
        for name, value in self.inputs.items():
            if isinstance(value, RowFile):
                steps = [
                    s for s in self.flow.steps if iterates(s, name) and checkable(s, self.inputs)
                ]
                rows = self.rows(name, value, steps)
                if rows is not None:
                    counts[name] = rows
                    known.add(name)
        for step in self.flow.steps:
            if not checkable(step, known) or any(iterates(step, n) for n in counts):
                continue
            if step.for_each is None:
                self.call(f"step {step.id}", step, self.scope, self.in_flow(step), 0)
            else:
                self.items(step)
        self.found.raise_any()
        return counts

    def rows(self, name: str, source: RowFile, steps: list[Step]) -> int | None:
        """Read the whole file once; the number of rows, or None when it cannot be used."""
        schema = self.flow.inputs[name]
        items = schema.get("items")
        if not isinstance(items, dict):
            items = {}
        count = refused = 0
        check = SchemaCheck(items)

        def report(problem: Problem) -> None:  # a row that cannot be read is a row all the same
            nonlocal refused
            refused += 1
            self.found(problem)

        try:
            for where, row in source.located(report):
                if count == 0 and not self.has_columns(source, items):
                    return None
                count += 1
                row_problems = value_problems(check, row, f"{name}[{count - 1}]")
                for problem in row_problems:
                    self.found(row_problem(source, where, problem, name))
                if row_problems:
                    continue
                for step in steps:
                    scope = {**self.scope, "item": row}
                    place = in_row(source, where, step)
                    self.call(f"step {step.id}", step, scope, place, count - 1)
        except InvalidInputError as exc:
            for problem in exc.problems:
                self.found(problem)
            return None
        if count == 0 and not self.has_columns(source, items):
            return None
        self.count(name, source, schema, count + refused)
        return count

    def has_columns(self, source: RowFile, items: Mapping[str, Any]) -> bool:
        """A CSV header without a required column is one problem, not one per row."""
        if not isinstance(source, CsvFile):
            return True
        missing = [c for c in items.get("required", []) if c not in source.header]
        found = ", ".join(source.header)
        split = other_delimiter(source.header, missing)
        if split:
            named = "tab" if split[0] == "\t" else repr(split[0])
            self.found(
                Problem(
                    f"no column {missing[0]!r}: the header reads as one column {split[1]!r}",
                    str(Where(source.label, source.header_line)),
                    f"the file is {named}-separated: pass --delimiter "
                    + ("tab" if split[0] == "\t" else shlex.quote(split[0])),
                )
            )
            return False
        unused = [c for c in source.header if c not in (items.get("properties") or {})]
        for column in missing:
            close = difflib.get_close_matches(column, unused, n=1)
            where = Where(source.label, source.header_line)
            hint = f"add a column named {column}"
            if close:
                where = Where(source.label, source.header_line, source.header.index(close[0]) + 1)
                hint = f"if column {close[0]!r} is meant to be {column}, rename it {column}"
            self.found(Problem(f"no column {column!r} (columns found: {found})", str(where), hint))
        return not missing

    def count(self, name: str, source: RowFile, schema: Mapping[str, Any], count: int) -> None:
        where = f"{source.label}:1:1"
        if count == 0 and schema.get("minItems") != 0:
            self.found(
                Problem(
                    "the file has no rows",
                    where,
                    f"add rows, or allow an empty list with minItems: 0 in the flow's input {name}",
                )
            )
        elif count < schema.get("minItems", 0):
            self.found(
                Problem(
                    f"the file has {counted(count, 'row')}; {name} needs at least {schema['minItems']}",
                    where,
                )
            )
        elif count > schema.get("maxItems", count):
            self.found(
                Problem(
                    f"the file has {counted(count, 'row')}; {name} takes at most {schema['maxItems']}",
                    where,
                )
            )

    def items(self, step: Step) -> None:
        """Each item of a for_each step whose list is known before the run."""
        where = self.flow.document.where(("steps", step.index, "for_each"))
        try:
            items = refs.render(step.for_each, self.scope)
        except refs.RefError as exc:
            self.found(Problem(f"step {step.id}: for_each: {exc}", where))
            return
        if not isinstance(items, list):
            kind = type(items).__name__
            self.found(Problem(f"step {step.id}: for_each must be a list, not {kind}", where))
            return
        for index, item in enumerate(items):
            scope = {**self.scope, "item": item}
            self.call(f"step {step.id} item {index}", step, scope, self.in_flow(step), index)

    def call(self, label: str, step: Step, scope: dict[str, Any], place: Place, index: int) -> None:
        """Render one call (item ``index`` of its step) as the engine will and check it
        (``call_problems``: the manifest, then the card's check), nothing sent; not when its
        ``if:`` does not hold. A call to a recipient who opted out is held back."""
        try:
            if not holds(step, scope):
                return
            options, inputs = render_call(step, scope)
        except Unrendered as exc:
            where, _ = place(exc.section, ())
            self.found(Problem(f"{label}: {exc}", where))
            return
        card = self.cards[step.id]
        problems = call_problems(card, options, inputs, fixed=fixed_keys(step), ctx=self.ctx)
        if not problems:
            self.hold_back(step, index, options, inputs)
        for section, problem in problems:
            where, source = place(section, problem.path)
            self.found(Problem(f"{label}{source}: {problem.message}", where, problem.hint))

    def hold_back(self, step: Step, index: int, options: Any, inputs: Any) -> None:
        if self.opt_outs and (
            why := self.opt_outs.reason(step, self.cards[step.id], options, inputs)
        ):
            self.held_back.append((step.id, index, why))

    def in_flow(self, step: Step) -> Place:
        """Problems of a call whose values are all in the flow or its inputs: the field's place."""

        def place(section: str, path: tuple[str | int, ...]) -> tuple[str, str]:
            where = self.flow.document.where(("steps", step.index, section, *path))
            ref = feeding(step, section, path)
            return where, f", from ${{{{ {ref} }}}}" if ref else ""

        return place


def references(step: Step) -> Iterable[refs.Ref]:
    for value in (step.for_each, step.options, step.inputs):
        for _, template in refs.templates(value):
            yield from template.refs
    if step.condition is not None:
        yield from step.condition.refs


def checkable(step: Step, inputs: Iterable[str]) -> bool:
    """True when the step's values depend only on known inputs, its item and the account."""
    available = set(inputs)
    return all(
        ref.root in ("item", "account")
        or (ref.root == "inputs" and bool(ref.path) and ref.path[0] in available)
        for ref in references(step)
    )


def other_delimiter(header: list[str], missing: list[str]) -> tuple[str, str] | None:
    """The delimiter (and the header cell holding it) that would split a one-column header
    into columns that are missing: a file separated by another delimiter than the one read."""
    if len(header) != 1 or not missing:
        return None
    for delimiter in dict.fromkeys(DELIMITERS.values()):
        if missing[0] in (part.strip() for part in header[0].split(delimiter)):
            return delimiter, header[0]
    return None


def iterates(step: Step, name: str) -> bool:
    """True when the step's for_each is the input ``name``, whole."""
    whole = step.for_each.whole if isinstance(step.for_each, refs.Template) else None
    return whole is not None and whole.root == "inputs" and whole.path == (name,)


def row_problem(source: RowFile, where: Where, problem: Problem, name: str) -> Problem:
    """A row's problem at the row's line and, for CSV, the column's number."""
    column = source.column(str(problem.path[0])) if problem.path else None
    place = Where(where.file, where.line, column or where.column)
    if column and problem.message.endswith(" is required"):
        return Problem(
            f"column {problem.path[0]!r} is empty",
            str(place),
            f"fill it in, or leave the row out: the flow's input {name} requires it",
        )
    return Problem(problem.message, str(place), problem.hint)


def feeding(step: Step, section: str, path: tuple[str | int, ...]) -> refs.Ref | None:
    """The one reference a field's value comes from, if it comes from exactly one."""
    value = getattr(step, section, None)  # None for if:, fed by no one reference
    field = value.get(path[0]) if path and isinstance(value, dict) else None
    found = [ref for _, template in refs.templates(field) for ref in template.refs]
    return found[0] if len(found) == 1 else None


def in_row(source: RowFile, where: Where, step: Step) -> Place:
    """Problems of a call made from a file's row: the row's line, and the column that fed it."""

    def place(section: str, path: tuple[str | int, ...]) -> tuple[str, str]:
        ref = feeding(step, section, path)
        if ref is None or ref.root != "item" or not ref.path:
            return str(where), ""
        column = source.column(str(ref.path[0]))
        if column is None:
            return str(where), f", from ${{{{ {ref} }}}}"
        return str(Where(where.file, where.line, column)), f", column {ref.path[0]}"

    return place
