"""The event a flow with a trigger runs for, when it is given by hand (``flo run FLOW
--event @event.json``): read, and checked against the trigger's outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flo_twilio.errors import InvalidInputError, Problem
from flo_twilio.runner.flow import Flow


def given_event(
    flow: Flow, argument: str | None, *, required: bool = True
) -> dict[str, Any] | None:
    """The event ``--event`` gives (``@file.json`` or JSON text), checked; None when the flow
    has no trigger, or none is given and none is ``required``."""
    if flow.trigger is None:
        if argument is not None:
            raise InvalidInputError(
                [Problem("--event is for a flow with a trigger", str(flow.path), "leave it out")]
            )
        return None
    card = flow.trigger.card
    if argument is None:
        if not required:
            return None
        raise InvalidInputError(
            [
                Problem(
                    f"this flow starts with the trigger {card.name}: it needs an event",
                    str(flow.path),
                    f"try it once with --event @event.json (an object with the outputs of "
                    f"{card.name}: flo cards show {card.name}), or serve it: flo serve {flow.path}",
                )
            ]
        )
    source = argument[1:] if argument.startswith("@") else "--event"
    try:
        text = Path(source).read_text(encoding="utf-8") if argument.startswith("@") else argument
        event = json.loads(text)
    except OSError as exc:
        raise InvalidInputError(
            [Problem(f"cannot read the event: {exc.strerror}", source)]
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError([Problem(f"the event is not JSON: {exc}", source)]) from None
    problems = [
        Problem(p.message.replace("outputs", "event", 1), source, p.hint)
        for p in card.manifest.problems("outputs", event)
    ]
    if problems:
        raise InvalidInputError(problems)
    return dict(event)
