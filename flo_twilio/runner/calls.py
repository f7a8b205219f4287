"""One item's call made ready without sending: whether its ``if:`` holds, its options and
inputs rendered for the item, and its problems (``flo_twilio.card.call_problems``: the
manifest, then the card's ``check``). The pre-pass, the engine and the dry run all render
and check a call through here, so each sees the call the others see."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flo_twilio.card import Fixed
from flo_twilio.runner import refs
from flo_twilio.runner.flow import Step


class Unrendered(refs.RefError):
    """A reference of one call that cannot be rendered; ``section`` says where it is:
    "if", "options" or "inputs"."""

    def __init__(self, section: str, error: refs.RefError) -> None:
        super().__init__(str(error))
        self.section = section


def holds(step: Step, scope: dict[str, Any], *, dry_run: bool = False) -> bool:
    """Whether the step's ``if:`` holds for the item in ``scope``; in a dry run, one that
    depends on earlier steps (whose outputs are placeholders then) is taken to hold."""
    if step.condition is None or (dry_run and depends_on_steps(step)):
        return True
    try:
        return step.condition.holds(scope)
    except refs.RefError as exc:
        raise Unrendered("if", exc) from None


def render_call(step: Step, scope: dict[str, Any]) -> tuple[Any, Any]:
    """The step's options and inputs for the item in ``scope``, as the card gets them."""
    rendered = []
    for section in ("options", "inputs"):
        try:
            rendered.append(plain(refs.render(getattr(step, section), scope)))
        except refs.RefError as exc:
            raise Unrendered(section, exc) from None
    return rendered[0], rendered[1]


def fixed_keys(step: Step) -> Fixed:
    """The step's options and inputs that are literal in the flow: the same for every item."""
    return refs.constant_keys(step.options), refs.constant_keys(step.inputs)


def placeholder_keys(step: Step) -> Fixed:
    """The step's options and inputs that read earlier steps' outputs: in a dry run their
    values are placeholders, which no schema can judge."""
    return _reading_steps(step, step.options), _reading_steps(step, step.inputs)


def _reading_steps(step: Step, section: Any) -> frozenset[str]:
    if not isinstance(section, dict):
        return frozenset()
    return frozenset(
        key
        for key, value in section.items()
        if reads_steps(step, (ref for _, t in refs.templates(value) for ref in t.refs))
    )


def reads_steps(step: Step, found: Iterable[refs.Ref]) -> bool:
    """True when the references ``found`` in ``step`` read earlier steps' outputs, directly
    or through its for_each items."""
    roots = {ref.root for ref in found}
    if "item" in roots and step.for_each is not None:
        roots |= {ref.root for _, t in refs.templates(step.for_each) for ref in t.refs}
    return "steps" in roots


def depends_on_steps(step: Step) -> bool:
    """True when the step's ``if:`` reads earlier steps' outputs."""
    assert step.condition is not None
    return reads_steps(step, step.condition.refs)


def plain(value: Any) -> Any:
    """``value`` with a step's journal-backed outputs made into a list (what cards get)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list) or (
        isinstance(value, Sequence) and not isinstance(value, str | bytes)
    ):
        return [plain(v) for v in value]
    return value
