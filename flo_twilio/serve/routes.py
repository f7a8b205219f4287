"""A served flow's *route*: its key in the event store (its accepted events, polling cursor
and attachments). It names what the flow listens to, not where its file is: the flow's
name, its trigger card and the trigger's options (the number), so a release that moves the
file (a ``current -> releases/vN`` symlink, a new folder) finds the events the last one
accepted. Keys of older versions (the file's resolved path) are moved over on start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flo_twilio.runner import EventStore, Flow, load_yaml


def route_key(name: str, card: str, options: Any) -> str:
    """The route of the flow called ``name`` triggered by ``card`` with ``options``."""
    return json.dumps([name, card, options], sort_keys=True, ensure_ascii=False)


def route_of(flow: Flow) -> str:
    assert flow.trigger is not None
    return route_key(flow.name, flow.trigger.card.name, flow.trigger.options)


def adopt_old_routes(store: EventStore, flow: Flow) -> int:
    """Move to ``flow``'s route what the store keeps under a file path that was this flow:
    its path now, a file that still reads as the same route, or a file gone whose name is
    this flow's file name. How many routes were moved."""
    route, moved = route_of(flow), 0
    for old in store.routes():
        if not old.startswith("[") and _was(Path(old), flow, route):
            store.move_route(old, route)
            moved += 1
    return moved


def _was(path: Path, flow: Flow, route: str) -> bool:
    if str(path) == str(flow.path.resolve()):
        return True
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:  # the release it was in is gone
        return path.stem == flow.path.stem
    try:
        data = load_yaml(text, str(path)).data
    except Exception:  # not a flow any more: not this one
        return False
    trigger = data.get("trigger") if isinstance(data, dict) else None
    if not isinstance(trigger, dict):
        return False
    name = str(data.get("name") or path.stem)
    return route_key(name, str(trigger.get("card")), trigger.get("options") or {}) == route
