"""Read YAML keeping where each value stands (line and column), refusing what can hurt.

A flow is plain data: mappings with text keys, lists, text, numbers, booleans and null.
Anything else is refused with ``file:line:col`` before it is built: bytes that are not
UTF-8, control characters, anchors and aliases (their expansion is how a 600-byte file
fills the memory), nesting deeper than ``MAX_DEPTH``, duplicate keys, and values of other
types. Dates are read as the text written, as YAML 1.2 and JSON read them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from flo_twilio.errors import InvalidInputError, Problem

Path = tuple[str | int, ...]

MAX_DEPTH = 64  # lists and mappings inside each other
MAX_BYTES = 1_000_000  # a flow is a page of YAML, not a data file
MAX_PROBLEMS = 20
# What YAML itself allows in a stream (YAML 1.1, 5.1): everything else is a control character.
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_PLAIN = (str, int, float, bool, type(None))
_SURROGATE = re.compile("[\ud800-\udfff]")
_TEXT_TAGS = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")


class FlowLoader(yaml.SafeLoader):
    """The safe loader without YAML 1.1's implicit dates and ``=``: those stay text."""

    yaml_implicit_resolvers = {  # noqa: RUF012 (pyyaml's own class attribute)
        first: [(tag, rx) for tag, rx in resolvers if tag not in _TEXT_TAGS]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based

    def at(self, filename: str) -> str:
        return f"{filename}:{self.line}:{self.column}"


@dataclass
class Document:
    """Plain Python data plus the mark of every value, by its path from the top."""

    data: Any
    marks: dict[Path, Mark]
    filename: str
    key_marks: dict[Path, Mark]

    def where_key(self, path: Path) -> str:
        """``file:line:col`` of the key that ends ``path`` (for unknown or duplicate keys)."""
        mark = self.key_marks.get(path)
        return mark.at(self.filename) if mark else self.where(path)

    def where(self, path: Path) -> str:
        """``file:line:col`` of the value at ``path``, or of its nearest parent."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(path[:end])
            if mark:
                return mark.at(self.filename)
        return f"{self.filename}:1:1"


def load_bytes(raw: bytes, filename: str) -> Document:
    """``load`` for the bytes of a file: UTF-8 (a BOM is allowed), at most ``MAX_BYTES``."""
    if len(raw) > MAX_BYTES:
        raise InvalidInputError(
            [
                Problem(
                    f"the flow is {len(raw):,} bytes; a flow is at most {MAX_BYTES:,}",
                    f"{filename}:1:1",
                    "keep data in input files (--input name=@rows.csv), not in the flow",
                )
            ]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        column = len(raw[line_start : exc.start].decode("utf-8", "replace")) + 1
        where = Mark(raw.count(b"\n", 0, exc.start) + 1, column).at(filename)
        raise InvalidInputError(
            [
                Problem(
                    f"byte 0x{raw[exc.start]:02X} is not UTF-8",
                    where,
                    "save the flow as UTF-8 (every editor can: 'Save with encoding')",
                )
            ]
        ) from None
    return load(text, filename)


def load(text: str, filename: str) -> Document:
    """Parse one YAML document; every refusal names file:line:col."""
    _refuse_control_characters(text, filename)
    try:
        _scan(text, filename)
        loader = FlowLoader(text)
        try:
            node = loader.get_single_node()
            marks: dict[Path, Mark] = {}
            key_marks: dict[Path, Mark] = {}
            data = _Builder(loader, marks, key_marks, filename).build(node) if node else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(mark.line + 1, mark.column + 1).at(filename) if mark else filename
        raise InvalidInputError(
            [
                Problem(
                    f"YAML syntax error: {exc.problem or exc.context}",
                    where,
                    hint="check the indentation and quoting around this spot",
                )
            ]
        ) from None
    return Document(data, marks, filename, key_marks)


def _refuse_control_characters(text: str, filename: str) -> None:
    problems = []
    for found in _NOT_PRINTABLE.finditer(text):
        line = text.count("\n", 0, found.start()) + 1
        column = found.start() - text.rfind("\n", 0, found.start())
        problems.append(
            Problem(
                f"control character U+{ord(found.group()):04X} is not allowed in a flow",
                Mark(line, column).at(filename),
                "remove it; it often comes from pasting out of a word processor or a binary file",
            )
        )
        if len(problems) > MAX_PROBLEMS:
            problems[-1] = Problem("more control characters follow; the first are listed above")
            break
    if problems:
        raise InvalidInputError(problems)


def _scan(text: str, filename: str) -> None:
    """Walk the parser's events (no recursion) to refuse aliases and deep nesting before
    anything is built."""
    loader = FlowLoader(text)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            where = Mark(event.start_mark.line + 1, event.start_mark.column + 1).at(filename)
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise InvalidInputError(
                    [
                        Problem(
                            "anchors and aliases (&name, *name) are not allowed in a flow",
                            where,
                            "write the value out where it is used",
                        )
                    ]
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise InvalidInputError(
                        [
                            Problem(
                                f"lists and mappings are nested more than {MAX_DEPTH} deep",
                                where,
                                "a flow never needs that much nesting; flatten it",
                            )
                        ]
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def not_unicode(text: str) -> bool:
    """True when ``text`` holds a lone surrogate: it cannot be written as UTF-8 or sent."""
    return not text.isascii() and bool(_SURROGATE.search(text))


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


@dataclass
class _Builder:
    loader: FlowLoader
    marks: dict[Path, Mark]
    key_marks: dict[Path, Mark]
    filename: str

    def refuse(self, node: yaml.Node, message: str, hint: str) -> InvalidInputError:
        return InvalidInputError([Problem(message, _mark(node).at(self.filename), hint)])

    def build(self, node: yaml.Node, path: Path = ()) -> Any:
        self.marks[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self.refuse(key_node, "a key must be plain text", "write key: value")
                key = key_node.value
                if not_unicode(key):
                    raise self.refuse(key_node, "this key is not Unicode (a lone surrogate)", "")
                if key in result:
                    first = self.key_marks[(*path, key)]
                    raise self.refuse(
                        key_node,
                        f"duplicate key {key!r} (first at line {first.line})",
                        "remove one of them",
                    )
                self.key_marks[(*path, key)] = _mark(key_node)
                result[key] = self.build(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:  # e.g. an integer of 5,000 digits
            reason = str(exc).split(";")[0]
            raise self.refuse(node, f"cannot read this value: {reason}", "quote it") from None
        if isinstance(value, str) and not_unicode(value):
            raise self.refuse(
                node, "this text is not Unicode (a lone surrogate)", "write the character itself"
            )
        if not isinstance(value, _PLAIN):
            raise self.refuse(
                node,
                f"a {type(value).__name__} value ({node.tag}) is not allowed in a flow",
                "write it as text in quotes",
            )
        return value
