"""A run's life outside its steps: recorded when it starts, bound to what it started with;
reopened by a resume only when nothing it is bound to has changed and no live process runs
it; closed with a status that says what is left to do. The account is the host's choice:
it is given, never looked up here."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flo_twilio.accounts import Account
from flo_twilio.errors import InvalidInputError, Problem
from flo_twilio.plugins import Registry
from flo_twilio.runner import binding, refs
from flo_twilio.runner.engine import Tally
from flo_twilio.runner.flow import Flow, load_flow
from flo_twilio.runner.inputs import FileOptions, parse_assignments, resolve_inputs
from flo_twilio.runner.journal import Journal
from flo_twilio.runner.yamlmarks import load


def absolute_inputs(pairs: list[str]) -> list[str]:
    """``name=@file`` with the file's absolute path, so a resume finds it from anywhere."""
    result = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if sep and value.startswith("@"):
            value = "@" + str(Path(value[1:]).resolve())
        result.append(f"{name}{sep}{value}")
    return result


def secret_arguments(flow: Flow, arguments: list[str]) -> list[str]:
    """The ``NAME=VALUE`` arguments that give the flow's secret inputs (kept nowhere)."""
    return [a for a in arguments if a.partition("=")[0] in flow.secret_inputs]


def refuse_inline_secret_items(flow: Flow, arguments: list[str]) -> None:
    """A list whose items carry secrets (a for_each filling a writeOnly input from ``item``)
    given inline would be kept whole in the run's record: it must come from a file."""
    inline = sorted(
        name
        for name, _, value in (a.partition("=") for a in arguments)
        if name in flow.secret_item_sources and not value.startswith("@")
    )
    if inline:
        raise InvalidInputError(
            [
                Problem(
                    f"input {name} fills a secret input (such as a verification code) item by "
                    "item, so flo cannot keep it in the run's record as given inline",
                    str(flow.path),
                    f"give it as a file: --input {name}=@rows.csv (or .json)",
                )
                for name in inline
            ]
        )


def start(
    journal: Journal,
    flow: Flow,
    account: Account,
    account_id: str,
    input_arguments: list[str],
    files: FileOptions,
    origin: Mapping[str, Any],
    event: dict[str, Any] | None = None,
    key: str | None = None,
    location: dict[str, str] | None = None,
) -> str:
    """Record a new run of ``flow`` (just loaded) bound to the flow's text, the content of its
    input files (read as ``files`` says), the account's id and ``location`` (where its
    records live); its id. ``origin`` is what
    the host keeps to find the account again on resume (how it chose it); a flow with a
    trigger keeps the ``event`` it runs for; a ``key`` is the run's alone (``KeyTaken``).
    Secret inputs are kept nowhere: the run records their names only."""
    text = binding.flow_file_text(flow.path)
    if text is None or load(text, str(flow.path)).data != flow.document.data:
        raise InvalidInputError(
            [Problem("the flow file changed while the run was starting", str(flow.path))]
        )
    refuse_inline_secret_items(flow, input_arguments)
    secret = secret_arguments(flow, input_arguments)
    inputs = absolute_inputs([a for a in input_arguments if a not in secret])
    arguments = {**origin, "inputs": inputs, "files": files.arguments()}
    if secret:  # their names alone: a resume asks for them again
        arguments["secret_inputs"] = sorted({a.partition("=")[0] for a in secret})
    if event is not None:
        arguments["event"] = event
    bound = binding.bind(text, inputs, account_id, location or {})
    return journal.start_run(
        flow.name, str(flow.path.resolve()), account.nickname, arguments, bound, key
    )


@dataclass
class Reopened:
    """A run ready to resume: the flow, inputs and account it is bound to."""

    record: dict[str, Any]
    flow: Flow
    inputs: dict[str, Any]
    account: Account
    event: dict[str, Any] | None = None


def reopen(
    journal: Journal,
    run_id: str,
    registry: Registry,
    account: Account,
    account_id: str,
    location: dict[str, str] | None = None,
    secret_arguments: list[str] | None = None,
) -> Reopened:
    """``run_id`` ready to resume on ``account`` (the host found it from the run's record),
    once nothing it is bound to has changed; refused, saying what changed and what to do,
    before anything is sent. ``secret_arguments`` give its secret inputs again (NAME=VALUE;
    they were kept nowhere). The caller checks the inputs, then takes the run over."""
    record = journal.run(run_id)
    if record is None:
        raise InvalidInputError(f"no run {run_id!r}; see flo runs list")
    flow_path = Path(record["flow_path"])
    bound = record["bound"]
    flow = load_bound_flow(flow_path, bound, registry)
    if bound:
        problems = binding.changes(
            bound,
            str(flow_path),
            flow.document.data,
            account.nickname,
            account_id,
            location or {},
        )
        if problems:
            raise InvalidInputError(
                [
                    Problem(f"run {run_id} cannot be resumed without risking sending twice"),
                    *problems,
                ]
            )
    arguments = record["arguments"]
    files = FileOptions(**arguments.get("files", {}))
    given = parse_assignments(arguments.get("inputs", []), Path("/"), files)
    secrets = parse_assignments(secret_arguments or [], Path.cwd(), files)
    check_secrets(run_id, flow, arguments.get("secret_inputs", []), secrets)
    inputs = resolve_inputs(flow.inputs, {**given, **secrets})
    return Reopened(record, flow, inputs, account, arguments.get("event"))


def check_secrets(run_id: str, flow: Flow, needed: list[str], given: Mapping[str, Any]) -> None:
    """Refuse a resume without every secret input the run was started with (kept nowhere),
    or with an input that is not a secret (the others are bound to the run)."""
    problems = [
        Problem(
            f"run {run_id} needs its secret input {name!r} again: flo keeps secrets nowhere",
            hint=f"flo resume {run_id} --input {name}=...",
        )
        for name in needed
        if name not in given
    ]
    problems += [
        Problem(
            f"input {name!r} is not a secret input of the run: only those are given again",
            f"--input {name}",
            hint="the run keeps its other inputs; leave it out",
        )
        for name in given
        if name not in flow.secret_inputs
    ]
    if problems:
        raise InvalidInputError(problems)


def load_bound_flow(path: Path, bound: dict[str, Any] | None, registry: Registry) -> Flow:
    """The flow at ``path``; when the file is gone, the copy the run keeps of it."""
    if path.exists() or not bound:
        return load_flow(path, registry)
    return load_kept_flow(path, bound, registry)


def load_ran_flow(path: Path, bound: dict[str, Any] | None, registry: Registry) -> Flow:
    """The flow a run ran, to render its outputs: the file at ``path`` while it loads and
    differs from the run's copy only where a resume allows (its outputs may change), else
    the copy (a file edited since, or broken, does not decide what the run gave)."""
    if not bound:
        return load_flow(path, registry)
    try:
        flow = load_flow(path, registry)
    except (InvalidInputError, OSError):
        return load_kept_flow(path, bound, registry)
    if binding.flow_changes(bound, str(path), flow.document.data):
        return load_kept_flow(path, bound, registry)
    return flow


def load_kept_flow(path: Path, bound: dict[str, Any], registry: Registry) -> Flow:
    """The copy of the flow a run keeps, loaded as the file ``path`` would be."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / path.name
        copy.write_text(bound["flow"], encoding="utf-8")
        return load_flow(copy, registry)


def run_status(tally: Tally, stopped: bool) -> str:
    """done; incomplete (items whose outcome is unknown: a resume finishes them); failed."""
    if tally.ok and not stopped:
        return "done"
    if tally.unknown and not tally.failed:
        return "incomplete"
    return "failed"


def outputs_of(journal: Journal, run_id: str, registry: Registry) -> Any:
    """The flow's outputs of a run that went through all its steps, rendered again from the
    journal (a for_each step's outputs streamed from it, as the run itself renders them);
    ``InvalidInputError`` says why they cannot be shown."""
    record = journal.run(run_id)
    if record is None:
        raise InvalidInputError(f"no run {run_id!r}; see flo runs list")
    if record["status"] in ("running", "interrupted"):
        raise InvalidInputError(f"the run is {record['status']}: it has no outputs yet")
    flow = load_ran_flow(Path(record["flow_path"]), record["bound"], registry)
    if not flow.outputs:
        return None
    counts = journal.step_counts(run_id)
    arguments = record["arguments"]
    scope: dict[str, Any] = {"steps": {}, "account": {}}
    if "event" in arguments:
        scope["trigger"] = arguments["event"]
    try:
        files = FileOptions(**arguments.get("files", {}))
        given = parse_assignments(arguments.get("inputs", []), Path("/"), files)
        scope["inputs"] = resolve_inputs(flow.inputs, given)
    except InvalidInputError:
        scope["inputs"] = {}  # e.g. a file gone since: only an output that reads it fails
    for step in flow.steps:
        if step.id not in counts:
            raise InvalidInputError(f"step {step.id} has not run: the run has no outputs yet")
        if step.for_each is None:
            item = journal.item(run_id, step.id, 0)
            state = item.state if item is not None else "not run"
            if state not in ("done", "skipped"):
                raise InvalidInputError(f"step {step.id} ended {state}: the run has no outputs")
            scope["steps"][step.id] = {
                "outputs": item.outputs if item and state == "done" else None
            }
        else:
            length = sum(counts[step.id].values())
            scope["steps"][step.id] = {"outputs": journal.outputs(run_id, step.id, length)}
    try:
        return refs.render(flow.outputs, scope)
    except refs.RefError as exc:
        raise InvalidInputError(f"the outputs cannot be rendered: {exc}") from None
