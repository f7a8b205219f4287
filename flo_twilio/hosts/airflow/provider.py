"""What Airflow's providers manager reads from the ``apache_airflow_provider`` entry point:
the ``twilio`` connection type, its hook and its form, without importing either."""

from __future__ import annotations

from typing import Any

HOOK = "flo_twilio.hosts.airflow.hook.FloTwilioHook"


def _field(kind: str, label: str, description: str) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": [kind, "null"]}}


def _text(label: str, description: str) -> dict[str, Any]:
    return _field("string", label, description)


def get_provider_info() -> dict[str, Any]:
    """The provider's description, as Airflow 3's ``provider_info.schema.json`` has it."""
    return {
        "package-name": "flo-twilio",
        "name": "flo Twilio",
        "description": "Twilio cards that send exactly once under Airflow's retries.",
        "connection-types": [
            {
                "connection-type": "twilio",
                "hook-class-name": HOOK,
                "hook-name": "Twilio (flo)",
                "conn-fields": {
                    "region": _text("Region", "Twilio region, e.g. ie1 (default us1)."),
                    "edge": _text("Edge", "Twilio edge location, e.g. dublin."),
                    "api_base_url": _text(
                        "API base URL",
                        "Another Twilio-compatible server, e.g. http://127.0.0.1:4010.",
                    ),
                    "api_key": _text(
                        "API key",
                        "An API key SID (SK...): the password is then the key's secret.",
                    ),
                    "max_in_flight": _field(
                        "integer",
                        "Requests in flight",
                        "Requests in flight at once, per task process (default 25).",
                    ),
                    "max_per_second": _field(
                        "number",
                        "Segments per second",
                        "Message segments each sender sends a second, per task process "
                        "(default: no limit).",
                    ),
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "port", "schema", "extra"],
                    "relabeling": {"login": "Account SID", "password": "Auth Token"},
                    "placeholders": {"login": "AC followed by 32 hex characters"},
                },
            }
        ],
        "hook-class-names": [HOOK],
    }
