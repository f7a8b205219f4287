"""``flo validate``, ``flo run``, ``flo runs`` and ``flo resume``."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from flo_twilio.accounts import Account, secure_home
from flo_twilio.errors import AccountError, InvalidInputError, Problem
from flo_twilio.redaction import safe_json
from flo_twilio.runner import lifecycle
from flo_twilio.runner.connections import choose_account, connected
from flo_twilio.runner.engine import (
    DEFAULT_SETTLE,
    Engine,
    Halted,
    OutputsFailed,
    StepFailed,
    settle_window,
)
from flo_twilio.runner.flow import Flow, load_flow
from flo_twilio.runner.inputs import FileOptions, parse_assignments, resolve_inputs
from flo_twilio.runner.journal import Journal
from flo_twilio.runner.precheck import precheck
from flo_twilio.runner.progress import Progress
from flo_twilio.runner.stream_json import write_json
from flo_twilio.runner.triggered import given_event

SETTLE_HELP = (
    "seconds after an intent before an item not found on Twilio is sent again "
    "(default: $FLO_SETTLE_SECONDS or 60; keep it longer than the 30 s request deadline)"
)


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Register the flow and run commands on ``commands``."""
    validate = commands.add_parser(
        "validate",
        help="check a flow (and any inputs given) exactly as flo run does before sending",
    )
    add_run_arguments(validate)
    validate.set_defaults(handler=cmd_validate)

    run = commands.add_parser(
        "run", help="run a flow (on the built-in sandbox when no account is set)"
    )
    add_run_arguments(run)
    run.add_argument(
        "--dry-run", action="store_true", help="print the requests it would send; send nothing"
    )
    run.add_argument(
        "--json", action="store_true", help="print the run id, status and outputs as JSON"
    )
    run.add_argument("--settle", type=float, metavar="SECONDS", help=SETTLE_HELP)
    run.set_defaults(handler=cmd_run)

    runs = commands.add_parser("runs", help="list runs and show one")
    sub = runs.add_subparsers(title="runs commands", metavar="COMMAND", required=True)
    listing = sub.add_parser("list", help="runs, newest first")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_runs_list)
    show = sub.add_parser("show", help="a run's steps, items and failures")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true")
    show.add_argument("--flow", action="store_true", help="print the flow as the run started")
    show.set_defaults(handler=cmd_runs_show)

    resume = commands.add_parser(
        "resume", help="finish an interrupted or failed run without sending twice"
    )
    resume.add_argument("run_id")
    resume.add_argument(
        "--resend-unknown",
        action="store_true",
        help="send again now, without waiting for the settle window, the items that may have "
        "been sent but were not found on Twilio",
    )
    resume.add_argument("--settle", type=float, metavar="SECONDS", help=SETTLE_HELP)
    resume.add_argument("--json", action="store_true")
    resume.set_defaults(handler=cmd_resume)


def add_run_arguments(command: argparse.ArgumentParser) -> None:
    """The flow and how its inputs are given: shared by flo run and flo validate."""
    command.add_argument("flow", type=Path)
    command.add_argument(
        "--account", help="account nickname (default: the flow's, TWILIO_* or the default)"
    )
    command.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a flow input (JSON for non-text inputs); NAME=@rows.csv, NAME=@data.json or "
        "NAME=@rows.jsonl reads a file row by row (repeatable)",
    )
    command.add_argument(
        "--encoding",
        help="text encoding of @files (default: UTF-8, with or without BOM), e.g. cp1252",
    )
    command.add_argument(
        "--event",
        metavar="@EVENT.json",
        help="for a flow with a trigger: the event to run it once for (JSON, or @file)",
    )
    command.add_argument(
        "--delimiter",
        choices=[",", ";", "tab", "|"],
        help="CSV delimiter (default: sniffed from the header line among , ; and tab)",
    )


def journal() -> Journal:
    return Journal(secure_home() / "runs.db")


def checked(
    args: argparse.Namespace, reg: Any, *, partial: bool = False
) -> tuple[Flow, dict[str, Any], Account, FileOptions]:
    """Everything flo run checks before it sends or records anything: the flow, the inputs,
    the account, then every input row and every call known before the run (the pre-pass).
    ``partial`` (flo validate) does not require inputs that were not given."""
    flow = load_flow(args.flow, reg)
    files = FileOptions.of(args.encoding, args.delimiter)
    given = parse_assignments(args.input, Path.cwd(), files)

    def declared(name: str) -> str:
        return flow.document.where(("inputs", name))

    inputs = resolve_inputs(flow.inputs, given, partial=partial, declared=declared)
    try:
        account = choose_account(args.account or flow.account, quiet=partial)
    except AccountError as exc:
        raise InvalidInputError(str(exc)) from None
    rows = pre_pass(reg, flow, inputs, account)
    for name, count in rows.items():
        print(f"{name}: {count:,} row{'s' * (count != 1)} checked", file=sys.stderr)
    return flow, inputs, account, files


def pre_pass(reg: Any, flow: Flow, inputs: dict[str, Any], account: Account) -> dict[str, int]:
    """``precheck`` with the account's card context: calls are built, nothing is sent."""

    async def check() -> dict[str, int]:
        async with connected(reg, account) as ctx:
            return precheck(flow, inputs, ctx)

    return asyncio.run(check())


def cmd_validate(args: argparse.Namespace) -> int:
    from flo_twilio.cli import registry

    flow, *_ = checked(args, registry(), partial=True)
    given_event(flow, args.event, required=False)
    print(f"{args.flow}: valid ({len(flow.steps)} steps)", file=sys.stderr)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from flo_twilio.cli import registry

    if args.dry_run and args.json:
        raise InvalidInputError(
            [
                Problem(
                    "--dry-run prints one JSON line per request, not one JSON document",
                    hint="leave out --json; each line of --dry-run is JSON",
                )
            ]
        )
    reg = registry()
    flow, inputs, account, files = checked(args, reg)
    event = given_event(flow, args.event)
    if args.dry_run:
        return dry_run(reg, flow, account, inputs, event)
    settle = settle_window(args.settle)
    runs = journal()
    run_id = lifecycle.start(
        runs, flow, account, args.input, args.account or flow.account, files, event
    )
    print(f"run {run_id}: {flow.name} on account {account.nickname}", file=sys.stderr)
    return execute(
        reg, runs, run_id, flow, account, inputs, as_json=args.json, settle=settle, trigger=event
    )


def cmd_resume(args: argparse.Namespace) -> int:
    from flo_twilio.cli import registry

    reg = registry()
    settle = settle_window(args.settle)
    runs = journal()
    record = runs.run(args.run_id)
    if record is not None and record["status"] == "done":
        print(f"run {args.run_id} is already done", file=sys.stderr)
        if args.json:
            print(json.dumps({"run": args.run_id, "status": "done"}, indent=2))
        return 0
    run = lifecycle.reopen(
        runs,
        args.run_id,
        reg,
        check=lambda flow, inputs, account: pre_pass(reg, flow, inputs, account),
    )
    print(
        f"resuming run {args.run_id}: {run.flow.name} on account {run.account.nickname}",
        file=sys.stderr,
    )
    return execute(
        reg,
        runs,
        args.run_id,
        run.flow,
        run.account,
        run.inputs,
        as_json=args.json,
        resend_unknown=args.resend_unknown,
        settle=settle,
        trigger=run.event,
    )


def execute(
    reg: Any,
    runs: Journal,
    run_id: str,
    flow: Flow,
    account: Account,
    inputs: dict[str, Any],
    *,
    as_json: bool = False,
    resend_unknown: bool = False,
    settle: float = DEFAULT_SETTLE,
    trigger: dict[str, Any] | None = None,
) -> int:
    """Run (or resume) ``run_id`` to its end (for the ``trigger`` event of a flow with a
    trigger); record and say how it went."""
    progress = Progress()
    holder: dict[str, Engine] = {}

    async def main() -> Any:
        async with connected(reg, account) as ctx:
            engine = holder["engine"] = Engine(
                flow,
                ctx,
                runs,
                run_id,
                resend_unknown=resend_unknown,
                settle=settle,
                on_item=progress.item,
                on_wait=progress.note,
            )
            stop_on_ctrl_c(engine)
            return await engine.run(inputs, trigger)

    started = time.monotonic()
    outputs: Any = None
    stopped = ""
    try:
        outputs = asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError, Halted):
        progress.close()
        summary = holder["engine"].tally.as_dict() if holder else None
        runs.set_status(run_id, "interrupted", summary)
        if as_json:
            print(json.dumps({"run": run_id, "status": "interrupted", **(summary or {})}, indent=2))
        print(f"interrupted; nothing is lost. Resume with: flo resume {run_id}", file=sys.stderr)
        return 130
    except (StepFailed, OutputsFailed) as exc:
        stopped = str(exc)
    except InvalidInputError:
        progress.close()
        runs.set_status(run_id, "failed", holder["engine"].tally.as_dict() if holder else None)
        raise
    progress.close()
    tally = holder["engine"].tally
    status = lifecycle.status_of(tally, bool(stopped))
    runs.set_status(run_id, status, tally.as_dict())
    if as_json:
        write_json(
            {"run": run_id, "status": status, "outputs": outputs, **tally.as_dict()},
            sys.stdout.write,
        )
        print()
    elif outputs is not None:
        write_json(outputs, sys.stdout.write)
        print()
    seconds = time.monotonic() - started
    print(
        f"run {run_id} {status}: {tally.done} done, {tally.failed} failed, {tally.unknown} unknown "
        f"in {seconds:.1f}s",
        file=sys.stderr,
    )
    for reason, count in sorted(tally.reasons.items(), key=lambda kv: -kv[1]):
        print(f"  {count} x {reason}", file=sys.stderr)
    if stopped:
        print(stopped, file=sys.stderr)
    if status == "incomplete":
        print(
            f"the outcome of {tally.unknown} items is still unknown: flo resume {run_id} "
            f"looks them up again (see flo runs show {run_id})",
            file=sys.stderr,
        )
    elif status != "done":
        advice = f"; after fixing the cause: flo resume {run_id}" if resumable(runs, run_id) else ""
        print(f"see flo runs show {run_id}{advice}", file=sys.stderr)
    return 0 if status == "done" else 1


def resumable(runs: Journal, run_id: str) -> bool:
    """True when a resume can end differently: some item's outcome is unknown, or failed for
    a cause outside the flow and its inputs (the network, Twilio's side, the credentials).
    Invalid input and Twilio's refusal of an item's own data fail the same way again."""
    for item in (
        item
        for step_id in runs.step_ids(run_id)
        for item in runs.items(run_id, step_id, states=("intent", "unknown", "failed"))
    ):
        error = item.error or {}
        if item.state in ("intent", "unknown"):
            return True
        if item.state != "failed" or str(error.get("type")).startswith("InvalidInput"):
            continue
        status = error.get("status")
        if status is None or status in (401, 403, 429) or status >= 500:
            return True
    return False


def stop_on_ctrl_c(engine: Engine) -> None:
    """First Ctrl-C: send nothing new, let the requests in flight finish (so their outcome
    is known). Second Ctrl-C: stop at once; those in flight are reconciled on resume."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_sigint() -> None:
        if engine.halt.is_set() and task is not None:
            task.cancel()
            return
        engine.halt.set()
        print("\nstopping after the requests in flight; Ctrl-C again to stop now", file=sys.stderr)

    loop.add_signal_handler(signal.SIGINT, on_sigint)


def dry_run(
    reg: Any, flow: Flow, account: Account, inputs: dict[str, Any], event: dict[str, Any] | None
) -> int:
    """Render and check every call, print each request as a JSON line; send nothing."""
    previews = 0

    def show(request: dict[str, Any]) -> None:
        nonlocal previews
        previews += 1
        print(safe_json(request))

    async def main() -> Any:
        async with connected(reg, account) as ctx:
            engine = Engine(flow, ctx, None, "dry-run", dry_run=True, on_preview=show)
            await engine.run(inputs, event)
            return engine.tally

    try:
        tally = asyncio.run(main())
    except StepFailed as exc:
        raise InvalidInputError(str(exc)) from None
    print(
        f"dry run: {previews} requests, nothing sent; {tally.failed} items invalid", file=sys.stderr
    )
    for reason, count in tally.reasons.items():
        print(f"  {count} x {reason}", file=sys.stderr)
    return 2 if tally.failed else 0


def cmd_runs_list(args: argparse.Namespace) -> int:
    rows = journal().runs()
    for row in rows:
        del row["bound"]  # the flow's text: flo runs show RUN_ID --flow
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no runs yet")
    for row in rows:
        counts = row["counts"]
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["created"]))
        print(
            f"{row['id']}  {when}  {row['status']:<11} {row['flow']:<20} "
            f"done {counts.get('done', 0)}, failed {counts.get('failed', 0)}, "
            f"unknown {counts.get('unknown', 0) + counts.get('intent', 0)}"
        )
    return 0


SHOWN_PROBLEMS = 20  # in text; --json lists them all


def cmd_runs_show(args: argparse.Namespace) -> int:
    runs = journal()
    record = runs.run(args.run_id)
    if record is None:
        raise InvalidInputError(f"no run {args.run_id!r}; see flo runs list")
    bound = record.pop("bound") or {}
    if args.flow:
        if "flow" not in bound:
            raise InvalidInputError(f"run {args.run_id} was recorded without its flow")
        print(bound["flow"], end="")
        return 0
    steps = runs.step_counts(args.run_id)

    def problems() -> Any:
        for step_id in steps:
            for item in runs.items(args.run_id, step_id, states=("failed", "unknown", "intent")):
                yield {
                    "step": step_id,
                    "item": item.index,
                    "state": item.state,
                    "error": item.error,
                }

    if args.json:
        write_json({**record, "steps": steps, "failures": problems()}, sys.stdout.write)
        print()
        return 0
    print(
        f"run {record['id']}: {record['flow']} ({record['flow_path']}) on {record['account']}: "
        f"{record['status']}"
    )
    for step_id, counts in steps.items():
        print(
            f"  step {step_id}: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        )
    for shown, failure in enumerate(problems()):
        if shown == SHOWN_PROBLEMS:
            print(f"  ... and more: flo runs show {args.run_id} --json lists them all")
            break
        error = failure["error"] or {"message": "interrupted: outcome to be reconciled on resume"}
        code = f"Twilio {error.get('code')}: " if error.get("code") else ""
        print(
            f"  {failure['step']}[{failure['item']}] {failure['state']}: {code}{error.get('message')}"
        )
    return 0
