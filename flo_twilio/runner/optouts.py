"""The opt-out list: per account and sender (a phone number, a messaging service), the
recipients who said they want no more messages from it. It is kept in the journal's store,
so every machine sharing a PostgreSQL journal honours one list.

It is fed by the incoming messages a trigger reads as an opt-out or opt-in (a STOP, a
START: ``Trigger.consent``), by the provider's refusals that say so (``Card.opt_out_codes``:
Twilio's 21610) and by ``flo optouts``. A run asks ``OptOutCheck.reason`` of each call that
messages a person (``Card.audience``): a recipient on the list is not sent to, and the item
is journalled skipped with the reason, unless the step says ``ignore_opt_outs:
transactional``."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flo_twilio.card import Audience, Card
from flo_twilio.errors import ProviderError
from flo_twilio.runner.flow import Step
from flo_twilio.runner.journal import Journal

# How a recipient came on the list, as a reason reads it.
SOURCES = {
    "keyword": "replied with an opt-out keyword",
    "refused": "the provider refused a send: the recipient opted out",
    "added": "added with flo optouts add",
    "imported": "imported with flo optouts import",
}
OPTED_OUT = "OptedOut"  # the error type of an item held back
REFRESH_SECONDS = 10.0  # how old a run's copy of the list may be when an item is checked
CLOCK_SKEW = 300.0  # seconds another machine's clock may be behind this one's


@dataclass(frozen=True)
class OptOut:
    sender: str
    recipient: str
    source: str
    updated: float


class OptOuts:
    """The opt-out lists of ``journal``'s store."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def add(self, account: str, audience: Audience, source: str) -> None:
        """Put ``audience``'s recipient on the list of each of its senders."""
        self.add_all(account, [audience], source)

    def add_all(self, account: str, audiences: Iterable[Audience], source: str) -> None:
        """Put each recipient on its senders' lists, all in one transaction. ``audiences``
        is read as it is written (a file's rows need not all be in memory), once per attempt:
        give one that can be iterated again (a list, a file read again)."""
        now = time.time()
        self.journal._writes.transact(
            lambda db: db.executemany(
                "INSERT INTO opt_outs VALUES (?, ?, ?, ?, ?) ON CONFLICT "
                "(account, sender, recipient) DO UPDATE SET source = excluded.source, "
                "updated = excluded.updated",
                ((account, *pair, source, now) for each in audiences for pair in pairs(each)),
            )
        )

    def remove(self, account: str, audience: Audience) -> int:
        """Take ``audience``'s recipient off the list of each of its senders; how many
        entries there were."""
        found = len(self.matching(account, audience))
        for sender, recipient in pairs(audience):
            self.journal._write(
                "DELETE FROM opt_outs WHERE account = ? AND sender = ? AND recipient = ?",
                (account, sender, recipient),
            )
        return found

    def matching(self, account: str, audience: Audience) -> list[OptOut]:
        marks = ", ".join("?" * len(audience.senders))
        rows = self.journal._read(
            "SELECT sender, recipient, source, updated FROM opt_outs WHERE account = ? "
            f"AND recipient = ? AND sender IN ({marks})",
            (account, audience.recipient, *map(sender_key, audience.senders)),
        )
        return [OptOut(*row) for row in rows]

    def listed(self, account: str, sender: str | None = None) -> list[OptOut]:
        """The account's entries (of ``sender`` only, if given), by sender and recipient."""
        where, args = (
            ("AND sender = ?", (account, sender_key(sender))) if sender else ("", (account,))
        )
        rows = self.journal._read(
            "SELECT sender, recipient, source, updated FROM opt_outs WHERE account = ? "
            f"{where} ORDER BY sender, recipient",
            args,
        )
        return [OptOut(*row) for row in rows]

    def commit(self) -> None:
        self.journal.commit()


class OptOutCheck:
    """What a run asks of the opt-out list of its account (``account``): the list as the
    run began, and what was added since, looked up again when the last look is
    ``REFRESH_SECONDS`` old (so a STOP recorded while a long, paced campaign runs holds back
    the items not yet sent; a START takes effect at the next run); and what the run learns
    from the provider's refusals."""

    def __init__(self, journal: Journal, account: str) -> None:
        self.lists, self.account = OptOuts(journal), account
        self.entries: dict[tuple[str, str], str] = {}
        self.since = -math.inf
        self.read()

    def read(self) -> None:
        """Add the entries updated since the last read (``CLOCK_SKEW`` earlier: another
        machine's clock may be behind), and note when."""
        now = time.time()
        rows = self.lists.journal._read(
            "SELECT sender, recipient, source FROM opt_outs WHERE account = ? AND updated >= ?",
            (self.account, self.since - CLOCK_SKEW),
        )
        self.entries.update({(sender_key(row[0]), row[1]): row[2] for row in rows})
        self.since, self.read_at = now, time.monotonic()

    def reason(
        self, step: Step, card: Card, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> str | None:
        """Why this call must not be sent (its recipient opted out of one of its senders),
        or None."""
        if step.ignore_opt_outs:
            return None
        audience = card.audience(options, inputs)
        if audience is None:
            return None
        if time.monotonic() - self.read_at >= REFRESH_SECONDS:
            self.read()
        for sender in audience.senders:
            source = self.entries.get((sender_key(sender), audience.recipient))
            if source is not None:
                return f"opted out of {sender} ({SOURCES.get(source, source)})"
        return None

    def learn(
        self, card: Card, options: Mapping[str, Any], inputs: Mapping[str, Any], error: Any
    ) -> None:
        """Put the call's recipient on the list when the provider's refusal says they opted
        out (the call failed: nothing was sent, and the next runs do not try)."""
        codes = {str(code) for code in card.opt_out_codes}
        audience = card.audience(options, inputs)
        if isinstance(error, ProviderError) and str(error.code) in codes and audience:
            self.lists.add(self.account, audience, "refused")
            self.entries.update(dict.fromkeys(pairs(audience), "refused"))


def pairs(audience: Audience) -> Iterable[tuple[str, str]]:
    """(sender, recipient) of each of ``audience``'s senders, as the list keys them."""
    return ((sender_key(sender), audience.recipient) for sender in audience.senders)


SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")


def sender_key(sender: str) -> str:
    """``sender`` as the list keys it: a Messaging Service SID with its hex digits in lower
    case, as Twilio writes them (one typed in capitals is the same service, not a list that
    nothing matches)."""
    return "MG" + sender[2:].lower() if SERVICE_SID.fullmatch(sender) else sender
