"""A flow's inputs from the command line: ``name=value``, ``name=@rows.csv``, ``name=@data.json``."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from flo_twilio.errors import InvalidInputError, Problem


class CsvRows:
    """The rows of a CSV file as dicts, read lazily each time it is iterated: a file of
    100,000 rows is never held in memory at once."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[dict[str, str]]:
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                yield {k: v for k, v in row.items() if k is not None}

    def __repr__(self) -> str:
        return f"@{self.path}"


def parse_assignments(pairs: list[str], base: Path) -> dict[str, Any]:
    """``name=value`` strings as a dict; ``@file`` values are CSV rows or JSON."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise InvalidInputError(
                [
                    Problem(
                        f"--input {pair!r} is not name=value", hint="e.g. --input to=+12065551212"
                    )
                ]
            )
        values[name] = _value(name, raw, base)
    return values


def _value(name: str, raw: str, base: Path) -> Any:
    if not raw.startswith("@"):
        return raw
    path = (base / raw[1:]).resolve() if not Path(raw[1:]).is_absolute() else Path(raw[1:])
    if not path.is_file():
        raise InvalidInputError(
            [
                Problem(
                    f"--input {name}: no file {path}",
                    hint="the path is relative to the current folder",
                )
            ]
        )
    if path.suffix.lower() == ".csv":
        return CsvRows(path)
    if path.suffix.lower() == ".json":
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InvalidInputError(
                [Problem(f"--input {name}: {path} is not valid JSON: {exc}")]
            ) from None
    raise InvalidInputError([Problem(f"--input {name}: {path.name} must be .csv or .json")])


def resolve_inputs(
    schemas: Mapping[str, dict[str, Any]], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Given values typed by their schema, defaults filled in, everything checked."""
    problems: list[Problem] = []
    resolved: dict[str, Any] = {}
    for name in given:
        if name not in schemas:
            problems.append(
                Problem(
                    f"the flow has no input {name!r}",
                    hint=f"its inputs: {', '.join(schemas) or 'none'}",
                )
            )
    for name, schema in schemas.items():
        if name in given:
            value = _typed(given[name], schema)
        elif "default" in schema:
            value = schema["default"]
        else:
            problems.append(
                Problem(
                    f"input {name!r} is required",
                    hint=f"pass --input {name}=... ({schema.get('description', schema.get('type', 'a value'))})",
                )
            )
            continue
        if not isinstance(value, CsvRows):
            for error in Draft202012Validator(schema).iter_errors(value):
                location = ".".join(str(p) for p in error.absolute_path)
                problems.append(
                    Problem(f"input {name}{'.' + location if location else ''}: {error.message}")
                )
        elif schema.get("type", "array") != "array":
            problems.append(Problem(f"input {name!r} is a {schema.get('type')}, not a CSV file"))
        resolved[name] = value
    if problems:
        raise InvalidInputError(problems)
    return resolved


def _typed(value: Any, schema: Mapping[str, Any]) -> Any:
    """A command-line string as the type its schema asks for (JSON for non-strings)."""
    if not isinstance(value, str) or schema.get("type") in ("string", None):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
