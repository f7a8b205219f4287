"""The reference runner: flow loading, ${{ }} resolution, the engine and the journal.

Everything a host, ``flo serve`` or the CLI uses is here (``from flo_twilio.runner import
Runner, Plan, Run``); the modules behind it are the runner's own. Each name is imported
when first used, so that ``flo --version`` loads none of them."""

from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from flo_twilio.runner.api import Outcome, Plan, Run, Runner
    from flo_twilio.runner.card_context import account_id, open_context
    from flo_twilio.runner.engine import Tally
    from flo_twilio.runner.events import EventStore, Pending, open_events
    from flo_twilio.runner.flow import Flow, Step, load_flow
    from flo_twilio.runner.inputs import FileOptions, resolve_inputs
    from flo_twilio.runner.journal import Journal, open_journal
    from flo_twilio.runner.journal_store import JournalUnreachable, is_url, journal_target
    from flo_twilio.runner.optouts import OptOuts
    from flo_twilio.runner.precheck import Findings
    from flo_twilio.runner.process import MISSED_BEATS, heartbeat_seconds
    from flo_twilio.runner.refs import Template
    from flo_twilio.runner.rowfiles import CsvFile, JsonArrayFile, JsonLinesFile, Where, json_file
    from flo_twilio.runner.triggered import given_event
    from flo_twilio.runner.wording import counted
    from flo_twilio.runner.yamlmarks import load as load_yaml

_HOMES = {
    "api": ("Outcome", "Plan", "Run", "Runner"),
    "card_context": ("account_id", "open_context"),
    "engine": ("Tally",),
    "events": ("EventStore", "Pending", "open_events"),
    "flow": ("Flow", "Step", "load_flow"),
    "inputs": ("FileOptions", "resolve_inputs"),
    "journal": ("Journal", "open_journal"),
    "optouts": ("OptOuts",),
    "journal_store": ("JournalUnreachable", "is_url", "journal_target"),
    "precheck": ("Findings",),
    "process": ("MISSED_BEATS", "heartbeat_seconds"),
    "refs": ("Template",),
    "rowfiles": ("CsvFile", "JsonArrayFile", "JsonLinesFile", "Where", "json_file"),
    "triggered": ("given_event",),
    "wording": ("counted",),
}
_HOME_OF = {name: (module, name) for module, names in _HOMES.items() for name in names}
_HOME_OF["load_yaml"] = ("yamlmarks", "load")  # a flow-like YAML file, with line:col marks


def __getattr__(name: str) -> _Any:
    if name not in _HOME_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _HOME_OF[name]
    value = getattr(_import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME_OF})


__all__ = sorted(_HOME_OF)
