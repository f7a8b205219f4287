"""Operators for the cards. Each sends its work through the connection's ``Sender`` under
the key ``airflow/{dag_id}/{run_id}/{task_id}/{map_index}``: the same on every retry of a
task instance, so a retry finds what an earlier try sent instead of sending it again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from flo_twilio.errors import InvalidInputError
from flo_twilio.hosts import HostSendError, Sender
from flo_twilio.hosts.airflow.hook import FloTwilioHook


def pool_of(conn_id: str) -> str:
    """The account's pool, unless a task names another."""
    return f"twilio_{conn_id}"


def work_key(context: Mapping[str, Any]) -> str:
    """The task instance's key: stable across its tries, distinct between tasks, map
    indexes and DAG runs."""
    ti = context["ti"]
    return f"airflow/{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}"


class CardOperator(BaseOperator):
    """Calls ``card`` once with ``options`` and ``inputs`` (both templated; the fields are
    the card's, as in docs/cards.md) and returns its outputs (to XCom).

    The task runs in the pool ``twilio_<conn id>`` unless ``pool`` says otherwise: create it
    (``airflow pools set``) with as many slots as the account may have requests in flight.
    ``state_folder`` keeps the intents (default ``$AIRFLOW_HOME/flo_twilio``): a local folder
    every worker that may retry the task sees (so they run on one machine); or
    ``journal_conn_id`` names a Postgres connection whose database keeps them (default
    $FLO_JOURNAL), shared by workers on any machine, with no local folder; ``settle`` is
    the settle window in seconds (default $FLO_SETTLE_SECONDS or 60). A failure a retry cannot mend (invalid input, a refused
    message) fails the task without retries; any other lets Airflow retry.
    """

    card: ClassVar[str] = ""
    template_fields: ClassVar[Sequence[str]] = ("options", "inputs", "state_folder")
    template_fields_renderers: ClassVar[dict[str, str]] = {"options": "json", "inputs": "json"}
    ui_color = "#f22f46"

    def __init__(
        self,
        *,
        inputs: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        card: str | None = None,
        twilio_conn_id: str = FloTwilioHook.default_conn_name,
        state_folder: str | None = None,
        settle: float | None = None,
        journal_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs["pool"] = kwargs.get("pool") or pool_of(twilio_conn_id)
        super().__init__(**kwargs)
        self.card_name = card or self.card
        if not self.card_name:
            raise ValueError(
                f"{self.task_id}: say which card to call, e.g. card='twilio.make_call'"
            )
        self.inputs, self.options = inputs or {}, options or {}
        self.twilio_conn_id, self.state_folder, self.settle = twilio_conn_id, state_folder, settle
        self.journal_conn_id = journal_conn_id

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """``BaseOperator.partial`` with the account's pool: Airflow schedules mapped tasks
        by what ``partial`` gathered, before any ``__init__`` runs."""
        mapped = super().partial(**kwargs)
        if mapped.kwargs.get("pool") is None:  # neither given nor in default_args
            conn_id = kwargs.get("twilio_conn_id", FloTwilioHook.default_conn_name)
            mapped.kwargs["pool"] = pool_of(conn_id)
        return mapped

    def execute(self, context: Any) -> Any:
        try:
            hook = FloTwilioHook(self.twilio_conn_id)
            sender = hook.get_conn(self.state_folder, self.settle, self.journal_conn_id)
            return self.send(sender, work_key(context))
        except HostSendError as exc:
            if exc.retryable:  # a retry under the same key finishes the work
                raise AirflowException(str(exc)) from exc
            raise AirflowFailException(str(exc)) from exc
        except InvalidInputError as exc:  # nothing was sent; the same input fails again
            raise AirflowFailException(str(exc)) from exc

    def send(self, sender: Sender, key: str) -> Any:
        """Send this task's work under ``key`` (how it goes, to the task's log); what to
        push to XCom."""
        return sender.send_once_sync(
            key, self.card_name, self.options, self.inputs, progress=self.log.info
        )


class SendSmsOperator(CardOperator):
    """Send an SMS (``twilio.send_sms``): options ``from`` or ``messagingServiceSid``,
    inputs ``to``, ``body``..."""

    card = "twilio.send_sms"


class SendMmsOperator(CardOperator):
    """Send an MMS (``twilio.send_mms``): inputs ``to``, ``mediaUrls``, ``body``..."""

    card = "twilio.send_mms"


class CustomApiOperator(CardOperator):
    """Any Twilio API call (``twilio.custom_api``): options ``method``, ``api``; inputs
    ``relativeUrl``, ``query``, ``headers``."""

    card = "twilio.custom_api"
