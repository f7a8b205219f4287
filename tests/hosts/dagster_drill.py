"""Dagster jobs for tests/hosts/test_dagster.py, run in the Dagster venv by dagster_run.py.

The crash drills: each op sends an SMS and then crashes on its first attempt of the first
run, as a worker that dies after the send and before Dagster records the op's success.
Dagster then retries it (``*_retried``: a RetryPolicy) or the run is re-executed from
failure (``*_reexecuted``). ``flo_*`` send through flo's resource; ``plain_*`` call the card
directly, as a host does without flo (the control: it sends again). ``asset_retried``
materializes an asset that sends a bulk through flo and crashes once; ``cards`` runs the
MMS and Custom API ops and checks their outputs.

The error drills: ``refused`` (Twilio refuses the number: not retried) and ``unfinished``
(an attempt whose outcome is still unknown: retried by the RetryPolicy)."""

import asyncio
import os

import dagster as dg

from flo_twilio import CardContext, call_card, load_registry
from flo_twilio.cards import TWILIO
from flo_twilio.hosts import HostSendError
from flo_twilio.hosts.dagster import (
    TwilioResource,
    _as_failure,
    custom_api_op,
    send_mms_op,
    send_sms_op,
)

SENDER = {"from": "+15005550006"}
RETRY = dg.RetryPolicy(max_retries=3, delay=0.2)
FIRST = {"flo_retried": 100, "plain_retried": 200, "flo_reexecuted": 300, "plain_reexecuted": 400}


class People(dg.Config):
    count: int = 6


@dg.op(out=dg.DynamicOut(dict))
def people(context: dg.OpExecutionContext, config: People):
    first = FIRST[context.job_name]
    for n in range(first, first + config.count):
        body = f"{context.job_name} {n}"
        yield dg.DynamicOutput({"to": f"+1206555{n:04d}", "body": body}, mapping_key=f"p{n}")


def crash_on_first_attempt(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> None:
    if context.retry_number == 0 and context.run.parent_run_id is None:
        raise RuntimeError("the worker died after sending")


def through_flo(context: dg.OpExecutionContext, twilio: TwilioResource, inputs: dict) -> None:
    twilio.send(context, "twilio.send_sms", SENDER, inputs)
    crash_on_first_attempt(context)


def plain(context: dg.OpExecutionContext, twilio: TwilioResource, inputs: dict) -> None:
    account = {"account_sid": twilio.account_sid, "auth_token": twilio.auth_token}
    account["api_base_url"] = twilio.api_base_url

    async def send() -> None:
        card = load_registry().card("twilio.send_sms")()
        async with TWILIO.connect(account) as client:
            await call_card(card, CardContext(client, {"sid": client.account_sid}), SENDER, inputs)

    asyncio.run(send())
    crash_on_first_attempt(context)


def crash_drill(name: str, send, retry_policy: dg.RetryPolicy | None) -> dg.JobDefinition:
    send_op = dg.op(name=f"{name}_send", retry_policy=retry_policy, pool="twilio")(send)

    @dg.job(name=name)
    def job():
        people().map(send_op)

    return job


@dg.asset(retry_policy=RETRY, pool="twilio")
def announcement(context: dg.AssetExecutionContext, twilio: TwilioResource) -> None:
    """An asset sending to everyone in one flo run, then crashing once: retried."""
    items = [{"to": f"+1206555{n:04d}", "body": f"asset_retried {n}"} for n in range(500, 506)]
    twilio.send_bulk(context, "twilio.send_sms", SENDER, items)
    crash_on_first_attempt(context)


@dg.op
def picture() -> dict:
    return {"to": "+12065550600", "body": "cards", "mediaUrls": ["https://example.com/a.png"]}


@dg.op
def account_path() -> dict:
    return {"relativeUrl": f"/Accounts/{os.environ['TWILIO_ACCOUNT_SID']}.json"}


@dg.op
def check_outputs(mms: dict, api: dict) -> None:
    assert mms["sid"].startswith("MM") and mms["numMedia"] == 1, mms
    assert api["statusCode"] == 200 and api["body"]["sid"] == os.environ["TWILIO_ACCOUNT_SID"]


@dg.job
def cards():
    """The other cards' ops: an MMS, and a Custom API call fetching the account."""
    mms = send_mms_op("mms_send", SENDER, retry_policy=RETRY)(picture())
    api = custom_api_op("fetch_account", {"method": "GET"}, retry_policy=RETRY)(account_path())
    check_outputs(mms, api)


@dg.op
def invalid_number() -> dict:
    return {"to": "+15005550001", "body": "to a number Twilio refuses"}


@dg.job
def refused():
    send_sms_op("refused_send", SENDER, retry_policy=RETRY)(invalid_number())


@dg.op(retry_policy=RETRY)
def unfinished_send(context: dg.OpExecutionContext) -> None:
    if context.retry_number == 0:
        with _as_failure():
            raise HostSendError("an outcome is still unknown", retryable=True)


@dg.job
def unfinished():
    unfinished_send()


defs = dg.Definitions(
    jobs=[
        crash_drill("flo_retried", through_flo, RETRY),
        crash_drill("plain_retried", plain, RETRY),
        crash_drill("flo_reexecuted", through_flo, None),
        crash_drill("plain_reexecuted", plain, None),
        dg.define_asset_job("asset_retried", [announcement]),
        cards,
        refused,
        unfinished,
    ],
    assets=[announcement],
    resources={
        "twilio": TwilioResource(
            account_sid=dg.EnvVar("TWILIO_ACCOUNT_SID"),
            auth_token=dg.EnvVar("TWILIO_AUTH_TOKEN"),
            api_base_url=os.environ["TWILIO_API_BASE_URL"],
        )
    },
)
