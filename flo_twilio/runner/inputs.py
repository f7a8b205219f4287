"""A flow's inputs from the command line: ``name=value``, or ``name=@file`` for a CSV,
JSON or JSON Lines file (read row by row, see ``rowfiles``)."""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flo_twilio.errors import InvalidInputError, Problem
from flo_twilio.manifests import SchemaCheck, explain_schema_error
from flo_twilio.runner.rowfiles import (
    DELIMITERS,
    TOO_DEEP,
    CsvFile,
    JsonLinesFile,
    RowFile,
    json_file,
    unusable,
)

QUOTE_NUMBERS = "quote phone numbers and other text: unquoted, +12065551212 is read as a number"


@dataclass(frozen=True)
class FileOptions:
    """How ``@file`` inputs are read: their text encoding, and the CSV delimiter (sniffed
    from the header line when None)."""

    encoding: str = "utf-8-sig"
    delimiter: str | None = None

    @classmethod
    def of(cls, encoding: str | None, delimiter: str | None) -> FileOptions:
        """From ``--encoding`` and ``--delimiter`` as typed; unknown values are refused."""
        problems = []
        if encoding:
            try:
                encoding = codecs.lookup(encoding).name
            except LookupError:
                problems.append(
                    Problem(
                        f"--encoding {encoding!r} is not a known encoding",
                        hint="e.g. cp1252, latin-1, utf-16",
                    )
                )
            if encoding == "utf-8":
                encoding = "utf-8-sig"  # a BOM is allowed
        if delimiter and delimiter not in DELIMITERS:
            problems.append(
                Problem(
                    f"--delimiter {delimiter!r} is not one of , ; tab |",
                    hint="e.g. --delimiter ';'",
                )
            )
        if problems:
            raise InvalidInputError(problems)
        return cls(encoding or "utf-8-sig", DELIMITERS.get(delimiter or ""))

    def arguments(self) -> dict[str, str]:
        """What to record with a run so a resume reads the files the same way."""
        return {k: v for k, v in vars(self).items() if v is not None}


def parse_assignments(
    pairs: list[str], base: Path, files: FileOptions | None = None
) -> dict[str, Any]:
    """``name=value`` strings as a dict; ``@file`` values are row files or JSON."""
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
        values[name] = _value(name, raw, base, files or FileOptions())
    return values


def _value(name: str, raw: str, base: Path, files: FileOptions) -> Any:
    if not raw.startswith("@"):
        return raw
    label = raw[1:]
    path = Path(label) if Path(label).is_absolute() else (base / label).resolve()
    if not path.is_file():
        raise InvalidInputError(
            [
                Problem(
                    f"--input {name}: no file {path}",
                    hint="the path is relative to the current folder",
                )
            ]
        )
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return CsvFile(path, label, files.encoding, files.delimiter)
    if suffix in (".jsonl", ".ndjson"):
        return JsonLinesFile(path, label, files.encoding)
    if suffix == ".json":
        return json_file(path, label, files.encoding)
    raise InvalidInputError(
        [Problem(f"--input {name}: {path.name} must be .csv, .tsv, .json or .jsonl")]
    )


def takes_list(schema: Mapping[str, Any]) -> bool:
    """True when a value of ``schema`` may be a list (its type is absent or allows array)."""
    kind = schema.get("type", "array")
    return kind == "array" or (isinstance(kind, list) and "array" in kind)


def value_problems(
    schema: Mapping[str, Any] | SchemaCheck, value: Any, label: str
) -> list[Problem]:
    """What is wrong with ``value`` for ``schema`` (or its check, when it checks many
    values), each message starting with ``label``."""
    problems = []
    if not isinstance(schema, SchemaCheck):
        schema = SchemaCheck(schema)
    errors = schema.errors(value)
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        problem = explain_schema_error(label, error)
        expected = error.validator_value if error.validator == "type" else ()
        if "string" in expected and isinstance(error.instance, int | float):
            problem = Problem(problem.message, hint=QUOTE_NUMBERS, path=problem.path)
        problems.append(problem)
    return problems


def resolve_inputs(
    schemas: Mapping[str, dict[str, Any]],
    given: Mapping[str, Any],
    *,
    partial: bool = False,
    declared: Callable[[str], str] = lambda name: "",
) -> dict[str, Any]:
    """Given values typed by their schema, defaults filled in, everything checked.

    ``partial`` (for ``flo validate``) leaves out required inputs that were not given;
    ``declared`` says where an input is declared (for a default's or a missing input's
    problem). Row files are checked row by row later, by the pre-pass.
    """
    problems: list[Problem] = []
    resolved: dict[str, Any] = {}
    for name in given:
        if name not in schemas:
            problems.append(
                Problem(
                    f"the flow has no input {name!r}",
                    f"--input {name}",
                    hint=f"its inputs: {', '.join(schemas) or 'none'}",
                )
            )
    for name, schema in schemas.items():
        if name in given:
            value = _typed(name, given[name], schema)
        elif "default" in schema:
            value = schema["default"]
        elif partial:
            continue
        else:
            problems.append(
                Problem(
                    f"input {name!r} is required",
                    declared(name),
                    hint=f"pass --input {name}=... ({schema.get('description', schema.get('type', 'a value'))})",
                )
            )
            continue
        where = f"--input {name}" if name in given else declared(name)
        if isinstance(value, RowFile):
            if not takes_list(schema):
                problems.append(
                    Problem(
                        f"input {name!r} is of type {schema['type']}: a {value.kind} file is a "
                        "list of rows",
                        where,
                    )
                )
        elif unusable(value):
            problems.append(Problem(f"input {name}: {unusable(value)}", where))
        else:
            problems += [
                Problem(p.message, where, p.hint)
                for p in value_problems(schema, value, f"input {name}")
            ]
        resolved[name] = value
    if problems:
        raise InvalidInputError(problems)
    return resolved


def _typed(name: str, value: Any, schema: Mapping[str, Any]) -> Any:
    """A command-line string as the type its schema asks for (JSON for non-strings)."""
    if not isinstance(value, str) or schema.get("type") in ("string", None):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
    except RecursionError:
        raise InvalidInputError([Problem(f"input {name}: {TOO_DEEP}", f"--input {name}")]) from None
