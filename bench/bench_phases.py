"""Where a bulk `flo run`'s time goes, item by item: each item's phases timed in-process
against the sandbox in its own process, beside the ideal (items / in flight x latency).

    python -m bench.bench_phases                   # 1,500 messages, 25 in flight, 150 ms
    python -m bench.bench_phases 3000 16 0         # messages, in flight, latency (s)
    python -m bench.bench_phases 1500 25 0.15 postgresql   # the journal in PostgreSQL

Phases: render (the item's options and inputs, checked) to its intent written; intent to
durable (committed by the journal's writer thread); durable to the request's start (the
client's in-flight cap); the request; its end to the item's end (outputs checked and
journalled). Instruments flo's internals by wrapping them: a measuring tool, not an API.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import cases
from flo_twilio.client.core import TwilioClient
from flo_twilio.runner.item_lifecycle import ItemLifecycle
from flo_twilio.runner.journal import Journal

Marks = dict[int, list[tuple[str, float]]]  # task -> (event, time), in order


def wrap(owner: Any, name: str, before: str, after: str, marks: Marks) -> Callable[[], None]:
    """Mark ``before`` and ``after`` around ``owner.name`` (sync or async) in the current
    task's list; returns what undoes it."""
    original = getattr(owner, name)

    def mark(event: str) -> None:
        if event:
            marks[id(asyncio.current_task())].append((event, time.perf_counter()))

    if asyncio.iscoroutinefunction(original):

        async def timed(*args: Any, **kwargs: Any) -> Any:
            mark(before)
            try:
                return await original(*args, **kwargs)
            finally:
                mark(after)
    else:

        def timed(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            mark(before)
            return original(*args, **kwargs)

    setattr(owner, name, timed)
    return lambda: setattr(owner, name, original)


PHASES = [
    ("render to intent", "item", "intent"),
    ("intent to durable", "intent", "durable"),
    ("durable to request", "durable", "request"),
    ("request", "request", "answer"),
    ("answer to item end", "answer", "end"),
]


def report(marks: Marks, count: int, concurrency: int, latency: float, seconds: float) -> None:
    spans: dict[str, list[float]] = defaultdict(list)
    for events in marks.values():
        item: dict[str, float] = {}
        for event, at in events:
            if event == "item":
                item = {}
            item.setdefault(event, at)
            if event == "end":
                for name, start, end in PHASES:
                    if start in item and end in item:
                        spans[name].append(item[end] - item[start])
    print(f"{count:,} messages, {concurrency} in flight, latency {latency * 1000:.0f} ms")
    for name, _, _ in PHASES:
        values = sorted(spans[name]) or [0.0]
        p50, p90 = values[len(values) // 2], values[int(len(values) * 0.9)]
        print(
            f"  {name:<20} mean {statistics.mean(values) * 1000:7.2f} ms   "
            f"p50 {p50 * 1000:7.2f}   p90 {p90 * 1000:7.2f}"
        )
    ideal = count / concurrency * latency
    print(f"  run (in-process, imports done) {seconds:.2f} s; ideal {ideal:.2f} s")


def main(argv: list[str]) -> None:
    count, concurrency, latency = (
        int(argv[0]) if argv else 1500,
        int(argv[1]) if len(argv) > 1 else 25,
        float(argv[2]) if len(argv) > 2 else 0.15,
    )
    in_postgres = argv[3:] == ["postgresql"]
    marks: Marks = defaultdict(list)
    undo = [
        wrap(ItemLifecycle, "item", "item", "end", marks),
        wrap(Journal, "intent", "intent", "", marks),
        wrap(Journal, "durable", "", "durable", marks),
        wrap(TwilioClient, "_attempt", "request", "answer", marks),
    ]
    try:
        with (
            tempfile.TemporaryDirectory() as folder,
            cases.postgres_journal() if in_postgres else contextlib.nullcontext() as journal,
        ):
            if isinstance(journal, cases.ServerUnavailable):
                raise SystemExit(f"no PostgreSQL server: {journal}")
            lab = cases.Lab(Path(folder))
            with cases.sandbox("--latency", str(latency)) as url:
                account = lab.connect("phases", url)
                args = lab.run_args(account, count, concurrency)
                args += ["--journal", journal] if journal else []
                started = time.perf_counter()
                lab.in_process(*args)
                seconds = time.perf_counter() - started
    finally:
        for step in undo:
            step()
    report(marks, count, concurrency, latency, seconds)


if __name__ == "__main__":
    main(sys.argv[1:])
