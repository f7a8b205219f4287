"""What the commands print as JSON: indented, and written piece by piece when a list lives
in the journal (a for_each step's outputs, a run's failures): such a list goes out item by
item and is never held whole."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flo_twilio.redaction import masked_json


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout."""
    print(json.dumps(value, indent=2, ensure_ascii=False))


def write_json(value: Any, write: Callable[[str], Any], indent: int = 2, level: int = 0) -> None:
    inner, outer = " " * indent * (level + 1), " " * indent * level
    if isinstance(value, dict | list):
        try:  # plain data: at once
            text = masked_json(value, indent=indent)
        except TypeError:  # it holds a list to stream
            pass
        else:
            write(text.replace("\n", "\n" + outer))
            return
    if isinstance(value, Mapping):
        write("{")
        for number, (key, item) in enumerate(value.items()):
            write(f"{',' if number else ''}\n{inner}{json.dumps(str(key), ensure_ascii=False)}: ")
            write_json(item, write, indent, level + 1)
        write(f"\n{outer}}}" if value else "}")
    elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
        write("[")
        empty = True
        for item in value:
            write(f"{'' if empty else ','}\n{inner}")
            write_json(item, write, indent, level + 1)
            empty = False
        write("]" if empty else f"\n{outer}]")
    else:
        write(masked_json(value, default=str))


def warn_if_settle_is_short(settle: float) -> None:
    """Say on stderr when the settle window is shorter than a request's deadline: a send
    still on its way when the window ends may arrive after it was looked for, and be sent
    again."""
    from flo_twilio.client import DEFAULT_DEADLINE as deadline

    if settle < deadline:
        print(
            f"flo: warning: a settle window of {settle:g} s is shorter than the {deadline:g} s "
            "a request may take: a message still on its way when it ends could be sent "
            "twice (use --settle 60, the default, for real sends)",
            file=sys.stderr,
        )
