"""flo inside the automation hosts people already run: the host-facing core (``Sender``),
and one adapter per host (``flo_twilio.hosts.airflow``, ``.prefect``, ``.dagster``), each
importing its host only when it is used."""

from flo_twilio.hosts.core import BulkResult, HostSendError, Sender, account_from

__all__ = ["BulkResult", "HostSendError", "Sender", "account_from"]
