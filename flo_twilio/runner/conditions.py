"""A step's ``if:``: one small expression in ``${{ }}``, parsed from the flow file only.

It has references (as everywhere in a flow), literals ('text' with '' for a quote,
numbers, true, false, null), lists of them (``['sent', 'delivered']``), ``==``, ``!=``,
``<``, ``<=``, ``>``, ``>=`` (numbers), ``in`` and ``not in`` (a list), ``contains`` (text
or a list), ``starts with``, ``ends with`` and ``matches`` (text; a regular expression
written in the flow, run by RE2 in time linear in the text), ``not``, ``and``, ``or`` and
parentheses; nothing else, and nothing is ever evaluated as code. A referenced value is
data: it is compared, never parsed again. What each operator takes is checked when the
item is decided: anything else fails the item, named by its type (never its value, which
may be a phone number). docs/conditions.md is the user's guide.

A condition is small: at most ``MAX_LENGTH`` characters, ``MAX_OPERATORS`` operators,
lists and parentheses, ``MAX_NESTING`` parentheses and ``not`` inside one another, and
numbers of at most ``MAX_DIGITS`` digits; past that it is refused as written, before
anything recurses. Why our own and not CEL: ARCHITECTURE.md, "Conditions".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from flo_twilio.runner.refs import Ref, RefError, lookup, parse_ref

_WHOLE = re.compile(r"\s*\$\{\{(.*)\}\}\s*", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<text>'(?:[^']|'')*')
    | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
    | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\]|\[['"][^'"\]]+['"]\])*)
    )""",
    re.VERBOSE,
)
MAX_LENGTH = 2000  # characters
MAX_OPERATORS = 100  # operators (a two-word one counts once), [ and ( in all
MAX_NESTING = 20  # ( and not inside one another
MAX_DIGITS = 20
_LITERALS = {"true": True, "false": False, "null": None}
_WORDS = ("and", "or", "not", "in", "contains", "starts", "ends", "with", "matches")
_SYMBOLS = ("==", "!=", "<", "<=", ">", ">=")
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_OPERATORS = "==, !=, <, >, in, contains, starts with, ends with, matches"


@dataclass(frozen=True)
class Node:
    """A part of the expression: a literal (``value``), a reference (``ref``), a list
    (``op`` "[") or an operator (``op``) with its ``operands``; ``text`` is how the flow
    wrote it. A ``matches`` keeps its compiled ``pattern``."""

    text: str
    value: Any = None
    ref: Ref | None = None
    op: str = ""
    operands: tuple[Node, ...] = ()
    pattern: Any = None


@dataclass(frozen=True)
class Condition:
    text: str
    tree: Node

    @property
    def refs(self) -> list[Ref]:
        return list(_refs(self.tree))

    def holds(self, scope: Mapping[str, Any]) -> bool:
        """True or False in ``scope``; RefError when a reference cannot be resolved or
        something that must be true or false is not."""
        return _truth(self.tree, scope)


def parse_condition(value: Any) -> Condition:
    """A step's ``if:`` value (true, false, or ``${{ expression }}``) as a Condition."""
    if isinstance(value, bool):
        return Condition(str(value).lower(), Node(str(value).lower(), value))
    whole = _WHOLE.fullmatch(value) if isinstance(value, str) else None
    if whole is None or "${{" in whole.group(1) or "}}" in whole.group(1):
        raise RefError("if: takes one ${{ expression }} (or true or false), e.g. ${{ item.valid }}")
    text = whole.group(1).strip()
    if len(text) > MAX_LENGTH:
        raise RefError(
            f"if: ${{{{ {_shown(text)} }}}}: {len(text)} characters, more than the "
            f"{MAX_LENGTH} a condition may have: compute the decision in an earlier step "
            "or in the input rows and test that"
        )
    parser = _Parser(text)
    tree = parser.expression()
    if parser.position < len(parser.tokens):
        parser.fail(f"expected and, or or an operator ({_OPERATORS}) here")
    return Condition(text, tree)


class _Parser:
    """Recursive descent: or < and < not < == != < a value or ( ... )."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, where in text)
        position = 0
        while text[position:].strip():
            match = _TOKEN.match(text, position)
            if match is None or match.lastgroup is None:
                rest = text[position:].lstrip()
                quotes = ": text takes single quotes, 'like this'" if rest[0] == '"' else ""
                raise RefError(f"if: ${{{{ {text} }}}}: cannot read {rest!r}{quotes}")
            self.tokens.append((match.lastgroup, match.group(match.lastgroup), match.start()))
            position = match.end()
        self.position = 0
        self.nesting = 0
        operators = sum(
            (kind == "op" and text in (*_SYMBOLS, "(", "["))
            or (kind == "name" and text in _WORDS and text != "with")
            for kind, text, _ in self.tokens
        )
        if operators > MAX_OPERATORS:
            raise RefError(
                f"if: ${{{{ {_shown(text)} }}}}: {operators} operators and parentheses, more than "
                f"the {MAX_OPERATORS} a condition may have: split the decision over earlier steps"
            )

    def fail(self, message: str) -> NoReturn:
        if self.position < len(self.tokens):
            at = f"at {_shown(self.text[self.tokens[self.position][2] :].strip())!r}"
        else:
            at = "at the end"
        raise RefError(f"if: ${{{{ {_shown(self.text)} }}}}: {message}, {at}")

    def nested(self, parse: Callable[[], Node]) -> Node:
        """``parse()`` one level deeper inside ( or not; too deep is refused."""
        if self.nesting == MAX_NESTING:
            self.fail(f"more than {MAX_NESTING} parentheses and nots inside one another")
        self.nesting += 1
        node = parse()
        self.nesting -= 1
        return node

    def peek(self, *texts: str, ahead: int = 0) -> str | None:
        if self.position + ahead < len(self.tokens):
            kind, text, _ = self.tokens[self.position + ahead]
            if kind in ("op", "name") and text in texts:
                return text
        return None

    def expect(self, text: str) -> None:
        if not self.peek(text):
            self.fail(f"expected {text}")
        self.position += 1

    def span(self, start: int) -> str:
        begin = self.tokens[start][2]
        end = self.tokens[self.position][2] if self.position < len(self.tokens) else None
        return self.text[begin:end].strip()

    def expression(self) -> Node:
        return self.chain("or", self.both)

    def both(self) -> Node:
        return self.chain("and", self.negation)

    def chain(self, word: str, operand: Any) -> Node:
        start = self.position
        node: Node = operand()
        while self.peek(word):
            self.position += 1
            right = operand()
            node = Node(self.span(start), op=word, operands=(node, right))
        return node

    def negation(self) -> Node:
        start = self.position
        if self.peek("not"):
            self.position += 1
            operand = self.nested(self.negation)
            return Node(self.span(start), op="not", operands=(operand,))
        return self.comparison()

    def comparison(self) -> Node:
        start = self.position
        left = self.operand()
        op = self.operator()
        if op is None:
            return left
        right = self.operand()
        if op in ("in", "not in") and right.ref is None and right.op != "[":
            self.fail(f"{op} takes a list, e.g. item.status in ['sent', 'delivered']")
        if op != "matches":
            return Node(self.span(start), op=op, operands=(left, right))
        if right.ref is not None or not isinstance(right.value, str) or right.op:
            self.fail("matches takes a pattern in single quotes, e.g. item.body matches '^STOP'")
        return Node(self.span(start), op=op, operands=(left, right), pattern=_regex(self, right))

    def operator(self) -> str | None:
        """The comparison's operator (one or two words, or a symbol), or None."""
        if op := self.peek(*_SYMBOLS, "in", "contains", "matches"):
            self.position += 1
            return op
        for first, second in (("not", "in"), ("starts", "with"), ("ends", "with")):
            if self.peek(first) and self.peek(second, ahead=1):
                self.position += 2
                return f"{first} {second}"
        if self.peek("starts", "ends"):
            self.position += 1
            self.fail("expected with")
        return None

    def listed(self) -> Node:
        """``[a, b, ...]``: literals and references, no lists inside."""
        start = self.position
        self.position += 1
        items: list[Node] = []
        while not self.peek("]"):
            if items:
                self.expect(",")
            if self.peek("[", "("):
                self.fail("a list holds values and references, not lists or expressions")
            items.append(self.operand())
        self.position += 1
        return Node(self.span(start), op="[", operands=tuple(items))

    def operand(self) -> Node:
        if self.position >= len(self.tokens):
            self.fail("expected a value")
        kind, text, _ = self.tokens[self.position]
        if self.peek("("):
            self.position += 1
            inner = self.nested(self.expression)
            self.expect(")")
            return inner
        if self.peek("["):
            return self.listed()
        if kind == "op" or text in _WORDS:
            self.fail("expected a value")
        self.position += 1
        if kind == "text":
            return Node(text, text[1:-1].replace("''", "'"))
        if kind == "number":
            if len(text.lstrip("-").replace(".", "")) > MAX_DIGITS:
                self.position -= 1
                self.fail(f"a number here has at most {MAX_DIGITS} digits")
            return Node(text, float(text) if "." in text else int(text))
        if text in _LITERALS:
            return Node(text, _LITERALS[text])
        return Node(text, ref=parse_ref(text))


def _regex(parser: _Parser, node: Node) -> Any:
    """``node``'s pattern compiled by RE2 (linear time in the text, whatever the pattern);
    a pattern RE2 cannot read is refused where it is written."""
    import re2  # only a flow with matches pays its import

    options = re2.Options()
    options.log_errors = False  # the refusal below says it, once, without RE2's log lines
    options.never_capture = True  # found or not is all a condition asks
    try:
        return re2.compile(node.value, options)
    except re2.error as exc:
        why = exc.args[0] if exc.args else ""
        why = why.decode(errors="replace") if isinstance(why, bytes) else str(why)
        parser.position -= 1
        parser.fail(f"matches: {node.text} is not a regular expression RE2 reads ({why})")


def _shown(text: str) -> str:
    """``text`` as a message quotes it: a long one cut short."""
    return text if len(text) <= 80 else text[:60] + f"... ({len(text)} characters)"


def _refs(node: Node) -> Iterator[Ref]:
    if node.ref is not None:
        yield node.ref
    for operand in node.operands:
        yield from _refs(operand)


def _value(node: Node, scope: Mapping[str, Any]) -> Any:
    if node.ref is not None:
        return lookup(node.ref, scope)
    if node.op == "[":
        return [_value(operand, scope) for operand in node.operands]
    if node.op == "not":
        return not _truth(node.operands[0], scope)
    if node.op == "and":
        return _truth(node.operands[0], scope) and _truth(node.operands[1], scope)
    if node.op == "or":
        return _truth(node.operands[0], scope) or _truth(node.operands[1], scope)
    if node.op:
        return _compare(node, *(_value(operand, scope) for operand in node.operands))
    return node.value


def _equal(left: Any, right: Any) -> bool:
    """``==``: true is not 1, a boolean equals only a boolean."""
    return isinstance(left, bool) == isinstance(right, bool) and bool(left == right)


def _compare(node: Node, left: Any, right: Any) -> bool:
    """``node``'s comparison of the values of its two operands."""
    op = node.op
    if op in ("==", "!="):
        return _equal(left, right) == (op == "==")
    if op in _ORDER:
        _takes(node, "numbers", _is_number, left, right)
        return _ORDER[op](left, right)
    if op in ("in", "not in"):
        _takes(node, "a list on its right", lambda v: True, left, right, lists=(1,))
        return any(_equal(left, each) for each in right) == (op == "in")
    if op == "contains" and isinstance(left, list):
        return any(_equal(each, right) for each in left)
    _takes(node, "text", lambda v: isinstance(v, str), left, right)
    if op == "contains":
        return right in left
    if op == "starts with":
        return bool(left.startswith(right))
    if op == "ends with":
        return bool(left.endswith(right))
    return node.pattern.search(left) is not None  # matches


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _takes(
    node: Node,
    what: str,
    fits: Callable[[Any], bool],
    left: Any,
    right: Any,
    lists: tuple[int, ...] = (),
) -> None:
    """Refuse (RefError) operands that do not fit ``node``'s operator, named by their text
    and type; those at ``lists`` (0 left, 1 right) must be lists instead."""
    for index, (operand, value) in enumerate(zip(node.operands, (left, right), strict=True)):
        ok = isinstance(value, list) if index in lists else fits(value)
        if not ok:
            raise RefError(
                f"if: {node.text}: {node.op} takes {what}; {operand.text} is {_kind(value)}"
            )


def _truth(node: Node, scope: Mapping[str, Any]) -> bool:
    value = _value(node, scope)
    if not isinstance(value, bool):
        raise RefError(f"if: {node.text} is {_kind(value)}, not true or false")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "a mapping"
    return "a list"
