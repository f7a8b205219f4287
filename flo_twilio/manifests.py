"""Card manifests: load them, check them against the meta-schema, validate values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from flo_twilio.errors import InvalidInputError, ManifestError, Problem
from flo_twilio.redaction import MASK

SECTIONS = ("options", "inputs", "outputs")
_PACKAGE = Path(__file__).parent

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("a date-time needs a time zone offset, like Z or +02:00")
    return True


@FORMATS.checks("uri")
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


@cache
def meta_validator() -> Draft202012Validator:
    schema = json.loads((_PACKAGE / "manifest.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


class Manifest:
    """A card's declared options, inputs and outputs, with validators built once."""

    def __init__(self, data: Mapping[str, Any], source: str = "<manifest>") -> None:
        errors = sorted(meta_validator().iter_errors(data), key=lambda e: list(e.path))
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
        self._validators = {
            s: Draft202012Validator(data[s], format_checker=FORMATS) for s in SECTIONS
        }

    @classmethod
    def from_file(cls, path: Path) -> Manifest:
        """The manifest in the JSON file at ``path``."""
        return cls(json.loads(path.read_text(encoding="utf-8")), source=path.name)

    def properties(self, section: str) -> dict[str, Any]:
        return dict(self.data[section].get("properties", {}))

    def required(self, section: str) -> list[str]:
        return list(self.data[section].get("required", []))

    def masked(self, section: str, values: Any) -> Any:
        """``values`` with every ``writeOnly`` field (a secret the card sends, such as a
        verification code) replaced by ``***``: what may be stored or shown of them."""
        if not isinstance(values, Mapping):
            return values
        secret = {name for name, prop in self.properties(section).items() if prop.get("writeOnly")}
        return {k: MASK if k in secret and v is not None else v for k, v in values.items()}

    def problems(self, section: str, values: Any) -> list[Problem]:
        """Everything wrong with ``values`` for one section, in a person's words."""
        errors = self._validators[section].iter_errors(values)
        return [_explain(section, e) for e in sorted(errors, key=lambda e: list(e.path))]

    def check(self, section: str, values: Any) -> None:
        problems = self.problems(section, values)
        if problems:
            raise InvalidInputError(problems)


def _dotted(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top)"


def _explain(section: str, error: ValidationError) -> Problem:
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
