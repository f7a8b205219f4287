"""``flo cards`` and ``flo options``: the installed cards, their fields and dropdowns."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from flo_twilio.cli.output import print_json
from flo_twilio.errors import InvalidInputError, PluginError

if TYPE_CHECKING:
    from flo_twilio.plugins import Registry


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``flo cards`` and ``flo options`` on ``commands``."""
    cards = commands.add_parser("cards", help="list the installed cards and show their fields")
    card_commands = cards.add_subparsers(title="cards commands", metavar="COMMAND", required=True)
    listing = card_commands.add_parser("list", help="list the installed cards")
    listing.add_argument("--json", action="store_true", help="print JSON with each manifest")
    listing.add_argument(
        "--markdown", action="store_true", help="print the card reference (docs/cards.md)"
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


def registry() -> Registry:
    """The installed plugins' cards and connection types; a plugin that failed to load is a
    warning on stderr."""
    from flo_twilio.plugins import load_registry

    reg = load_registry()
    for failure in reg.failures:
        print(f"warning: {failure}", file=sys.stderr)
    return reg


def cards_list(args: argparse.Namespace) -> int:
    """The installed cards; exit 2 when a plugin failed to load (its cards are missing),
    with --json as the error document."""
    reg = registry()
    cards = [reg.cards[name] for name in sorted(reg.cards)]
    if args.json and reg.failures:
        raise PluginError("; ".join(reg.failures))
    if args.json:
        print_json(
            [{**card.manifest.data, "plugin": reg.providers[f"card:{card.name}"]} for card in cards]
        )
    elif args.markdown:
        from flo_twilio.cli.card_reference import card_reference

        print(card_reference(reg))
    else:
        width = max((len(card.name) for card in cards), default=0)
        for card in cards:
            print(f"{card.name:<{width}}  {card.manifest.data['title']}")
    return 2 if reg.failures else 0


def cards_show(args: argparse.Namespace) -> int:
    from flo_twilio.manifests import SECTIONS

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

    from flo_twilio.cli.account_choice import choose_account
    from flo_twilio.runner import open_context

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
        async with open_context(reg, *choose_account(args.account)) as ctx:
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
