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
from flo_twilio.runner import binding
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
    trigger keeps the ``event`` it runs for; a ``key`` is the run's alone (``KeyTaken``)."""
    text = binding.flow_file_text(flow.path)
    if text is None or load(text, str(flow.path)).data != flow.document.data:
        raise InvalidInputError(
            [Problem("the flow file changed while the run was starting", str(flow.path))]
        )
    inputs = absolute_inputs(input_arguments)
    arguments = {**origin, "inputs": inputs, "files": files.arguments()}
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
) -> Reopened:
    """``run_id`` ready to resume on ``account`` (the host found it from the run's record),
    once nothing it is bound to has changed; refused, saying what changed and what to do,
    before anything is sent. The caller checks the inputs, then takes the run over."""
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
    inputs = resolve_inputs(flow.inputs, given)
    return Reopened(record, flow, inputs, account, arguments.get("event"))


def load_bound_flow(path: Path, bound: dict[str, Any] | None, registry: Registry) -> Flow:
    """The flow at ``path``; when the file is gone, the copy the run keeps of it."""
    if path.exists() or not bound:
        return load_flow(path, registry)
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / path.name
        copy.write_text(bound["flow"], encoding="utf-8")
        return load_flow(copy, registry)


def status_of(tally: Tally, stopped: bool) -> str:
    """done; incomplete (items whose outcome is unknown: a resume finishes them); failed."""
    if tally.ok and not stopped:
        return "done"
    if tally.unknown and not tally.failed:
        return "incomplete"
    return "failed"
