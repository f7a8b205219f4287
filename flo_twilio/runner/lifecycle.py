"""A run's life outside its steps: recorded when it starts, bound to what it started with;
reopened by a resume only when nothing it is bound to has changed and no live process runs
it; closed with a status that says what is left to do."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flo_twilio.accounts import Account, resolve_account
from flo_twilio.errors import AccountError, InvalidInputError, Problem
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
    input_arguments: list[str],
    account_argument: str | None,
    files: FileOptions,
    event: dict[str, Any] | None = None,
) -> str:
    """Record a new run of ``flow`` (just loaded) bound to the flow's text, the content of its
    input files (read as ``files`` says) and the account's SID; its id. A flow with a
    trigger keeps the ``event`` it runs for."""
    text = binding.flow_file_text(flow.path)
    if text is None or load(text, str(flow.path)).data != flow.document.data:
        raise InvalidInputError(
            [Problem("the flow file changed while the run was starting", str(flow.path))]
        )
    inputs = absolute_inputs(input_arguments)
    arguments = {
        "inputs": inputs,
        "account": account_argument,
        "files": files.arguments(),
        "embedded": account.secret_store == "embedded",
    }
    if event is not None:
        arguments["event"] = event
    bound = binding.bind(text, inputs, account.values.get("account_sid", ""))
    return journal.start_run(
        flow.name, str(flow.path.resolve()), account.nickname, arguments, bound
    )


@dataclass
class Reopened:
    """A run ready to resume: the flow, inputs and account it is bound to."""

    record: dict[str, Any]
    flow: Flow
    inputs: dict[str, Any]
    account: Account
    event: dict[str, Any] | None = None


Check = Callable[[Flow, dict[str, Any], Account], object]


def reopen(
    journal: Journal,
    run_id: str,
    registry: Registry,
    check: Check = lambda flow, inputs, account: None,
) -> Reopened:
    """Take ``run_id`` over for this process, once nothing it is bound to has changed and
    ``check`` (the inputs' pre-pass) passes; refuse, saying what changed and what to do,
    before anything is sent."""
    record = journal.run(run_id)
    if record is None:
        raise InvalidInputError(f"no run {run_id!r}; see flo runs list")
    account = run_account(record)
    flow_path = Path(record["flow_path"])
    bound = record["bound"]
    flow = load_bound_flow(flow_path, bound, registry)
    if bound:
        problems = binding.changes(
            bound,
            str(flow_path),
            flow.document.data,
            account.nickname,
            account.values.get("account_sid", ""),
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
    check(flow, inputs, account)
    journal.take_over(run_id)
    return Reopened(record, flow, inputs, account, arguments.get("event"))


def run_account(record: dict[str, Any]) -> Account:
    """The account the run started on, by its nickname (or the built-in sandbox)."""
    from flo_twilio.sandbox.embedded import NICKNAME, embedded_account

    if record["arguments"].get("embedded", record["account"] == NICKNAME):
        return embedded_account()
    account = resolve_account(record["account"])
    if account is None:
        raise AccountError(
            f"run {record['id']} ran on account {record['account']!r}, which is gone"
        )
    return account


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
