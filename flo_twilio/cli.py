"""The ``flo`` command: cards, accounts, the sandbox, flows and runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from flo_twilio import __version__
from flo_twilio.errors import FloError, InvalidInputError, Problem
from flo_twilio.manifests import SECTIONS
from flo_twilio.plugins import Registry, load_registry
from flo_twilio.redaction import redact, redacted_stdio

Handler = Callable[[argparse.Namespace], int]


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
    try:
        with redacted_stdio():
            code = dispatch(arguments, as_json)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def dispatch(arguments: list[str], as_json: bool) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
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

    cards = commands.add_parser("cards", help="list the installed cards and show their fields")
    card_commands = cards.add_subparsers(title="cards commands", metavar="COMMAND", required=True)
    listing = card_commands.add_parser("list", help="list the installed cards")
    listing.add_argument("--json", action="store_true", help="print JSON with each manifest")
    listing.add_argument(
        "--markdown", action="store_true", help="print the README's card reference"
    )
    listing.set_defaults(handler=cards_list)
    show = card_commands.add_parser("show", help="show a card's options, inputs and outputs")
    show.add_argument("name", help="a card name, e.g. twilio.send_sms")
    show.add_argument("--json", action="store_true", help="print the manifest as JSON")
    show.set_defaults(handler=cards_show)

    options = commands.add_parser(
        "options", help="list the choices of a card's option (a dropdown)"
    )
    options.add_argument("card", help="a card name, e.g. twilio.send_sms")
    options.add_argument("option", help="an option with a dropdown, e.g. from")
    options.add_argument("--account", help="the account's nickname (default: the default account)")
    options.add_argument("--json", action="store_true")
    options.set_defaults(handler=options_choices)

    from flo_twilio import cli_accounts, cli_runs, cli_sandbox, cli_serve

    cli_runs.add_commands(commands)
    cli_accounts.add_commands(commands)
    cli_sandbox.add_commands(commands)
    cli_serve.add_commands(commands)
    return parser


def registry() -> Registry:
    reg = load_registry()
    for failure in reg.failures:
        print(f"warning: {failure}", file=sys.stderr)
    return reg


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def cards_list(args: argparse.Namespace) -> int:
    """The installed cards; exit 1 when a plugin failed to load (its cards are missing)."""
    reg = registry()
    cards = [reg.cards[name] for name in sorted(reg.cards)]
    if args.json:
        print_json(
            [{**card.manifest.data, "plugin": reg.providers[f"card:{card.name}"]} for card in cards]
        )
    elif args.markdown:
        from flo_twilio.docs import card_reference

        print(card_reference(reg))
    else:
        width = max((len(card.name) for card in cards), default=0)
        for card in cards:
            print(f"{card.name:<{width}}  {card.manifest.data['title']}")
    return 1 if reg.failures else 0


def cards_show(args: argparse.Namespace) -> int:
    card = registry().card(args.name)
    if args.json:
        print_json(card.manifest.data)
        return 0
    data = card.manifest.data
    print(f"{data['title']} ({card.name})\n{data['description']}")
    for section in SECTIONS:
        print(f"\n{section.capitalize()}:")
        for line in field_rows(card.manifest.properties(section), card.manifest.required(section)):
            print(line)
    return 0


def options_choices(args: argparse.Namespace) -> int:
    import asyncio

    from flo_twilio.errors import InvalidInputError
    from flo_twilio.runner.connections import choose_account, connected

    reg = registry()
    card = reg.card(args.card)()
    spec = card.manifest.properties("options").get(args.option)
    if spec is None or "x-flo-choices" not in spec:
        with_choices = [
            n for n, s in card.manifest.properties("options").items() if "x-flo-choices" in s
        ]
        raise InvalidInputError(
            f"{args.card} has no option {args.option!r} with choices "
            f"(options with choices: {', '.join(with_choices) or 'none'})"
        )

    async def fetch() -> list[dict[str, Any]]:
        async with connected(reg, choose_account(args.account)) as ctx:
            return await card.choices(ctx, args.option)

    choices = asyncio.run(fetch())
    if args.json:
        print_json(choices)
        return 0
    for choice in choices:
        caps = ", ".join(k for k, v in (choice.get("capabilities") or {}).items() if v)
        print(f"{choice['value']:<18} {choice['label']}" + (f"  [{caps}]" if caps else ""))
    return 0


def field_rows(properties: dict[str, Any], required: list[str]) -> list[str]:
    """One aligned line per field: name, type, required mark, description."""
    if not properties:
        return ["  (none)"]
    rows = [
        (
            name,
            describe_type(spec),
            "required" if name in required else "",
            spec.get("description", ""),
        )
        for name, spec in properties.items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return [
        "  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        for row in rows
    ]


def describe_type(spec: dict[str, Any]) -> str:
    kind = spec.get("type", "any")
    text = "|".join(kind) if isinstance(kind, list) else str(kind)
    if "enum" in spec:
        text += " (" + "|".join(map(str, spec["enum"])) + ")"
    if kind == "array" and "items" in spec:
        text = f"array of {describe_type(spec['items'])}"
    return text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
