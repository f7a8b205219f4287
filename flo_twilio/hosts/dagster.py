"""Dagster: a resource for a Twilio account, and ops for the cards that send at most once
however often Dagster retries them (a RetryPolicy, or re-executing a run).

Each send is keyed by the op's place in the run (``send_key``): the same for every retry and
re-execution of that run, distinct between ops, mapping keys and runs. ``pip install
'flo-twilio[dagster]'``.
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import Field

from flo_twilio.errors import FloError
from flo_twilio.hosts.core import BulkResult, HostSendError, Sender, account_from


class TwilioResource(dg.ConfigurableResource):
    """A Twilio account for flo's cards. Its fields are those of ``dagster-twilio``'s
    ``TwilioResource`` (``account_sid``, ``auth_token``) and more; give the token as
    ``dg.EnvVar("TWILIO_AUTH_TOKEN")`` so that Dagster stores only the variable's name."""

    account_sid: str = Field(description="The Account SID (AC...), from Twilio's console.")
    auth_token: str = Field(
        description="The Auth Token: pass dg.EnvVar('TWILIO_AUTH_TOKEN'), never the value."
    )
    region: str | None = Field(default=None, description="A Twilio region, e.g. ie1.")
    edge: str | None = Field(default=None, description="A Twilio edge, e.g. dublin.")
    api_base_url: str | None = Field(
        default=None,
        description="Another Twilio-compatible server, e.g. the sandbox http://127.0.0.1:4010.",
    )
    max_in_flight: int | None = Field(
        default=None, description="Requests in flight at once, per process (default 25)."
    )
    max_per_second: float | None = Field(
        default=None,
        description="Message segments each sender sends a second, per process, e.g. 1 for a "
        "US long code.",
    )
    state: str | None = Field(
        default=None,
        description="The folder of flo's journal of intents: a local one every process that "
        "may retry an op sees, so they run on one machine (default $FLO_HOME/hosts).",
    )
    journal: str | None = Field(
        default=None,
        description="flo's journal in PostgreSQL (postgresql://USER:PASSWORD@HOST/DB), shared "
        "by processes on any machine, with no local folder: pass dg.EnvVar('FLO_JOURNAL'), "
        "never the URL (default $FLO_JOURNAL, else the state folder).",
    )
    settle: float | None = Field(
        default=None,
        description="Seconds to wait before looking up a send whose outcome is unknown "
        "(default $FLO_SETTLE_SECONDS or 60).",
    )

    def sender(self) -> Sender:
        """The process's one Sender of this account (one client, one in-flight cap)."""
        fields = {
            "account_sid": self.account_sid,
            "auth_token": self.auth_token,
            "region": self.region,
            "edge": self.edge,
            "api_base_url": self.api_base_url,
            "max_in_flight": _text(self.max_in_flight),
            "max_per_second": _text(self.max_per_second),
        }
        with _as_failure():
            account = account_from("dagster", fields)
            return Sender.shared(account, self.state, journal=self.journal, settle=self.settle)

    def send(
        self,
        context: dg.OpExecutionContext | dg.AssetExecutionContext,
        card: str,
        options: Mapping[str, Any],
        inputs: Mapping[str, Any],
        *,
        part: str | None = None,
    ) -> dict[str, Any]:
        """Call ``card`` once for this op (``part`` tells apart several sends of one op):
        its outputs. A retry returns what the first attempt sent, looking it up at Twilio
        when its outcome was not recorded, and sends only what never arrived."""
        sender = self.sender()
        with _as_failure():
            return sender.send_once_sync(
                send_key(context, part), card, options, inputs, progress=context.log.info
            )

    def send_bulk(
        self,
        context: dg.OpExecutionContext | dg.AssetExecutionContext,
        card: str,
        options: Mapping[str, Any],
        items: Sequence[Mapping[str, Any]],
        *,
        concurrency: int = 16,
        part: str | None = None,
    ) -> BulkResult:
        """Call ``card`` for each item's inputs as one flo run for this op, ``concurrency``
        at a time; a retry resumes the run and sends nothing twice."""
        sender = self.sender()
        with _as_failure():
            return sender.send_bulk_sync(
                send_key(context, part),
                card,
                options,
                items,
                concurrency=concurrency,
                progress=context.log.info,
            )


def _text(number: float | None) -> str | None:
    return None if number is None else str(number)


def send_key(
    context: dg.OpExecutionContext | dg.AssetExecutionContext, part: str | None = None
) -> str:
    """``dagster/<root run>/<op>[<mapping key>]/<part>``: the same for each retry of the op
    and each re-execution of its run (they share the root run), distinct between ops,
    mapping keys and runs."""
    run = context.run
    key = f"dagster/{run.root_run_id or run.run_id}/{context.op_handle}"
    mapping = context.get_mapping_key()
    if mapping is not None:
        key += f"[{mapping}]"
    return key if part is None else f"{key}/{part}"


@contextmanager
def _as_failure() -> Iterator[None]:
    """flo's errors as Dagster failures: retryable ones go to the op's RetryPolicy, others
    (bad input, a number Twilio refused) fail the op at once."""
    try:
        yield
    except HostSendError as error:
        metadata = {"flo run": error.run_id, "problems": len(error.problems)}
        raise dg.Failure(str(error), metadata, allow_retries=error.retryable) from None
    except FloError as error:
        raise dg.Failure(str(error), allow_retries=False) from None


def send_sms_op(name: str, options: Mapping[str, Any], **settings: Any) -> dg.OpDefinition:
    """An op sending its input ``inputs`` (to, body...) as an SMS; see ``card_op``."""
    return card_op("twilio.send_sms", name, options, **settings)


def send_mms_op(name: str, options: Mapping[str, Any], **settings: Any) -> dg.OpDefinition:
    """An op sending its input ``inputs`` (to, mediaUrls...) as an MMS; see ``card_op``."""
    return card_op("twilio.send_mms", name, options, **settings)


def custom_api_op(name: str, options: Mapping[str, Any], **settings: Any) -> dg.OpDefinition:
    """An op making the Custom API call its input ``inputs`` describes (relativeUrl,
    query...) with ``options`` (method, api); see ``card_op``."""
    return card_op("twilio.custom_api", name, options, **settings)


def card_op(
    card: str,
    name: str,
    options: Mapping[str, Any],
    *,
    resource_key: str = "twilio",
    pool: str | None = None,
    **op_settings: Any,
) -> dg.OpDefinition:
    """An op calling ``card`` with ``options`` and its input ``inputs`` (a dict), once
    under Dagster's retries; its output is the card's outputs. The account is the
    resource ``resource_key``; the op runs in the concurrency pool ``pool`` (default: the
    resource key, so one pool per account). ``op_settings`` go to ``dg.op``
    (``retry_policy``, ``tags``...)."""

    @_account_op(name, resource_key, pool, op_settings)
    def call(context: dg.OpExecutionContext, inputs: dict[str, Any]) -> dict[str, Any]:
        twilio: TwilioResource = getattr(context.resources, resource_key)
        return twilio.send(context, card, options, inputs)

    return call


def send_bulk_op(
    name: str,
    card: str,
    options: Mapping[str, Any],
    *,
    concurrency: int = 16,
    resource_key: str = "twilio",
    pool: str | None = None,
    **op_settings: Any,
) -> dg.OpDefinition:
    """An op calling ``card`` for each of its input ``items`` (a list of inputs) in one flo
    run, ``concurrency`` at a time; its output is each item's outputs, in item order. A
    retry resumes the run. Account and pool as ``card_op``."""

    @_account_op(name, resource_key, pool, op_settings)
    def call(context: dg.OpExecutionContext, items: list[dict[str, Any]]) -> list[Any]:
        twilio: TwilioResource = getattr(context.resources, resource_key)
        result = twilio.send_bulk(context, card, options, items, concurrency=concurrency)
        context.add_output_metadata({"flo run": result.run_id, "sent": result.done})
        return result.outputs

    return call


def _account_op(name: str, resource_key: str, pool: str | None, settings: dict[str, Any]) -> Any:
    """``dg.op`` for an op of the account ``resource_key``, in its pool."""
    return dg.op(
        name=name, required_resource_keys={resource_key}, pool=pool or resource_key, **settings
    )
