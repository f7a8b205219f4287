"""Progress of for_each steps on stderr: a live bar at a terminal, one line per step otherwise.
It counts what the run's summary counts: done, skipped, failed and unknown items."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from flo_twilio.runner import Flow, Step, Tally, Template


@dataclass
class Count(Tally):
    """A step's items so far, printed as the run's summary prints its tally."""

    started: float = field(default_factory=time.monotonic)

    @property
    def total(self) -> int:
        return self.done + self.skipped + self.failed + self.unknown


def totals(flow: Flow, inputs: dict[str, Any], rows: dict[str, int]) -> dict[str, int]:
    """How many items each for_each step has, where known before the run: a step over an
    input (its rows, as the pre-pass counted them, or a list given whole), or over the
    outputs of such a step."""
    known: dict[str, int] = {}
    for step in flow.steps:
        whole = step.for_each.whole if isinstance(step.for_each, Template) else None
        if whole is None:
            continue
        count: int | None = None
        if whole.root == "inputs" and len(whole.path) == 1:
            name = str(whole.path[0])
            given = inputs.get(name)
            count = rows[name] if name in rows else len(given) if isinstance(given, list) else None
        elif whole.root == "steps" and len(whole.path) == 2 and whole.path[1] == "outputs":
            count = known.get(str(whole.path[0]))
        if count is not None:
            known[step.id] = count
    return known


class Progress:
    """``totals``: the items each for_each step will have, where known (else ``N/?``)."""

    def __init__(self, stream: TextIO | None = None, totals: dict[str, int] | None = None) -> None:
        stream = stream or sys.stderr  # looked up now: stderr may have been replaced since import
        self.stream = stream
        self.totals = totals or {}
        self.counts: dict[str, Count] = {}
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}
        if stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            self.bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed, {task.fields[unknown]} unknown"),
                TextColumn("{task.fields[rate]}/s"),
                TimeRemainingColumn(),
                console=Console(file=stream),
                transient=False,
            )
            self.bar.start()

    def item(self, step: Step, state: str) -> None:
        if step.for_each is None:
            return
        count = self.counts.setdefault(step.id, Count())
        count.count(state)
        if self.bar is not None:
            task = self.tasks.get(step.id)
            if task is None:
                task = self.tasks[step.id] = self.bar.add_task(
                    step.id, total=self.totals.get(step.id), failed=0, unknown=0, rate=0
                )
            self.bar.update(
                task,
                completed=count.total,
                failed=count.failed,
                unknown=count.unknown,
                rate=f"{self.rate(count):.0f}",
            )

    def note(self, step: Step, message: str) -> None:
        """Say what the step is doing besides its items (waiting, mostly)."""
        line = f"{step.id}: {message}"
        if self.bar is not None:
            self.bar.console.print(line)
        else:
            print(line, file=self.stream, flush=True)

    @staticmethod
    def rate(count: Count) -> float:
        return count.total / max(time.monotonic() - count.started, 1e-6)

    def close(self, *, finished: bool = True) -> None:
        """Stop the bar; a step whose total was not known ends at its count only when the
        run ``finished`` (an interrupted one is not shown complete)."""
        if self.bar is not None:
            for step_id, task in self.tasks.items():
                if finished and step_id not in self.totals:
                    self.bar.update(task, total=self.counts[step_id].total)
            self.bar.stop()
            return
        for step_id, count in self.counts.items():
            print(f"{step_id}: {count} ({self.rate(count):.0f}/s)", file=self.stream)
