"""The hook of the ``twilio`` connection: the Account SID is its login, the Auth Token its
password (or, with an ``api_key`` extra, the API key's secret); region, edge,
api_base_url, max_in_flight and max_per_second are extras."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook

from flo_twilio.accounts import Account
from flo_twilio.errors import FloError
from flo_twilio.hosts import Sender, account_from

EXTRAS = ("region", "edge", "api_base_url", "api_key", "max_in_flight", "max_per_second")


def default_state() -> Path:
    """Where the intents are kept unless an operator's ``state_folder`` says otherwise:
    ``$AIRFLOW_HOME/flo_twilio`` (AIRFLOW_HOME defaults to ~/airflow, as in Airflow)."""
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow") / "flo_twilio"


class FloTwilioHook(BaseHook):
    """Reads a ``twilio`` connection and gives its ``Sender``: one per process, account and
    state folder, so every task of a worker process shares one client."""

    conn_name_attr = "twilio_conn_id"
    default_conn_name = "twilio_default"
    conn_type = "twilio"
    hook_name = "Twilio (flo)"

    def __init__(self, twilio_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.twilio_conn_id = twilio_conn_id

    def account(self) -> Account:
        """The connection as a flo account, its fields checked (``InvalidInputError``
        names the wrong one)."""
        conn = self.get_connection(self.twilio_conn_id)
        extra = conn.extra_dejson
        found = {}
        for name in EXTRAS:  # the form's fields, saved with or without Airflow 2's prefix
            value = extra.get(name, extra.get(f"extra__twilio__{name}"))
            found[name] = None if value is None else str(value)
        secret = "api_secret" if found["api_key"] else "auth_token"
        return account_from(
            self.twilio_conn_id, {"account_sid": conn.login, secret: conn.password, **found}
        )

    def get_conn(
        self, state_folder: str | Path | None = None, settle: float | None = None
    ) -> Sender:
        """The process's ``Sender`` for this connection, keeping its intents in
        ``state_folder`` (default ``default_state()``)."""
        return Sender.shared(self.account(), state_folder or default_state(), settle=settle)

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's "Test" button: one request with the credentials."""
        try:
            facts = self.get_conn().test_sync()
        except FloError as exc:
            return False, str(exc)
        return True, f"Connected to {facts.get('friendly_name')!r} ({facts.get('status')})"
