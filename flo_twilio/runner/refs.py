"""``${{ ... }}`` references: parsed from strings written in the flow file only.

A whole-value reference keeps its type; inside a longer string it interpolates. Values
that come from inputs or card outputs are data: they are never parsed again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

ROOTS = ("inputs", "steps", "item", "account", "trigger")
_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}")
_SEGMENT = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[['"]([^'"\]]+)['"]\]""")
_ROOT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class RefError(ValueError):
    """A reference that cannot be parsed or resolved."""


@dataclass(frozen=True)
class Ref:
    root: str
    path: tuple[str | int, ...]
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Template:
    """A string from the flow file with one or more references in it."""

    parts: tuple[str | Ref, ...]

    @property
    def whole(self) -> Ref | None:
        return self.parts[0] if len(self.parts) == 1 and isinstance(self.parts[0], Ref) else None

    @property
    def refs(self) -> list[Ref]:
        return [p for p in self.parts if isinstance(p, Ref)]


def parse_ref(expression: str) -> Ref:
    text = expression.strip()
    root = _ROOT.match(text)
    if not root or root.group() not in ROOTS:
        raise RefError(f"${{{{ {text} }}}} must start with one of {', '.join(ROOTS)}")
    path: list[str | int] = []
    position = root.end()
    while position < len(text):
        segment = _SEGMENT.match(text, position)
        if not segment:
            raise RefError(
                f"cannot read ${{{{ {text} }}}} from {text[position:]!r}: use .name or [index]"
            )
        name, index, quoted = segment.groups()
        path.append(int(index) if index is not None else (name or quoted))
        position = segment.end()
    return Ref(root.group(), tuple(path), text)


def parse(value: str) -> str | Template:
    """``value`` unchanged when it has no reference, else a Template; a RefError names
    every reference in ``value`` that cannot be read."""
    if "${{" not in value:
        return value
    parts: list[str | Ref] = []
    errors: list[str] = []
    position = 0
    for match in _TEMPLATE.finditer(value):
        if match.start() > position:
            parts.append(value[position : match.start()])
        try:
            parts.append(parse_ref(match.group(1)))
        except RefError as exc:
            errors.append(str(exc))
        position = match.end()
    rest = value[position:]
    if "${{" in rest:
        errors.append("a ${{ is not closed with }}")
    if errors:
        raise RefError("; ".join(errors))
    if rest:
        parts.append(rest)
    return Template(tuple(parts))


def compile_tree(
    value: Any,
    errors: list[tuple[tuple[str | int, ...], str]] | None = None,
    path: tuple[str | int, ...] = (),
) -> Any:
    """Every string in ``value`` (dicts and lists walked) parsed into a Template if needed.

    With ``errors``, a string that cannot be parsed is kept as it is and (its path, why)
    appended, so that every bad reference is found; without, the first raises RefError.
    """
    if isinstance(value, str):
        if errors is None:
            return parse(value)
        try:
            return parse(value)
        except RefError as exc:
            errors.append((path, str(exc)))
            return value
    if isinstance(value, dict):
        return {k: compile_tree(v, errors, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [compile_tree(v, errors, (*path, i)) for i, v in enumerate(value)]
    return value


def templates(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Template]]:
    """Every Template in a compiled tree, with its path."""
    if isinstance(value, Template):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from templates(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from templates(v, (*path, i))


def constant_keys(value: Any) -> frozenset[str]:
    """The keys of a compiled mapping whose values hold no reference: the same every call."""
    if not isinstance(value, dict):
        return frozenset()
    return frozenset(k for k, v in value.items() if next(templates(v), None) is None)


def lookup(ref: Ref, scope: Mapping[str, Any]) -> Any:
    if ref.root not in scope:
        raise RefError(f"${{{{ {ref.text} }}}} is not available here")
    value = scope[ref.root]
    walked = ref.root
    for key in ref.path:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            raise RefError(f"${{{{ {ref.text} }}}}: {walked} has no {key!r}") from None
        walked += f"[{key}]" if isinstance(key, int) else f".{key}"
    return value


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Resolve a compiled tree: whole references keep their type, others interpolate."""
    if isinstance(value, Template):
        whole = value.whole
        if whole is not None:
            return lookup(whole, scope)
        return "".join(p if isinstance(p, str) else _text(lookup(p, scope)) for p in value.parts)
    if isinstance(value, dict):
        return {k: render(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
