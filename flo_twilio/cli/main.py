"""The ``flo`` command: parse the command line, run the command's handler, and answer
every failure with a message (and with ``--json``, a JSON document) and its exit code.

Each command's module imports what it needs when it runs, so ``flo --version`` and
``flo --help`` import nothing heavy."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from flo_twilio import __version__
from flo_twilio.cli import cmd_accounts, cmd_cards, cmd_optouts, cmd_runs, cmd_sandbox, cmd_serve
from flo_twilio.errors import FloError, InvalidInputError, Problem
from flo_twilio.redaction import redact, redacted_stdio


class UsageError(Exception):
    """The command line itself is wrong (argparse's complaint)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises UsageError, so --json can answer it in JSON."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``flo`` command; with ``--json`` stdout gets exactly one JSON document,
    an error included. A closed stdout (``flo runs list | head -1``) ends quietly."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in arguments
    skip_httpx_cli()
    try:
        with redacted_stdio():
            code = dispatch(arguments, as_json)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if argv is None:  # the flo process itself, which ends now
            from flo_twilio.cli.interrupts import finishing

            finishing()


def skip_httpx_cli() -> None:
    """Keep ``import httpx`` from importing httpx's own command-line tool, which flo never
    runs: with click and rich installed (uvicorn and flo's progress bar need them), it
    imports click, rich and pygments, about a third of httpx's import time. httpx then
    falls back to its ``main`` that says the tool is not installed."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def dispatch(arguments: list[str], as_json: bool) -> int:
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(arguments)
        except SystemExit as done:  # --help and --version end here, as they should
            return int(done.code or 0)
        if not hasattr(args, "handler"):
            parser.print_help(sys.stderr)
            return 2
        return int(args.handler(args) or 0)
    except UsageError as exc:
        exc.parser.print_usage(sys.stderr)
        return fail(2, f"{exc.parser.prog}: {exc}", as_json, hint=f"see {exc.parser.prog} --help")
    except FloError as exc:
        problems = exc.problems if isinstance(exc, InvalidInputError) else [Problem(str(exc))]
        return fail(exc.exit_code, str(exc), as_json, problems=problems)
    except KeyboardInterrupt:
        return fail(130, "interrupted", as_json)
    except BrokenPipeError:
        raise
    except Exception as exc:  # the last line of defence: a message, never a secret
        if os.environ.get("FLO_DEBUG"):
            print(redact(traceback.format_exc()), file=sys.stderr)
        return fail(
            1,
            f"internal error: {type(exc).__name__}: {exc}",
            as_json,
            hint="set FLO_DEBUG=1 to see the traceback",
        )


def fail(
    code: int, message: str, as_json: bool, hint: str = "", problems: list[Problem] | None = None
) -> int:
    """Say what went wrong on stderr, and with --json as one JSON document on stdout."""
    print(f"error: {redact(message)}" + (f" ({hint})" if hint else ""), file=sys.stderr)
    if as_json:
        listed = [
            {
                "message": redact(p.message),
                "location": redact(p.where) or None,
                "hint": redact(p.hint) or None,
            }
            for p in problems or [Problem(message, hint=hint)]
        ]
        # ASCII: a message may quote bytes of another encoding (a file name, an argument)
        print(json.dumps({"error": {**listed[0], "problems": listed}, "exit_code": code}, indent=2))
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="flo", description="Twilio cards, accounts, a local sandbox, flows and their runs."
    )
    parser.add_argument("--version", action="version", version=f"flo-twilio {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    for module in (cmd_cards, cmd_runs, cmd_accounts, cmd_sandbox, cmd_serve, cmd_optouts):
        module.add_commands(commands)
    return parser
