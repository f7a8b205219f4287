"""``flo validate``, ``flo run``, ``flo runs`` and ``flo resume``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flo_twilio.errors import AccountError, InvalidInputError, Problem
from flo_twilio.runner import counted

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from flo_twilio.accounts import Account
    from flo_twilio.runner import Outcome, Plan, Run, Runner, Tally

SETTLE_HELP = (
    "seconds after an intent before an item not found by its provider is sent again "
    "(default: $FLO_SETTLE_SECONDS or 60; keep it longer than the 30 s request deadline)"
)
RETRIES_HELP = (
    "tries again of a request the API did not take (429, no connection) within its 30 s "
    "deadline (default: $FLO_RETRIES, else the account's retries, else 5; 0: one try)"
)


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Register the flow and run commands on ``commands``."""
    validate = commands.add_parser(
        "validate",
        help="check a flow (and any inputs given) exactly as flo run does before sending",
    )
    add_run_arguments(validate)
    validate.add_argument(
        "--json", action="store_true", help="print the flow's name, steps and rows as JSON"
    )
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
    add_retries_argument(run)
    add_journal_argument(run)
    run.set_defaults(handler=cmd_run)

    runs = commands.add_parser("runs", help="list runs and show one")
    sub = runs.add_subparsers(title="runs commands", metavar="COMMAND", required=True)
    listing = sub.add_parser("list", help="runs, newest first")
    listing.add_argument("--json", action="store_true")
    add_journal_argument(listing)
    listing.set_defaults(handler=cmd_runs_list)
    show = sub.add_parser("show", help="a run's steps, items and failures")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true")
    show.add_argument("--flow", action="store_true", help="print the flow as the run started")
    add_journal_argument(show)
    show.set_defaults(handler=cmd_runs_show)

    resume = commands.add_parser(
        "resume", help="finish an interrupted or failed run without sending twice"
    )
    resume.add_argument("run_id")
    resume.add_argument(
        "--resend-unknown",
        action="store_true",
        help="send again now, without waiting for the settle window, the items that may have "
        "been sent but were not found by their provider",
    )
    resume.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a secret input the run needs again, such as a verification code: flo keeps "
        "secrets nowhere (repeatable)",
    )
    resume.add_argument("--settle", type=float, metavar="SECONDS", help=SETTLE_HELP)
    resume.add_argument("--json", action="store_true")
    add_retries_argument(resume)
    add_journal_argument(resume)
    resume.set_defaults(handler=cmd_resume)


def add_retries_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument("--retries", metavar="N", help=RETRIES_HELP)


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
        "--event",
        metavar="@EVENT.json",
        help="for a flow with a trigger: the event to run it once for (JSON, or @file)",
    )
    add_file_arguments(command, "@files")


def add_file_arguments(command: argparse.ArgumentParser, files: str) -> None:
    """``--encoding`` and ``--delimiter``: how input ``files`` are read (flo run, flo
    validate, flo optouts import), as the hints of a file that cannot be read say."""
    command.add_argument(
        "--encoding",
        help=f"text encoding of {files} (default: UTF-8, with or without BOM), e.g. cp1252",
    )
    command.add_argument(
        "--delimiter",
        choices=[",", ";", "tab", "|"],
        metavar="DELIMITER",
        help="CSV delimiter: , ; tab or | (default: sniffed from the header line among , ; "
        "and tab)",
    )


JOURNAL_HELP = (
    "where runs are kept: a postgresql://USER:PASSWORD@HOST/DB URL shared by every machine, "
    "or a SQLite file (default: $FLO_JOURNAL, else $FLO_HOME/runs.db); prefer $FLO_JOURNAL, "
    "which other users cannot read in the process list"
)


def add_journal_argument(command: argparse.ArgumentParser) -> None:
    """``--journal URL``: on every command that reads or writes runs."""
    command.add_argument("--journal", metavar="URL", help=JOURNAL_HELP)


def open_runner(settle: float | None = None, journal: str | None = None) -> Runner:
    """The runner on the installed plugins and the journal ``journal`` (``--journal``),
    else $FLO_JOURNAL's, else $FLO_HOME/runs.db."""
    from flo_twilio.accounts import secure_home
    from flo_twilio.cli.cmd_cards import registry
    from flo_twilio.cli.output import warn_if_settle_is_short
    from flo_twilio.runner import Runner, open_journal

    flo = Runner(registry(), open_journal(journal, secure_home), settle=settle)
    warn_if_settle_is_short(flo.settle)
    return flo


def planned(
    args: argparse.Namespace, flo: Runner, *, partial: bool = False
) -> tuple[Plan, Account, Any]:
    """The flow, its inputs and the account, checked as far as they can be without a
    connection. ``partial`` (flo validate) does not require inputs that were not given."""
    from flo_twilio.cli.account_choice import choose_account, with_retries
    from flo_twilio.runner import FileOptions

    plan = flo.plan(
        args.flow, args.input, FileOptions.of(args.encoding, args.delimiter), partial=partial
    )
    try:
        account, transport = choose_account(args.account or plan.flow.account, quiet=partial)
    except AccountError as exc:
        raise InvalidInputError(str(exc)) from None
    return plan, with_retries(account, getattr(args, "retries", None)), transport


async def checked_rows(flo: Runner, plan: Plan, account: Account, transport: Any) -> dict[str, int]:
    """The pre-pass: every input row and every call known before the run, nothing sent or
    recorded; how many rows each input file has, said on stderr."""
    rows = await flo.check(plan, account, transport)
    for name, count in rows.items():
        print(f"{name}: {counted(count, 'row')} checked", file=sys.stderr)
    return rows


def cmd_validate(args: argparse.Namespace) -> int:
    import asyncio

    from flo_twilio.cli.output import print_json
    from flo_twilio.runner import given_event

    flo = open_runner()
    plan, account, transport = planned(args, flo, partial=True)
    rows = asyncio.run(checked_rows(flo, plan, account, transport))
    given_event(plan.flow, args.event, required=False)
    steps = len(plan.flow.steps)
    print(f"{args.flow}: valid ({counted(steps, 'step')})", file=sys.stderr)
    if args.json:
        print_json({"flow": plan.flow.name, "valid": True, "steps": steps, "rows": rows})
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from flo_twilio.cli.account_choice import origin
    from flo_twilio.cli.progress import totals

    if args.dry_run and args.json:
        raise InvalidInputError(
            [
                Problem(
                    "--dry-run prints one JSON line per request, not one JSON document",
                    hint="leave out --json; each line of --dry-run is JSON",
                )
            ]
        )
    from flo_twilio.runner import given_event

    flo = open_runner(args.settle, args.journal)
    plan, account, transport = planned(args, flo)

    async def checked() -> dict[str, int]:
        rows = await checked_rows(flo, plan, account, transport)
        plan.event = given_event(plan.flow, args.event)
        return rows

    if args.dry_run:
        return dry_run(flo, plan, account, transport, checked)

    async def begin() -> tuple[Run, dict[str, int]]:
        rows = await checked()
        run = flo.start(
            plan, account, transport, origin=origin(account, args.account or plan.flow.account)
        )
        print(f"run {run.id}: {plan.flow.name} on account {account.nickname}", file=sys.stderr)
        return run, totals(plan.flow, plan.inputs, rows)

    return execute_and_report(flo, account, transport, begin, as_json=args.json)


def cmd_resume(args: argparse.Namespace) -> int:
    from flo_twilio.cli.account_choice import account_of_run, with_retries

    flo = open_runner(args.settle, args.journal)
    record = flo.record(args.run_id)
    if record is None:
        raise InvalidInputError(f"no run {args.run_id!r}; see flo runs list")
    if record["status"] == "done":
        print(f"run {args.run_id} is already done", file=sys.stderr)
        if args.json:
            print(json.dumps({"run": args.run_id, "status": "done"}, indent=2))
        return 0
    account, transport = account_of_run(record)
    account = with_retries(account, args.retries)

    async def begin() -> tuple[Run, dict[str, int]]:
        run = await flo.resume(
            args.run_id,
            account,
            transport,
            resend_unknown=args.resend_unknown,
            secret_inputs=args.input,
        )
        print(
            f"resuming run {args.run_id}: {run.flow.name} on account {account.nickname}",
            file=sys.stderr,
        )
        return run, {}

    return execute_and_report(flo, account, transport, begin, as_json=args.json)


def execute_and_report(
    flo: Runner,
    account: Account,
    transport: Any,
    begin: Callable[[], Awaitable[tuple[Run, dict[str, int]]]],
    *,
    as_json: bool,
) -> int:
    """Begin a run (``begin``: checked and started, or taken over; with each for_each
    step's items, where known) and execute it with its progress on stderr, on one
    connection from the check to the end (Ctrl-C stops it, see ``stop_on_ctrl_c``), and
    say how it went."""
    import asyncio

    from flo_twilio.cli.output import write_json
    from flo_twilio.cli.progress import Progress

    run: Run | None = None
    progress: Progress | None = None

    async def execute() -> Outcome:
        nonlocal run, progress
        async with flo.connected(account, transport):
            run, totals = await begin()
            progress = Progress(totals=totals)
            stop_on_ctrl_c(run)
            return await run.execute(on_item=progress.item, on_wait=progress.note)

    outcome = None
    try:
        outcome = asyncio.run(execute())
    except (KeyboardInterrupt, asyncio.CancelledError):
        if run is None:  # stopped before the run began: nothing recorded
            raise KeyboardInterrupt from None
        outcome = run.interrupted()
    finally:
        if progress is not None:
            progress.close(finished=outcome is not None and outcome.status != "interrupted")
    assert run is not None
    if outcome.status == "interrupted":
        if as_json:
            print(
                json.dumps(
                    {"run": run.id, "status": "interrupted", **run.tally.as_dict()}, indent=2
                )
            )
        print(f"interrupted; nothing is lost. Resume with: flo resume {run.id}", file=sys.stderr)
        return 130
    if as_json:
        write_json(outcome.as_dict(), sys.stdout.write)
        print()
    elif outcome.outputs is not None:
        write_json(outcome.outputs, sys.stdout.write)
        print()
    summarize(outcome)
    return 0 if outcome.status == "done" else 1


def summarize(outcome: Outcome) -> None:
    """The run's counts, reasons and what to do next, on stderr."""
    tally, run_id, status = outcome.tally, outcome.run_id, outcome.status
    print(
        f"run {run_id} {status}: {tally} in {outcome.seconds:.1f}s",
        file=sys.stderr,
    )
    for reason, count in sorted(tally.reasons.items(), key=lambda kv: -kv[1]):
        print(f"  {count} x {reason}", file=sys.stderr)
    segments, paced = outcome.usage.get("segments"), outcome.usage.get("pacing_seconds")
    if segments:
        pacing = f"; pacing by segments per sender needed {paced:.1f}s" if paced else ""
        print(f"  {counted(int(segments), 'message segment')}{pacing}", file=sys.stderr)
    for note, count in sorted(outcome.notes.items(), key=lambda kv: -kv[1]):
        print(f"  {count} x {note}", file=sys.stderr)
    if outcome.stopped:
        print(outcome.stopped, file=sys.stderr)
    if status == "incomplete":
        print(
            f"the outcome of {counted(tally.unknown, 'item')} is still unknown: flo resume {run_id} "
            f"looks them up again (see flo runs show {run_id})",
            file=sys.stderr,
        )
    elif status != "done":
        advice = f"; after fixing the cause: flo resume {run_id}" if outcome.resumable else ""
        print(f"see flo runs show {run_id}{advice}", file=sys.stderr)


def stop_on_ctrl_c(run: Run) -> None:
    """First Ctrl-C: send nothing new, let the requests in flight finish (so their outcome
    is known). Second Ctrl-C: stop at once; those in flight are reconciled on resume."""
    import asyncio
    import signal

    from flo_twilio.cli.interrupts import on_signals

    task = asyncio.current_task()

    def on_sigint() -> None:
        if run.halted.is_set() and task is not None:
            task.cancel()
            return
        run.halt()
        print("\nstopping after the requests in flight; Ctrl-C again to stop now", file=sys.stderr)

    on_signals(on_sigint, signal.SIGINT)  # once the run has ended, Ctrl-C does nothing


def dry_run(
    flo: Runner,
    plan: Plan,
    account: Account,
    transport: Any,
    checked: Callable[[], Awaitable[Any]],
) -> int:
    """After the pre-pass (``checked``), render and check every call, print each request
    as a JSON line, on one connection; send nothing."""
    import asyncio

    from flo_twilio.cli.account_choice import BUILTIN_STORE
    from flo_twilio.redaction import safe_json

    previews = 0

    def show(request: dict[str, Any]) -> None:
        nonlocal previews
        previews += 1
        print(safe_json(request))

    async def check_then_show() -> Tally:
        async with flo.connected(account, transport):
            await checked()
            if account.secret_store == BUILTIN_STORE:
                print(
                    "dry run on the built-in sandbox: it answers inside this process, so its "
                    "URLs (http://127.0.0.1 with no port) reach nothing; flo sandbox serves "
                    "one you can reach",
                    file=sys.stderr,
                )
            return await flo.dry_run(plan, account, transport, on_preview=show)

    tally = asyncio.run(check_then_show())
    print(
        f"dry run: {counted(previews, 'request')}, nothing sent; "
        f"{counted(tally.failed, 'item')} invalid"
        + (f"; {tally.opted_out} opted out, not sent" if tally.opted_out else ""),
        file=sys.stderr,
    )
    for reason, count in tally.reasons.items():
        print(f"  {count} x {reason}", file=sys.stderr)
    return 2 if tally.failed else 0


def cmd_runs_list(args: argparse.Namespace) -> int:
    rows = open_runner(journal=args.journal).runs()
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
        skipped = f"skipped {counts['skipped']}, " if counts.get("skipped") else ""
        print(
            f"{row['id']}  {when}  {row['status']:<11} {row['flow']:<20} "
            f"done {counts.get('done', 0)}, {skipped}failed {counts.get('failed', 0)}, "
            f"unknown {counts.get('unknown', 0) + counts.get('intent', 0)}"
        )
    return 0


SHOWN_PROBLEMS = 20  # in text; --json lists them all


def cmd_runs_show(args: argparse.Namespace) -> int:
    from flo_twilio.cli.output import write_json

    flo = open_runner(journal=args.journal)
    record = flo.status(args.run_id)
    bound = record.pop("bound") or {}
    if args.flow:
        if "flow" not in bound:
            raise InvalidInputError(f"run {args.run_id} was recorded without its flow")
        print(bound["flow"], end="")
        return 0
    try:
        outputs, no_outputs = flo.outputs(args.run_id), ""
    except InvalidInputError as exc:
        outputs, no_outputs = None, str(exc)
    if args.json:
        answer = {**record, "outputs": outputs, "failures": flo.problems(args.run_id)}
        write_json(answer | ({"no_outputs": no_outputs} if no_outputs else {}), sys.stdout.write)
        print()
        return 0
    print(
        f"run {record['id']}: {record['flow']} ({record['flow_path']}) on {record['account']}: "
        f"{record['status']}"
    )
    for step_id, counts in record["steps"].items():
        print(
            f"  step {step_id}: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        )
    for shown, failure in enumerate(flo.problems(args.run_id)):
        if shown == SHOWN_PROBLEMS:
            print(f"  ... and more: flo runs show {args.run_id} --json lists them all")
            break
        error = failure["error"] or {"message": "interrupted: outcome to be reconciled on resume"}
        code = f"{error.get('provider') or 'error'} {error['code']}: " if error.get("code") else ""
        print(
            f"  {failure['step']}[{failure['item']}] {failure['state']}: {code}{error.get('message')}"
        )
    if no_outputs:
        print(f"outputs: none ({no_outputs})")
    elif outputs is not None:
        print("outputs: ", end="")
        write_json(outputs, sys.stdout.write)
        print()
    return 0
