"""A flow file: load it, check everything that can be checked before anything runs."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flo_twilio.card import Card
from flo_twilio.errors import InvalidInputError, Problem
from flo_twilio.plugins import Registry
from flo_twilio.runner import refs
from flo_twilio.runner.conditions import Condition, parse_condition
from flo_twilio.runner.inputs import takes_list, value_problems
from flo_twilio.runner.yamlmarks import Document, load_bytes

TOP_KEYS = ("flo", "name", "description", "account", "trigger", "inputs", "steps", "outputs")
STEP_KEYS = (
    "id",
    "card",
    "if",
    "options",
    "inputs",
    "for_each",
    "concurrency",
    "on_error",
    "ignore_opt_outs",
)
# The one reason a step may message people who opted out: a transactional message the law
# allows (a fraud alert, a one-time code), never marketing.
IGNORE_OPT_OUTS = "transactional"
STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass
class Step:
    id: str
    card: type[Card]
    options: Any
    inputs: Any
    for_each: Any = None
    concurrency: int = 10
    on_error: str = "stop"
    index: int = 0
    condition: Condition | None = None  # if: the step (each item) runs only when it holds
    ignore_opt_outs: bool = False  # ignore_opt_outs: transactional


@dataclass
class TriggerSpec:
    """What starts the flow: a trigger card and its options."""

    card: type[Card]
    options: dict[str, Any]


@dataclass
class Flow:
    name: str
    path: Path
    document: Document
    description: str = ""
    account: str | None = None
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    outputs: Any = None
    trigger: TriggerSpec | None = None
    # Inputs that are secrets (they fill a card's writeOnly input, or say writeOnly: true):
    # kept nowhere, so a resume asks for them again.
    secret_inputs: frozenset[str] = frozenset()
    # Inputs a for_each goes over whose items fill a card's writeOnly input (item.code):
    # given inline, their value would be kept with its secrets, so they must come from a file.
    secret_item_sources: frozenset[str] = frozenset()


def load_flow(path: Path, registry: Registry) -> Flow:
    """Read and check a flow; every problem found is raised at once, each with file:line:col."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(
            [Problem(f"cannot read the flow: {exc.strerror}", str(path))]
        ) from None
    document = load_bytes(raw, str(path))
    checker = _Checker(document, registry)
    flow = checker.flow(path)
    if checker.problems:
        raise InvalidInputError(checker.problems)
    return flow


class _Checker:
    def __init__(self, document: Document, registry: Registry) -> None:
        self.doc = document
        self.registry = registry
        self.problems: list[Problem] = []

    def problem(
        self, path: tuple[str | int, ...], message: str, hint: str = "", at_key: bool = False
    ) -> None:
        where = self.doc.where_key(path) if at_key else self.doc.where(path)
        self.problems.append(Problem(message, where, hint))

    def keys(
        self, value: dict[str, Any], allowed: tuple[str, ...], path: tuple[str | int, ...]
    ) -> None:
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean {close[0]}?" if close else f"allowed: {', '.join(allowed)}"
                self.problem((*path, key), f"unknown key {key!r}", hint, at_key=True)

    def flow(self, path: Path) -> Flow:
        data = self.doc.data
        flow = Flow(name=path.stem, path=path, document=self.doc)
        if not isinstance(data, dict):
            self.problem(
                (), "a flow is a mapping with flo, name and steps", "see sample_flows/send_sms.yaml"
            )
            return flow
        self.keys(data, TOP_KEYS, ())
        if data.get("flo") != 1:
            self.problem(("flo",), "the first line must be flo: 1 (the flow format version)")
        flow.name = str(data.get("name") or path.stem)
        flow.description = str(data.get("description") or "")
        flow.account = data.get("account")
        flow.inputs = self.flow_inputs(data.get("inputs") or {})
        if "trigger" in data:
            flow.trigger = self.trigger(data["trigger"])
        steps = data.get("steps")
        if not isinstance(steps, list) or not steps:
            self.problem(("steps",), "steps must be a list with at least one step")
            steps = []
        seen: dict[str, Step] = {}
        for index, raw in enumerate(steps):
            step = self.step(raw, index, seen)
            if step:
                seen[step.id] = step
                flow.steps.append(step)
        flow.outputs = self.compiled(data.get("outputs") or {}, ("outputs",), seen, None)
        flow.secret_inputs = self.secret_inputs(flow)
        flow.secret_item_sources = secret_item_sources(flow)
        return flow

    def secret_inputs(self, flow: Flow) -> frozenset[str]:
        """The flow's secret inputs; a problem for each use of one that would keep it (in
        an option, an input that is not writeOnly, a for_each or the outputs)."""
        secret = {name for name, schema in flow.inputs.items() if schema.get("writeOnly")}
        kept: list[tuple[tuple[str | int, ...], Any]] = []
        for step in flow.steps:
            where: tuple[str | int, ...] = ("steps", step.index)
            write_only = step.card.manifest.write_only("inputs") if step.card is not Card else ()
            for name, tree in (step.inputs or {}).items():
                if name in write_only:
                    secret |= {str(ref.path[0]) for ref in _input_refs(tree)}
                else:
                    kept.append(((*where, "inputs", name), tree))
            kept += [((*where, "options"), step.options), ((*where, "for_each"), step.for_each)]
        for path, tree in [*kept, (("outputs",), flow.outputs)]:
            for inner, template in refs.templates(tree):
                for ref in template.refs:
                    if ref.root == "inputs" and ref.path and ref.path[0] in secret:
                        self.problem(
                            (*path, *inner),
                            f"${{{{ {ref.text} }}}} is a secret input: it may fill only a "
                            "card's writeOnly input (such as a verification code), never "
                            "what is kept or shown",
                            "a secret is kept nowhere: not in the journal, the outputs or "
                            "the run's record",
                        )
        return frozenset(secret)

    def trigger(self, raw: Any) -> TriggerSpec | None:
        """``trigger: {card, options}``: a trigger card, with literal options."""
        if not isinstance(raw, dict):
            self.problem(("trigger",), "trigger must be a mapping with card and options")
            return None
        self.keys(raw, ("card", "options"), ("trigger",))
        card = self.registry.cards.get(str(raw.get("card")))
        triggers = sorted(n for n, c in self.registry.cards.items() if c.manifest.is_trigger)
        if card is None or not card.manifest.is_trigger:
            what = "not a trigger" if card else "unknown"
            self.problem(
                ("trigger", "card"),
                f"trigger card {raw.get('card')!r} is {what}",
                f"triggers: {', '.join(triggers)}",
            )
            return None
        options = raw.get("options") or {}
        if not isinstance(options, dict):
            self.problem(("trigger", "options"), "options must be a mapping of field: value")
            return None
        if any(refs.templates(refs.compile_tree(options, []))):
            self.problem(("trigger", "options"), "a trigger's options are plain values, no ${{ }}")
            return None
        for problem in card.manifest.problems("options", options):
            where = self.doc.where(("trigger", "options", *problem.path))
            self.problems.append(Problem(problem.message, where, problem.hint))
        return TriggerSpec(card, options)

    def flow_inputs(self, raw: Any) -> dict[str, dict[str, Any]]:
        if not isinstance(raw, dict):
            self.problem(("inputs",), "inputs must map each input name to a JSON Schema")
            return {}
        for name, schema in raw.items():
            if not isinstance(schema, dict):
                self.problem(
                    ("inputs", name),
                    f"input {name!r} must be a JSON Schema mapping",
                    "e.g. {type: string}",
                )
                continue
            wrong = schema_problem(schema)
            if wrong:
                self.problem(("inputs", name), f"input {name!r} has an invalid schema: {wrong}")
                continue
            if "default" in schema:
                for problem in value_problems(schema, schema["default"], f"the default of {name}"):
                    self.problem(
                        ("inputs", name, "default", *problem.path), problem.message, problem.hint
                    )
        return {k: v for k, v in raw.items() if isinstance(v, dict)}

    def step(self, raw: Any, index: int, seen: dict[str, Step]) -> Step | None:
        path: tuple[str | int, ...] = ("steps", index)
        if not isinstance(raw, dict):
            self.problem(path, "a step is a mapping with id and card")
            return None
        self.keys(raw, STEP_KEYS, path)
        step_id = raw.get("id")
        if not isinstance(step_id, str) or not STEP_ID.match(step_id):
            self.problem((*path, "id"), "each step needs an id of letters, digits, _ or -")
            step_id = f"step{index + 1}"
        elif step_id in seen:
            self.problem(
                (*path, "id"), f"step id {step_id!r} is used twice", "give each step its own id"
            )
        card = self.registry.cards.get(str(raw.get("card")))
        if card is None:
            close = difflib.get_close_matches(str(raw.get("card")), list(self.registry.cards), n=1)
            hint = (
                f"did you mean {close[0]}?"
                if close
                else f"known cards: {', '.join(sorted(self.registry.cards))}"
            )
            self.problem((*path, "card"), f"unknown card {raw.get('card')!r}", hint)
        elif card.manifest.is_trigger:
            self.problem(
                (*path, "card"),
                f"{card.name} is a trigger: it starts a flow, it is not a step",
                f"write it at the top: trigger: {{card: {card.name}, options: {{...}}}}",
            )
            card = None
        step = Step(id=step_id, card=card or Card, options={}, inputs={}, index=index)
        if "for_each" in raw:
            step.for_each = self.compiled(raw["for_each"], (*path, "for_each"), seen, None)
            self.for_each_is_a_list(step.for_each, (*path, "for_each"))
        if "if" in raw:
            step.condition = self.condition(raw["if"], (*path, "if"), seen, step)
        concurrency = raw.get("concurrency", 10)
        if (
            not isinstance(concurrency, int)
            or isinstance(concurrency, bool)
            or not 1 <= concurrency <= 1000
        ):
            self.problem(
                (*path, "concurrency"), "concurrency must be a whole number from 1 to 1000"
            )
        else:
            step.concurrency = concurrency
        on_error = raw.get("on_error", "stop")
        if on_error not in ("stop", "continue"):
            self.problem((*path, "on_error"), "on_error must be stop or continue")
        step.on_error = on_error
        if "ignore_opt_outs" in raw:
            if raw["ignore_opt_outs"] != IGNORE_OPT_OUTS:
                self.problem(
                    (*path, "ignore_opt_outs"),
                    f"ignore_opt_outs takes one value: {IGNORE_OPT_OUTS}, for a transactional "
                    "message the law lets you send to people who opted out; leave it out "
                    "otherwise",
                )
            step.ignore_opt_outs = True
        for section in ("options", "inputs"):
            value = raw.get(section) or {}
            if not isinstance(value, dict):
                self.problem((*path, section), f"{section} must be a mapping of field: value")
                continue
            compiled = self.compiled(value, (*path, section), seen, step)
            setattr(step, section, compiled)
            if card is not None:
                self.against_manifest(card, section, compiled, (*path, section))
        return step

    def compiled(
        self, value: Any, path: tuple[str | int, ...], seen: dict[str, Step], step: Step | None
    ) -> Any:
        """``value`` with its templates parsed, every reference checked."""
        errors: list[tuple[tuple[str | int, ...], str]] = []
        tree = refs.compile_tree(value, errors)
        for where, error in errors:
            self.problem((*path, *where), error)
        for where, template in refs.templates(tree):
            for ref in template.refs:
                found = self.reference(ref, seen, step, path)
                if found:
                    self.problem((*path, *where), *found)
        return tree

    def condition(
        self, raw: Any, path: tuple[str | int, ...], seen: dict[str, Step], step: Step
    ) -> Condition | None:
        """``if:``: its syntax, and every reference in it, as any other reference."""
        try:
            condition = parse_condition(raw)
        except refs.RefError as exc:
            self.problem(path, str(exc), "e.g. if: ${{ item.valid and item.lineType == 'mobile' }}")
            return None
        for ref in condition.refs:
            found = self.reference(ref, seen, step, path)
            if found:
                self.problem(path, *found)
        return condition

    def reference(
        self, ref: refs.Ref, seen: dict[str, Step], step: Step | None, path: tuple[str | int, ...]
    ) -> tuple[str, str] | None:
        text = f"${{{{ {ref.text} }}}}"
        if ref.root == "inputs":
            name = ref.path[0] if ref.path else None
            if name not in self.doc_inputs():
                known = ", ".join(self.doc_inputs()) or "none"
                return (
                    f"{text}: the flow has no input {name!r}",
                    f"declare it under inputs: (declared: {known})",
                )
        elif ref.root == "item":
            in_for_each = step is not None and step.for_each is not None and "for_each" not in path
            if not in_for_each:
                return (
                    f"{text}: item exists only in the if, options and inputs of a step with for_each",
                    "",
                )
        elif ref.root == "account":
            fields = self.account_fields()
            if ref.path[:1] not in [(f,) for f in fields] or len(ref.path) != 1:
                return f"{text}: account has {', '.join(fields)}", ""
        elif ref.root == "steps":
            return self.step_reference(ref, seen, text)
        elif ref.root == "trigger":
            return self.trigger_reference(ref, text)
        return None

    def trigger_reference(self, ref: refs.Ref, text: str) -> tuple[str, str] | None:
        """``trigger.<output>``: the flow has a trigger, and it has that output."""
        raw = self.doc.data.get("trigger") if isinstance(self.doc.data, dict) else None
        card = self.registry.cards.get(str(raw.get("card"))) if isinstance(raw, dict) else None
        if card is None:
            return (
                f"{text}: the flow has no trigger",
                "start it with trigger: {card: twilio.incoming_message, ...}"
                if raw is None
                else "",
            )
        names = card.manifest.properties("outputs")
        if not ref.path or ref.path[0] not in names:
            close = difflib.get_close_matches(
                str(ref.path[0] if ref.path else ""), list(names), n=1
            )
            hint = f"did you mean {close[0]}?" if close else f"outputs: {', '.join(names)}"
            return f"{text}: {card.name} has no output {ref.path[0] if ref.path else ''!r}", hint
        return None

    def account_fields(self) -> list[str]:
        """What ``${{ account.* }}`` may name: what the connection types say flows read."""
        named = {name for kind in self.registry.connections.values() for name in kind.account_facts}
        return [*sorted(named), "nickname"]

    def step_reference(
        self, ref: refs.Ref, seen: dict[str, Step], text: str
    ) -> tuple[str, str] | None:
        target_id = ref.path[0] if ref.path else None
        source = seen.get(str(target_id))
        if source is None:
            later = [s for s in self.raw_step_ids() if s == target_id]
            if later:
                return (
                    f"{text}: step {target_id!r} runs later",
                    "a step can use only the outputs of steps above it",
                )
            return (
                f"{text}: there is no step {target_id!r}",
                f"steps so far: {', '.join(seen) or 'none'}",
            )
        if len(ref.path) < 2 or ref.path[1] != "outputs":
            return f"{text}: write steps.{target_id}.outputs.<name>", ""
        rest = list(ref.path[2:])
        if source.for_each is not None and rest:
            if not isinstance(rest[0], int):
                return (
                    f"{text}: step {target_id!r} runs for_each, so its outputs are a list",
                    f"use steps.{target_id}.outputs[0].<name>",
                )
            rest = rest[1:]
        if rest and source.card is not Card:
            names = source.card.manifest.properties("outputs")
            if rest[0] not in names:
                close = difflib.get_close_matches(str(rest[0]), list(names), n=1)
                hint = (
                    f"did you mean {close[0]}?"
                    if close
                    else f"outputs of {source.card.name}: {', '.join(names)}"
                )
                return f"{text}: {source.card.name} has no output {rest[0]!r}", hint
        return None

    def for_each_is_a_list(self, for_each: Any, path: tuple[str | int, ...]) -> None:
        """A literal for_each must be a list, and so must an input it names whole."""
        if isinstance(for_each, list):
            return
        whole = for_each.whole if isinstance(for_each, refs.Template) else None
        if whole is None or whole.root == "account":
            kind = "a mapping" if isinstance(for_each, dict) else "text"
            if not isinstance(for_each, dict | str | refs.Template):
                kind = (
                    "nothing" if for_each is None else f"the {type(for_each).__name__} {for_each}"
                )
            self.problem(
                path,
                f"for_each must be a list (or one ${{{{ }}}} reference to a list), not {kind}",
                "e.g. for_each: ${{ inputs.recipients }}",
            )
            return
        if whole.root != "inputs" or len(whole.path) != 1:
            return
        declared = self.doc_inputs().get(str(whole.path[0]))
        if isinstance(declared, dict) and not takes_list(declared):
            self.problem(
                path,
                f"for_each: input {whole.path[0]!r} is of type {declared['type']}, not a list",
                "declare it with type: array, or iterate over another input",
            )

    def doc_inputs(self) -> dict[str, Any]:
        raw = self.doc.data.get("inputs") if isinstance(self.doc.data, dict) else None
        return raw if isinstance(raw, dict) else {}

    def raw_step_ids(self) -> list[Any]:
        steps = self.doc.data.get("steps") if isinstance(self.doc.data, dict) else None
        return [s.get("id") for s in steps or [] if isinstance(s, dict)]

    def against_manifest(
        self, card: type[Card], section: str, compiled: dict[str, Any], path: tuple[str | int, ...]
    ) -> None:
        """Literal values are checked now; referenced ones when they are known, at run time."""
        literal = {k: v for k, v in compiled.items() if not any(refs.templates(v))}
        referenced = set(compiled) - set(literal)
        for problem in card.manifest.problems(section, literal):
            if problem.path and problem.path[0] in referenced:
                continue
            if not problem.path and referenced:
                continue
            self.problems.append(
                Problem(problem.message, self.doc.where((*path, *problem.path)), problem.hint)
            )


def secret_item_sources(flow: Flow) -> frozenset[str]:
    """The inputs for_each goes over in steps whose items fill a writeOnly input."""
    sources: set[str] = set()
    for step in flow.steps:
        write_only = step.card.manifest.write_only("inputs") if step.card is not Card else ()
        trees = [tree for name, tree in (step.inputs or {}).items() if name in write_only]
        if any(
            ref.root == "item" for tree in trees for _, t in refs.templates(tree) for ref in t.refs
        ):
            sources |= {str(ref.path[0]) for ref in _input_refs(step.for_each)}
    return frozenset(sources)


def _input_refs(tree: Any) -> list[refs.Ref]:
    """The ``${{ inputs.NAME... }}`` references in a compiled tree."""
    return [
        ref
        for _, template in refs.templates(tree)
        for ref in template.refs
        if ref.root == "inputs" and ref.path
    ]


def schema_problem(schema: dict[str, Any]) -> str | None:
    """What makes ``schema`` an invalid JSON Schema (jsonschema's words), or None.
    jsonschema is imported here: a flow without inputs does not pay for it."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return exc.message
    return None
