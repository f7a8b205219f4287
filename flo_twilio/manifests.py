"""Card manifests: load them, check them against the meta-schema, validate values.

Values are checked by jsonschema-rs first (a compiled validator: about 1 µs a call, against
50 to 250 µs for jsonschema, bench/bench_validation.py); only what it refuses is checked
again by jsonschema, whose errors are what people read, and whose verdict stands.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping
from datetime import datetime
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jsonschema_rs

from flo_twilio.errors import InvalidInputError, ManifestError, Problem
from flo_twilio.redaction import MASK

if TYPE_CHECKING:  # jsonschema is imported when a value is refused (start-up time)
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import ValidationError

SECTIONS = ("options", "inputs", "outputs")
_PACKAGE = Path(__file__).parent
CHECKED_KEPT = 256  # sets of fixed values known to pass, kept per manifest


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("a date-time needs a time zone offset, like Z or +02:00")
    return True


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    # A space inside is sent percent-encoded (as a browser does); other whitespace is not.
    inner = value.replace(" ", "")
    return (
        bool(parts.scheme and parts.netloc)
        and value == value.strip()
        and not any(c.isspace() for c in inner)
    )


# The formats manifests assert: whether a value conforms (a ValueError says why not).
FORMATS: dict[str, Callable[[object], bool]] = {"date-time": _is_datetime, "uri": _is_uri}


def conforms(name: str, value: object) -> bool:
    try:
        return bool(FORMATS[name](value))
    except ValueError:
        return False


@cache
def format_checker() -> FormatChecker:
    """FORMATS as jsonschema's format checker."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    for name in FORMATS:
        checker.checks(name, raises=ValueError)(lambda value, name=name: FORMATS[name](value))
    return checker


def fast_validator(schema: Any, *, formats: bool = True) -> jsonschema_rs.Validator | None:
    """``schema`` compiled by jsonschema-rs, offline, asserting flo's formats when
    ``formats``; None when it cannot be (jsonschema alone checks then)."""
    known = {name: _conforms(name) for name in FORMATS} if formats else None
    try:
        return jsonschema_rs.validator_for(
            schema, formats=known, validate_formats=formats, offline=True
        )
    except Exception:
        return None


def _conforms(name: str) -> Callable[[object], bool]:
    return lambda value: conforms(name, value)


def passes(validator: jsonschema_rs.Validator | None, value: Any) -> bool:
    """Whether the fast validator accepts ``value`` (False for what it cannot read)."""
    try:
        return validator is not None and validator.is_valid(value)
    except Exception:  # not JSON (a YAML date...): jsonschema decides
        return False


class SchemaCheck:
    """One JSON Schema (Draft 2020-12), each validator compiled when first needed:
    jsonschema-rs says whether a value passes; what it refuses, jsonschema checks again,
    and its errors and verdict stand. ``formats``: assert flo's FORMATS."""

    def __init__(self, schema: Any, *, formats: bool = False) -> None:
        self.schema = schema
        self.formats = formats

    @cached_property
    def fast(self) -> jsonschema_rs.Validator | None:
        return fast_validator(self.schema, formats=self.formats)

    @cached_property
    def full(self) -> Draft202012Validator:
        from jsonschema import Draft202012Validator

        return Draft202012Validator(
            self.schema, format_checker=format_checker() if self.formats else None
        )

    def errors(self, value: Any) -> Iterator[ValidationError]:
        """jsonschema's errors for ``value``; none, without asking it, when the fast
        validator passes it."""
        if passes(self.fast, value):
            return iter(())
        return self.full.iter_errors(value)


@cache
def meta_schema() -> SchemaCheck:
    """The meta-schema every manifest must pass."""
    return SchemaCheck(json.loads((_PACKAGE / "manifest.schema.json").read_text("utf-8")))


class Manifest:
    """A card's declared options, inputs and outputs, with validators built once."""

    def __init__(self, data: Mapping[str, Any], source: str = "<manifest>") -> None:
        errors = sorted(meta_schema().errors(data), key=lambda e: list(e.path))
        if errors:
            raise ManifestError(
                [Problem(e.message, f"{source}: {_dotted(e.absolute_path)}") for e in errors]
            )
        self.data = dict(data)
        self.name: str = data["name"]
        self.result_id: str | None = data.get("resultId")
        self.is_trigger: bool = data.get("kind") == "trigger"
        if self.result_id is not None and self.result_id not in self.properties("outputs"):
            raise ManifestError(
                [
                    Problem(
                        f"resultId {self.result_id!r} is not one of the outputs",
                        f"{source}: resultId",
                        hint="name the output that identifies a result, e.g. sid",
                    )
                ]
            )
        self.checks = {s: SchemaCheck(data[s], formats=True) for s in SECTIONS}
        self._write_only = {
            s: frozenset(name for name, prop in self.properties(s).items() if prop.get("writeOnly"))
            for s in SECTIONS
        }
        self._partial: dict[tuple[str, frozenset[str]], jsonschema_rs.Validator | None] = {}
        self._checked: set[tuple[str, frozenset[str], Hashable]] = set()

    @classmethod
    def from_file(cls, path: Path) -> Manifest:
        """The manifest in the JSON file at ``path``."""
        return cls(json.loads(path.read_text(encoding="utf-8")), source=path.name)

    def properties(self, section: str) -> dict[str, Any]:
        return dict(self.data[section].get("properties", {}))

    def required(self, section: str) -> list[str]:
        return list(self.data[section].get("required", []))

    def write_only(self, section: str) -> frozenset[str]:
        """The ``writeOnly`` fields of a section: secrets the card sends, never kept."""
        return self._write_only[section]

    def masked(self, section: str, values: Any) -> Any:
        """``values`` with every ``writeOnly`` field (a secret the card sends, such as a
        verification code) replaced by ``***``: what may be stored or shown of them."""
        if not isinstance(values, Mapping):
            return values
        secret = self._write_only[section]
        return {k: MASK if k in secret and v is not None else v for k, v in values.items()}

    def problems(
        self, section: str, values: Any, fixed: Collection[str] = frozenset()
    ) -> list[Problem]:
        """Everything wrong with ``values`` for one section, in a person's words.

        ``fixed`` names the properties whose values are the same in every call (literal in
        the flow): once they pass, later calls with the same values check only the rest."""
        if self._passes(section, values, frozenset(fixed)):
            return []
        errors = self.checks[section].full.iter_errors(values)
        return [
            explain_schema_error(section, e) for e in sorted(errors, key=lambda e: list(e.path))
        ]

    def check(self, section: str, values: Any, fixed: Collection[str] = frozenset()) -> None:
        problems = self.problems(section, values, fixed)
        if problems:
            raise InvalidInputError(problems)

    def _passes(self, section: str, values: Any, fixed: frozenset[str]) -> bool:
        known = self._fixed_values(section, values, fixed)
        if known is not None and known in self._checked:
            return passes(self._partial_validator(section, fixed), values)
        if not passes(self.checks[section].fast, values):
            return False
        if known is not None:
            if len(self._checked) >= CHECKED_KEPT:
                self._checked.clear()
            self._checked.add(known)
        return True

    def _fixed_values(
        self, section: str, values: Any, fixed: frozenset[str]
    ) -> tuple[str, frozenset[str], Hashable] | None:
        """What identifies the fixed values of ``values`` (each with its type: 1 is not
        True), when they are plain JSON."""
        if not fixed or not isinstance(values, dict):
            return None
        known = tuple((k, type(values[k]), values[k]) for k in sorted(fixed) if k in values)
        with contextlib.suppress(TypeError):
            hash(known)
            return section, fixed, known
        with contextlib.suppress(TypeError, ValueError):  # a list or an object among them
            text = json.dumps({k: values[k] for k in fixed if k in values}, sort_keys=True)
            return section, fixed, text
        return None

    def _partial_validator(
        self, section: str, fixed: frozenset[str]
    ) -> jsonschema_rs.Validator | None:
        """The section's schema with the ``fixed`` properties' own schemas taken as passed."""
        if (section, fixed) not in self._partial:
            schema = self.data[section]
            properties = schema.get("properties") if isinstance(schema, dict) else None
            if isinstance(properties, dict):
                skipped = {k: True for k in fixed if k in properties}
                schema = {**schema, "properties": {**properties, **skipped}}
            self._partial[(section, fixed)] = fast_validator(schema)
        return self._partial[(section, fixed)]


def _dotted(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top)"


def explain_schema_error(section: str, error: ValidationError) -> Problem:
    """Turn a jsonschema error into a message naming the field, without echoing data."""
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    path = tuple(error.absolute_path)
    field = ".".join([section, *(str(p) for p in path)])
    hint = schema.get("x-flo-hint", "")
    keyword, expected, value = error.validator, error.validator_value, error.instance
    if keyword == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "a field"
        prop = schema.get("properties", {}).get(missing, {})
        return Problem(
            f"{field}.{missing} is required",
            hint=prop.get("description", ""),
            path=(*path, missing),
        )
    if keyword == "type":
        message = f"{field} must be of type {_names(expected)}, not {_json_type(value)}"
        if isinstance(value, int | float) and "string" in _names(expected):
            hint = hint or 'quote it in the flow file, e.g. to: "+12065551212"'
            if "\\+" in schema.get("pattern", ""):
                hint = f"quote phone numbers: YAML reads +{value} as a number. {hint}"
        return Problem(message, hint=hint, path=path)
    if keyword == "enum":
        expected = ", ".join(map(str, expected))
    template = _MESSAGES.get(str(keyword), "{field}: {detail}")
    message = template.format(field=field, expected=expected, detail=error.message)
    if keyword == "additionalProperties" and isinstance(value, Mapping):
        known = schema.get("properties", {})
        extra = sorted(str(k) for k in value if k not in known)
        message = f"{field}: unknown field{'s' if len(extra) > 1 else ''} {', '.join(extra)}"
        hint = hint or f"known fields: {', '.join(sorted(known))}"
        path = (*path, extra[0]) if extra else path
    return Problem(message, hint=hint or schema.get("description", ""), path=path)


_MESSAGES = {
    "pattern": "{field} is not in the expected form",
    "format": "{field} is not a valid {expected}",
    "minLength": "{field} must have at least {expected} characters",
    "maxLength": "{field} must have at most {expected} characters",
    "minItems": "{field} must have at least {expected} items",
    "maxItems": "{field} must have at most {expected} items",
    "minimum": "{field} must be at least {expected}",
    "maximum": "{field} must be at most {expected}",
    "enum": "{field} must be one of {expected}",
    "const": "{field} must be {expected!r}",
}


def _names(expected: Any) -> str:
    return " or ".join(expected) if isinstance(expected, list) else str(expected)


def _json_type(value: Any) -> str:
    for name, kinds in (
        ("boolean", bool),
        ("integer", int),
        ("number", float),
        ("string", str),
        ("array", list),
        ("object", dict),
    ):
        if isinstance(value, kinds):
            return name
    return "null" if value is None else type(value).__name__
