"""A card that does nothing, and a flow of many steps of it: what the engine costs per step."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flo_twilio import Card, CardContext, Registry
from flo_twilio.manifests import Manifest
from flo_twilio.runner.engine import Engine
from flo_twilio.runner.flow import load_flow
from flo_twilio.runner.journal import Journal

MANIFEST = {
    "name": "bench.noop",
    "title": "Nothing",
    "description": "Does nothing.",
    "connection": None,
    "options": {"type": "object", "properties": {}},
    "inputs": {
        "type": "object",
        "properties": {"n": {"type": "integer", "description": "Which step."}},
    },
    "outputs": {"type": "object", "properties": {"n": {"type": "integer", "description": "It."}}},
}


class NoOp(Card):
    name = "bench.noop"
    manifest = Manifest(MANIFEST)

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"n": inputs["n"]}


def run_noop_flow(folder: Path, steps: int) -> tuple[float, float]:
    """Wall and CPU seconds of running ``steps`` no-op steps, each reading the one before."""
    path = folder / f"noop-{steps}.yaml"
    lines = ["flo: 1", "name: noop", "steps:", "  - {id: s0, card: bench.noop, inputs: {n: 0}}"]
    lines += [
        f"  - {{id: s{i}, card: bench.noop, inputs: {{n: '${{{{ steps.s{i - 1}.outputs.n }}}}'}}}}"
        for i in range(1, steps)
    ]
    path.write_text("\n".join(lines) + "\n")
    flow = load_flow(path, Registry(cards={"bench.noop": NoOp}))
    journal = Journal(folder / f"noop-{steps}.db")
    engine = Engine(flow, CardContext(None, {"sid": "AC1"}), journal, "noop")
    started, cpu = time.perf_counter(), time.process_time()
    asyncio.run(engine.run({}))
    journal.close()
    return time.perf_counter() - started, time.process_time() - cpu
