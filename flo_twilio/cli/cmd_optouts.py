"""``flo optouts``: the account's opt-out list (who asked a sender for no more messages),
kept in the journal's store: list, add, remove, import a CSV, export one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from flo_twilio.cli.cmd_runs import add_file_arguments, add_journal_argument

SENDER_HELP = "the sender: one of the account's numbers (+E.164) or a Messaging Service SID (MG...)"
ACCOUNT_HELP = "account nickname (default: TWILIO_* or the default account)"
PHONE_HINT = "write + and the country code, then the number, e.g. +12065551212"
SENDER_HINT = (
    "give one of the account's numbers, e.g. +15017122661, or a Messaging Service SID (MG and "
    "32 hex digits)"
)
MESSAGES_CARD = "twilio.send_sms"  # whose manifest says what a number and a sender are


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``flo optouts`` and its commands on ``commands``."""
    optouts = commands.add_parser(
        "optouts", help="the opt-out list: recipients a run does not send to, per sender"
    )
    sub = optouts.add_subparsers(title="optouts commands", metavar="COMMAND", required=True)
    listing = sub.add_parser("list", help="the recipients who opted out, by sender")
    listing.add_argument("--sender", help="only this sender's list")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list)
    add = sub.add_parser("add", help="put a recipient on a sender's list")
    remove = sub.add_parser("remove", help="take a recipient off a sender's list")
    for command, handler in ((add, cmd_add), (remove, cmd_remove)):
        command.add_argument("phone", help="the recipient, +E.164 (e.g. +12065551212)")
        command.add_argument("--sender", required=True, help=SENDER_HELP)
        command.set_defaults(handler=handler)
    importing = sub.add_parser(
        "import",
        help="add the recipients of a CSV file with a phone column (and a sender column, "
        "or --sender); nothing is added unless every row is right",
    )
    importing.add_argument("file", type=Path)
    importing.add_argument("--sender", help=SENDER_HELP + "; for rows without a sender column")
    add_file_arguments(importing, "the file")
    importing.set_defaults(handler=cmd_import)
    export = sub.add_parser("export", help="the list as CSV (sender,phone,source,updated)")
    export.add_argument("--sender", help="only this sender's list")
    export.set_defaults(handler=cmd_export)
    for command in (listing, add, remove, importing, export):
        command.add_argument("--account", help=ACCOUNT_HELP)
        add_journal_argument(command)


class Lists:
    """The opt-out lists of the chosen account, and what a phone and a sender must be."""

    def __init__(self, args: argparse.Namespace) -> None:
        from flo_twilio.cli.account_choice import choose_account
        from flo_twilio.cli.cmd_cards import registry
        from flo_twilio.errors import AccountError, InvalidInputError
        from flo_twilio.runner import OptOuts, account_id, open_journal

        try:
            account, _ = choose_account(args.account, quiet=True)
        except AccountError as exc:
            raise InvalidInputError(str(exc)) from None
        from flo_twilio.accounts import secure_home

        self.cards = registry()
        self.account = account_id(self.cards, account)
        self.lists = OptOuts(open_journal(args.journal, secure_home))

    def problems(self, phone: str, sender: str) -> list[tuple[str, str, str]]:
        """What is wrong with ``phone`` as a recipient and ``sender`` as a sender, checked
        as a message's ``to`` and ``from`` (or ``messagingServiceSid``) are: (column,
        message, hint) each."""
        manifest = self.cards.card(MESSAGES_CARD).manifest
        option = "messagingServiceSid" if sender.startswith("MG") else "from"
        found = []
        if manifest.problems("inputs", {"to": phone, "body": "-"}):
            found.append(("phone", "the phone is not a number in E.164 form", PHONE_HINT))
        if manifest.problems("options", {option: sender}):
            found.append(("sender", "the sender is not a phone number or an MG SID", SENDER_HINT))
        return found

    def audience(self, phone: str, sender: str, where: str = "") -> Any:
        from flo_twilio.card import Audience
        from flo_twilio.errors import InvalidInputError, Problem

        if wrong := self.problems(phone, sender):
            raise InvalidInputError([Problem(message, where, hint) for _, message, hint in wrong])
        return Audience(phone, (sender,))


def cmd_list(args: argparse.Namespace) -> int:
    import json

    lists = Lists(args)
    entries = lists.lists.listed(lists.account, args.sender)
    if args.json:
        print(json.dumps([entry.__dict__ for entry in entries], indent=2))
        return 0
    if not entries:
        print("no one has opted out", file=sys.stderr)
    for entry in entries:
        print(f"{entry.sender}  {entry.recipient}  {entry.source}  {when(entry.updated)}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    lists = Lists(args)
    lists.lists.add(lists.account, lists.audience(args.phone, args.sender), "added")
    print(f"opted out of {args.sender}: 1 recipient", file=sys.stderr)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    lists = Lists(args)
    found = lists.lists.remove(lists.account, lists.audience(args.phone, args.sender))
    if not found:
        print(f"not on the list of {args.sender}: nothing removed", file=sys.stderr)
        return 0
    print(f"removed from the list of {args.sender}: 1 recipient", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from flo_twilio.errors import InvalidInputError, Problem
    from flo_twilio.runner import CsvFile, FileOptions, Findings, Where

    reading = FileOptions.of(args.encoding, args.delimiter)
    lists = Lists(args)
    found = Findings()
    rows = 0
    try:
        source = CsvFile(args.file, str(args.file), reading.encoding, reading.delimiter)
        for where, row in source.located(found):
            sender = row.get("sender") or args.sender
            if "phone" not in source.header:
                break
            if not sender:
                found(Problem("no sender", str(where), "give --sender, or fill the sender column"))
                continue
            for name, message, hint in lists.problems(row.get("phone", ""), sender):
                column = source.column(name) or 1
                found(Problem(message, str(Where(where.file, where.line, column)), hint))
            rows += 1
        if "phone" not in source.header:
            header = Where(source.label, source.header_line)
            found(Problem("no column 'phone'", str(header), "name the recipients' column phone"))
        found.raise_any()  # nothing is added unless every row is right
        lists.lists.add_all(lists.account, ImportedRows(source, args.sender), "imported")
    except OSError as exc:
        raise InvalidInputError(
            [Problem(f"cannot read the file: {exc.strerror}", str(args.file))]
        ) from None
    print(f"imported {rows} opt-outs from {args.file}", file=sys.stderr)
    return 0


class ImportedRows:
    """The recipients of a checked CSV file, read again from it each time they are
    iterated (one row in memory at a time; the file must not have changed since)."""

    def __init__(self, source: Any, sender: str | None) -> None:
        self.source, self.sender = source, sender

    def __iter__(self) -> Any:
        from flo_twilio.card import Audience

        for row in self.source:
            yield Audience(row["phone"], (str(row.get("sender") or self.sender),))


def cmd_export(args: argparse.Namespace) -> int:
    import csv

    lists = Lists(args)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["sender", "phone", "source", "updated"])
    for entry in lists.lists.listed(lists.account, args.sender):
        writer.writerow([entry.sender, entry.recipient, entry.source, when(entry.updated)])
    return 0


def when(epoch: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
