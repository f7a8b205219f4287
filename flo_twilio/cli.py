"""The ``flo`` command: cards, accounts, the sandbox, flows and runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from flo_twilio import __version__
from flo_twilio.errors import FloError
from flo_twilio.manifests import SECTIONS
from flo_twilio.plugins import Registry, load_registry
from flo_twilio.redaction import redact, redacted_stdio

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return 2
    try:
        with redacted_stdio():
            return int(args.handler(args) or 0)
    except FloError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: a message, never a secret
        if os.environ.get("FLO_DEBUG"):
            print(redact(traceback.format_exc()), file=sys.stderr)
        print(
            f"internal error: {type(exc).__name__}: {redact(str(exc))} "
            "(set FLO_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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

    from flo_twilio import cli_accounts, cli_runs, cli_sandbox

    cli_runs.add_commands(commands)
    cli_accounts.add_commands(commands)
    cli_sandbox.add_commands(commands)
    return parser


def registry() -> Registry:
    reg = load_registry()
    for failure in reg.failures:
        print(f"warning: {failure}", file=sys.stderr)
    return reg


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def cards_list(args: argparse.Namespace) -> int:
    reg = registry()
    cards = [reg.cards[name] for name in sorted(reg.cards)]
    if args.json:
        print_json(
            [{**card.manifest.data, "plugin": reg.providers[f"card:{card.name}"]} for card in cards]
        )
        return 0
    if args.markdown:
        from flo_twilio.docs import card_reference

        print(card_reference(reg))
        return 0
    width = max((len(card.name) for card in cards), default=0)
    for card in cards:
        print(f"{card.name:<{width}}  {card.manifest.data['title']}")
    return 0


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
