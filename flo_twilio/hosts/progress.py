"""What a piece of host work says while it sends, for the host's task log: a line when it
starts or resumes, one at each tenth of its items (done, failed, unknown so far), each
wait the engine announces (a settle window: "waiting up to N s to look up again"), and the
summary. Counts and run ids only: no numbers, no bodies (personal data)."""

from __future__ import annotations

import time
from collections.abc import Callable

from flo_twilio.runner import Step, Tally

Say = Callable[[str], None]
"""Takes one line for the host's log (e.g. ``logger.info``)."""

STEPS = 10  # lines about the items, at most, over the whole work


class WorkProgress:
    """Feeds ``say`` from a run's ``on_item`` and ``on_wait`` (the engine's callbacks)."""

    def __init__(self, say: Say, run_id: str, total: int) -> None:
        self.say, self.run_id, self.total = say, run_id, total
        self.tally = Tally()
        self.every = max(1, -(-total // STEPS))  # a line each tenth, rounded up
        self.started = time.monotonic()

    def start(self, concurrency: int, *, resumed: bool) -> None:
        how = "resuming it (what was sent is kept, not sent again)" if resumed else "sending"
        self.say(f"flo run {self.run_id}: {how}: {plural(self.total)}, {concurrency} at a time")

    def item(self, step: Step, state: str) -> None:
        tally = self.tally
        tally.count(state)
        ended = tally.done + tally.skipped + tally.failed + tally.unknown
        if ended % self.every == 0 or ended == self.total:
            self.say(f"flo run {self.run_id}: {ended}/{self.total} items ended: {tally}")

    def wait(self, step: Step, message: str) -> None:
        self.say(f"flo run {self.run_id}: {message}")

    def end(self, status: str, tally: Tally) -> None:
        seconds = time.monotonic() - self.started
        self.say(f"flo run {self.run_id} ended {status} in {seconds:.1f} s: {tally}")


def silent(line: str) -> None:
    """Says nothing: work sent without a log."""


def plural(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"
