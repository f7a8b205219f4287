"""Read YAML keeping where each value stands (line and column), refusing duplicate keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from flo_twilio.errors import InvalidInputError, Problem

Path = tuple[str | int, ...]


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


def load(text: str, filename: str) -> Document:
    """Parse one YAML document; syntax errors and duplicate keys name file:line:col."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        marks: dict[Path, Mark] = {}
        key_marks: dict[Path, Mark] = {}
        data = _build(loader, node, (), marks, key_marks, filename) if node is not None else None
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
    finally:
        loader.dispose()
    return Document(data, marks, filename, key_marks)


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _build(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: Path,
    marks: dict[Path, Mark],
    key_marks: dict[Path, Mark],
    filename: str,
) -> Any:
    marks[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in result:
                first = key_marks[(*path, key)]
                raise InvalidInputError(
                    [
                        Problem(
                            f"duplicate key {key!r} (first at line {first.line})",
                            _mark(key_node).at(filename),
                            hint="remove one of them",
                        )
                    ]
                )
            key_marks[(*path, key)] = _mark(key_node)
            result[key] = _build(loader, value_node, (*path, key), marks, key_marks, filename)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, child, (*path, i), marks, key_marks, filename)
            for i, child in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)
