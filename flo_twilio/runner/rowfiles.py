"""Input files read row by row, strictly, each row with the line it starts on.

CSV as spreadsheets write it (UTF-8 with or without BOM, CRLF, ``,`` ``;`` or tab, Excel's
``sep=`` line), JSON arrays and JSON Lines. One row is in memory at a time, so a file is
read twice (the pre-pass, then the run) in constant memory. A row that cannot be read is
reported and skipped; a problem after which nothing can be read raises.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from flo_twilio.errors import InvalidInputError, Problem
from flo_twilio.runner.wording import counted
from flo_twilio.runner.yamlmarks import MAX_DEPTH, not_unicode

MAX_CELL = csv.field_size_limit()  # characters in one CSV cell (128 KiB)
MAX_ROW = 1 << 20  # characters in one JSON row
MAX_JSON_FILE = 16 << 20  # characters in a JSON file read whole (not a list)
CHUNK = 1 << 16
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t", "|": "|"}
TOO_DEEP = f"lists and objects are nested more than {MAX_DEPTH} deep"
NOT_UNICODE = "text that is not Unicode (a lone surrogate, as a byte of another encoding gives)"
NOT_UTF8_HINT = (
    "the file is not UTF-8. If a spreadsheet saved it, pass --encoding cp1252 (Excel on "
    "Windows) or --encoding mac-roman (Excel on a Mac), or save it again as 'CSV UTF-8'"
)

Report = Callable[[Problem], None]


@dataclass(frozen=True)
class Where:
    """A place in an input file; for CSV ``column`` is the field's number (1 = first)."""

    file: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def refused(where: Where | str, message: str, hint: str = "") -> InvalidInputError:
    return InvalidInputError([Problem(message, str(where), hint)])


def unusable(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """Why ``value`` cannot be sent, or None: lists and objects nested more than ``limit``
    deep, or text that is not Unicode (a lone surrogate, as a JSON "\\ud800" escape or a
    byte of another encoding on the command line gives). Walked without recursion."""
    level: list[tuple[Any, int]] = [(value, 1)]
    while level:
        item, depth = level.pop()
        if isinstance(item, str):
            if not_unicode(item):
                return NOT_UNICODE
            continue
        children = [*item, *item.values()] if isinstance(item, dict) else item
        if not isinstance(children, list):
            continue
        if depth > limit:
            return TOO_DEEP
        level.extend((child, depth + 1) for child in children)
    return None


class RowFile:
    """The rows of one file, read again (and checked again) each time it is iterated.

    ``label`` is the path as the user wrote it, for messages. Iterating refuses a file
    that changed since it was named, so the rows sent are the rows checked.
    """

    kind: ClassVar[str]

    def __init__(
        self, path: Path, label: str, encoding: str = "utf-8-sig", delimiter: str | None = None
    ) -> None:
        self.path, self.label = path, label
        self.encoding, self.delimiter = encoding, delimiter
        self.header: list[str] = []
        self.header_line = 1
        self.stamp = self._stamp()

    def _stamp(self) -> tuple[int, int]:
        info = os.stat(self.path)
        return info.st_size, info.st_mtime_ns

    def __repr__(self) -> str:
        return f"@{self.label}"

    def __iter__(self) -> Iterator[Any]:
        def stop(problem: Problem) -> None:
            raise InvalidInputError([problem])

        for _, row in self.located(stop):
            yield row

    def __getitem__(self, index: int) -> Any:
        """Row ``index`` (read up to it), so ``${{ inputs.rows[0].name }}`` works."""
        if not isinstance(index, int):
            raise TypeError("rows are numbered")
        for number, row in enumerate(self):
            if number == index:
                return row
        raise IndexError(index)

    def located(self, report: Report) -> Iterator[tuple[Where, Any]]:
        """Every row with where it starts; unreadable rows go to ``report``."""
        if self._stamp() != self.stamp:
            raise refused(
                f"{self.label}:1:1",
                "the file changed after it was checked",
                "run the command again",
            )
        try:
            yield from self.rows(report)
        except UnicodeError:
            raise self.not_decodable() from None

    def rows(self, report: Report) -> Iterator[tuple[Where, Any]]:
        raise NotImplementedError

    def column(self, name: str) -> int | None:
        """The number of the CSV column ``name`` (1 = first), when known."""
        return self.header.index(name) + 1 if name in self.header else None

    def open_text(self) -> IO[str]:
        return io.TextIOWrapper(open(self.path, "rb"), encoding=self.encoding, newline="")

    def not_decodable(self) -> InvalidInputError:
        """Where the first byte that does not decode is, found by reading line by line."""
        decoder = codecs.getincrementaldecoder(self.encoding)()
        name = "UTF-8" if codecs.lookup(self.encoding).name.startswith("utf-8") else self.encoding
        hint = NOT_UTF8_HINT if name == "UTF-8" else f"the file is not {name}; check --encoding"
        with open(self.path, "rb") as handle:
            if handle.read(2) in (b"\xff\xfe", b"\xfe\xff"):
                hint = "the file is UTF-16: pass --encoding utf-16, or save it again as UTF-8"
            handle.seek(0)
            for number, line in enumerate(handle, 1):
                try:
                    decoder.decode(line)
                except UnicodeDecodeError as exc:
                    byte = exc.object[exc.start]
                    where = Where(
                        self.label, number, max(exc.start - len(exc.object) + len(line), 0) + 1
                    )
                    return refused(where, f"byte 0x{byte:02X} is not {name}", hint)
                except UnicodeError as exc:  # e.g. UTF-16 without its byte order mark
                    return refused(
                        Where(self.label, number), f"the file is not {name}: {exc}", hint
                    )
        return refused(f"{self.label}:1:1", f"the file is not {name}", hint)


class CsvFile(RowFile):
    """CSV rows as ``{column: text}``; an empty cell is left out (an absent value)."""

    kind = "CSV"

    def rows(self, report: Report) -> Iterator[tuple[Where, Any]]:
        with self.open_text() as handle:
            first = handle.readline(MAX_CELL)
            skipped = 0
            delimiter = self.delimiter
            if first[:4].lower() == "sep=" and len(first.rstrip("\r\n")) == 5:
                delimiter, skipped = delimiter or first[4], 1  # Excel's delimiter line
                first = handle.readline(MAX_CELL)
            reader = csv.reader(
                itertools.chain([first], handle), delimiter=delimiter or sniff(first), strict=True
            )
            self.header_line = 1 + skipped
            self.header = self.check_header(
                self.next_row(reader, self.header_line), self.header_line
            )
            while True:
                line = reader.line_num + 1 + skipped
                fields = self.next_row(reader, line)
                if fields is None:
                    return
                if not any(fields):
                    continue  # a blank line, or a row of empty cells
                problem = self.row_problem(fields, line)
                if problem:
                    report(problem)
                    continue
                row = {name: cell for name, cell in zip(self.header, fields, strict=True) if cell}
                yield Where(self.label, line), row

    def next_row(self, reader: Any, line: int) -> list[str] | None:
        try:
            return next(reader, None)
        except csv.Error as exc:
            raise refused(Where(self.label, line), *csv_trouble(str(exc))) from None

    def check_header(self, header: list[str] | None, line: int) -> list[str]:
        if not header or not any(header):
            raise refused(
                Where(self.label, line),
                "the file has no header line",
                "the first line names the columns, e.g. phone,name",
            )
        for number, name in enumerate(header, 1):
            if not name.strip():
                raise refused(
                    Where(self.label, line, number),
                    f"column {number} of the header has no name",
                    "name every column, or delete the empty one",
                )
            if header.index(name) + 1 != number:
                raise refused(
                    Where(self.label, line, number),
                    f"column {name!r} appears twice (columns {header.index(name) + 1} and {number})",
                    "give each column its own name",
                )
        return header

    def row_problem(self, fields: list[str], line: int) -> Problem | None:
        for number, cell in enumerate(fields, 1):
            if "\x00" in cell:
                return Problem(
                    "a NUL character is in this cell",
                    str(Where(self.label, line, number)),
                    "the file may be UTF-16: pass --encoding utf-16, or save it again as CSV UTF-8",
                )
        if len(fields) == len(self.header):
            return None
        columns = ", ".join(self.header)
        cells = counted(len(fields), "cell")
        if len(fields) > len(self.header):
            return Problem(
                f"this row has {cells}, the header {len(self.header)} ({columns})",
                str(Where(self.label, line, len(self.header) + 1)),
                "a cell with the delimiter in it must be in double quotes",
            )
        return Problem(
            f"this row has {cells}, the header {len(self.header)} ({columns})",
            str(Where(self.label, line, len(fields))),
            "add the missing cells (an empty cell is fine: a,,c)",
        )


def sniff(line: str) -> str:
    """The delimiter of a header line: the most frequent of , ; and tab outside quotes."""
    counts = dict.fromkeys(",;\t", 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char in counts and not quoted:
            counts[char] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def csv_trouble(error: str) -> tuple[str, str]:
    """The csv module's complaint in a person's words, with how to fix it."""
    if "unexpected end of data" in error:
        return (
            'a quote (") opens a cell on this line and is never closed',
            'close it; a quote inside a quoted cell is written twice ("")',
        )
    if "field larger than field limit" in error:
        return (
            f"a cell is longer than {MAX_CELL:,} characters",
            "often a quote that is never closed: check the quotes from this line on",
        )
    if "expected after" in error:
        return (
            "a cell in quotes has more text after its closing quote",
            'a quote inside a quoted cell is written twice (""); check the quotes from this line on',
        )
    return error, "check the quotes and delimiters on this line"


class JsonLinesFile(RowFile):
    """One JSON value per line (``.jsonl``); blank lines are skipped."""

    kind = "JSON Lines"

    def rows(self, report: Report) -> Iterator[tuple[Where, Any]]:
        with self.open_text() as handle:
            for number in itertools.count(1):
                line = handle.readline(MAX_ROW + 1)
                if not line:
                    return
                where = Where(self.label, number)
                if len(line) > MAX_ROW:
                    while line and not line.endswith("\n"):
                        line = handle.readline(MAX_ROW)
                    report(Problem(f"the line is longer than {MAX_ROW:,} characters", str(where)))
                    continue
                if line.strip():
                    try:
                        yield where, json_value(line.rstrip("\r\n"), where)
                    except InvalidInputError as exc:
                        report(exc.problems[0])


def json_value(text: str, where: Where) -> Any:
    """``text`` decoded; a syntax error names its line and column counted from ``where``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        line = where.line + exc.lineno - 1
        column = exc.colno + (where.column - 1 if exc.lineno == 1 else 0)
        raise refused(Where(where.file, line, column), f"not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise refused(where, TOO_DEEP) from None
    reason = unusable(value)
    if reason:
        raise refused(where, reason)
    return value


class JsonArrayFile(RowFile):
    """The items of a JSON array (``[ {...}, {...} ]``), parsed one at a time."""

    kind = "JSON"

    def rows(self, report: Report) -> Iterator[tuple[Where, Any]]:
        with self.open_text() as handle:
            text = _JsonText(handle, self.label)
            text.expect("[")
            if text.peek() == "]":
                text.skip(1)
            else:
                while True:
                    text.peek()
                    yield text.where(), text.value()
                    separator = text.peek()
                    if separator not in (",", "]"):
                        raise refused(text.where(), "expected , or ] after this item's end")
                    text.skip(1)
                    if separator == "]":
                        break
            if text.peek() != "":
                raise refused(text.where(), "more text after the list's closing ]")


class _JsonText:
    """A JSON text read in chunks, with the line and column of the read position."""

    def __init__(self, handle: IO[str], label: str) -> None:
        self.handle, self.label = handle, label
        self.text, self.position, self.line, self.column = "", 0, 1, 1
        self.done = False

    def where(self) -> Where:
        return Where(self.label, self.line, self.column)

    def more(self) -> bool:
        if self.done:
            return False
        self.text, self.position = self.text[self.position :], 0
        data = self.handle.read(CHUNK)
        self.text += data
        self.done = not data
        return bool(data)

    def skip(self, count: int) -> None:
        taken = self.text[self.position : self.position + count]
        newlines = taken.count("\n")
        if newlines:
            self.line += newlines
            self.column = len(taken) - taken.rfind("\n")
        else:
            self.column += len(taken)
        self.position += count

    def peek(self) -> str:
        """The next character that is not whitespace ('' at the end)."""
        while True:
            while self.position < len(self.text) and self.text[self.position] in " \t\r\n":
                self.skip(1)
            if self.position < len(self.text) or not self.more():
                return self.text[self.position : self.position + 1]

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise refused(self.where(), f"expected {char!r}, found {found or 'the end'!r}")
        self.skip(1)

    def value(self) -> Any:
        self.peek()
        decoder = json.JSONDecoder()
        while True:  # positions are taken relative to self.position: more() moves the text
            try:
                value, end = decoder.raw_decode(self.text, self.position)
            except json.JSONDecodeError as exc:
                offset = exc.pos - self.position
                if len(self.text) - self.position > MAX_ROW:
                    raise refused(
                        self.where(), f"an item is longer than {MAX_ROW:,} characters"
                    ) from None
                if self.more():
                    continue
                self.skip(offset)
                raise refused(self.where(), f"not valid JSON: {exc.msg}") from None
            except RecursionError:
                raise refused(self.where(), TOO_DEEP) from None
            length = end - self.position
            if end < len(self.text) or not self.more():
                break
        reason = unusable(value)
        if reason:
            raise refused(self.where(), reason)
        self.skip(length)
        return value


def json_file(path: Path, label: str, encoding: str = "utf-8-sig") -> Any:
    """A ``.json`` file: a list is streamed (a JsonArrayFile), any other value read whole."""
    array = JsonArrayFile(path, label, encoding)
    try:
        with array.open_text() as handle:
            text = handle.read(CHUNK)
            if text.lstrip().startswith("["):
                return array
            text += handle.read(MAX_JSON_FILE + 1 - len(text))
    except UnicodeError:
        raise array.not_decodable() from None
    if len(text) > MAX_JSON_FILE:
        raise refused(
            f"{label}:1:1",
            f"a JSON file that is not a list is at most {MAX_JSON_FILE:,} characters",
        )
    return json_value(text, Where(label, 1))
