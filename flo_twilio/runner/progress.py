"""Progress of for_each steps on stderr: a live bar at a terminal, one line per step otherwise."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from flo_twilio.runner.flow import Step


@dataclass
class Count:
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)


class Progress:
    def __init__(self, stream: TextIO | None = None) -> None:
        stream = stream or sys.stderr  # looked up now: stderr may have been replaced since import
        self.stream = stream
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
                TextColumn("{task.fields[failed]} failed, {task.fields[rate]}/s"),
                TimeRemainingColumn(),
                console=Console(file=stream),
                transient=False,
            )
            self.bar.start()

    def item(self, step: Step, ok: bool) -> None:
        if step.for_each is None:
            return
        count = self.counts.setdefault(step.id, Count())
        if ok:
            count.done += 1
        else:
            count.failed += 1
        if self.bar is not None:
            task = self.tasks.get(step.id)
            if task is None:
                task = self.tasks[step.id] = self.bar.add_task(
                    step.id, total=None, failed=0, rate=0
                )
            self.bar.update(
                task,
                completed=count.done + count.failed,
                failed=count.failed,
                rate=f"{self.rate(count):.0f}",
            )

    @staticmethod
    def rate(count: Count) -> float:
        return (count.done + count.failed) / max(time.monotonic() - count.started, 1e-6)

    def close(self) -> None:
        if self.bar is not None:
            for step_id, task in self.tasks.items():  # streamed items: the total is known now
                count = self.counts[step_id]
                self.bar.update(task, total=count.done + count.failed)
            self.bar.stop()
            return
        for step_id, count in self.counts.items():
            print(
                f"{step_id}: {count.done} done, {count.failed} failed ({self.rate(count):.0f}/s)",
                file=self.stream,
            )
