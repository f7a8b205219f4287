"""The hook of the ``twilio`` connection: the Account SID is its login, the Auth Token its
password (or, with an ``api_key`` extra, the API key's secret); region, edge,
api_base_url, max_in_flight and max_per_second are extras. The journal may be in the
PostgreSQL database of a Postgres connection (``journal_url``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from airflow.sdk import BaseHook

from flo_twilio.accounts import Account
from flo_twilio.errors import FloError, InvalidInputError, Problem
from flo_twilio.hosts import Sender, account_from
from flo_twilio.runner import is_url, journal_target

EXTRAS = ("region", "edge", "api_base_url", "api_key", "max_in_flight", "max_per_second")
LIBPQ_EXTRAS = (  # a Postgres connection's extras that are libpq's, kept in the URL
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
)


def default_state(journal: str | None = None) -> Path | None:
    """Where the intents are kept unless an operator's ``state_folder`` says otherwise:
    ``$AIRFLOW_HOME/flo_twilio`` (AIRFLOW_HOME defaults to ~/airflow, as in Airflow); no
    folder when the journal (``journal``, else $FLO_JOURNAL) is in PostgreSQL."""
    if is_url(journal_target(journal)[0] or ""):
        return None
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow") / "flo_twilio"


def journal_url(conn_id: str) -> str:
    """The ``postgresql://`` URL of the Airflow connection ``conn_id``: its host, port,
    login, password, schema (the database) and libpq extras (sslmode...). Read from the
    Connection itself, so the Postgres provider need not be installed."""
    conn = BaseHook.get_connection(conn_id)
    if not conn.host:
        hint = "give it the host, port, login, password and database of flo's journal"
        problem = Problem(f"the journal's connection {conn_id!r} has no host", hint=hint)
        raise InvalidInputError([problem])
    password = f":{quote(conn.password, safe='')}" if conn.password else ""
    user = f"{quote(conn.login or '', safe='')}{password}@" if conn.login or password else ""
    port = f":{conn.port}" if conn.port else ""
    extras = {k: str(v) for k, v in conn.extra_dejson.items() if k in LIBPQ_EXTRAS}
    query = f"?{urlencode(extras)}" if extras else ""
    return f"postgresql://{user}{conn.host}{port}/{quote(conn.schema or '', safe='')}{query}"


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
        self,
        state_folder: str | Path | None = None,
        settle: float | None = None,
        journal_conn_id: str | None = None,
    ) -> Sender:
        """The process's ``Sender`` for this connection, keeping its intents in the
        PostgreSQL database of the connection ``journal_conn_id`` (default $FLO_JOURNAL),
        else in ``state_folder`` (default ``default_state()``)."""
        journal = journal_url(journal_conn_id) if journal_conn_id else None
        state = state_folder or default_state(journal)
        return Sender.shared(self.account(), state, journal=journal, settle=settle)

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's "Test" button: one request with the credentials."""
        try:
            facts = self.get_conn().test_sync()
        except FloError as exc:
            return False, str(exc)
        return True, f"Connected to {facts.get('friendly_name')!r} ({facts.get('status')})"
