"""A campaign in Dagster: a welcome SMS to each sign-up (an op per person) and the newsletter
to everyone (one op for the whole list), each message sent once however often Dagster
retries. Run it with: dagster job execute -f examples/dagster_campaign.py -j campaign"""

import csv
import os

import dagster as dg

from flo_twilio.hosts.dagster import TwilioResource, send_bulk_op, send_sms_op

SENDER = {"from": "+15005550006"}
RETRY = dg.RetryPolicy(max_retries=3, delay=1)


class Recipients(dg.Config):
    path: str = "sample_flows/recipients.csv"  # phone,name


def rows(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


@dg.op(out=dg.DynamicOut(dict))
def signups(config: Recipients):
    for row in rows(config.path):
        message = {"to": row["phone"], "body": f"Welcome aboard, {row['name']}!"}
        yield dg.DynamicOutput(message, mapping_key=row["phone"].lstrip("+"))


@dg.op
def newsletter(config: Recipients) -> list:
    people = rows(config.path)
    return [{"to": row["phone"], "body": f"{row['name']}, our news is out."} for row in people]


welcome = send_sms_op("welcome", SENDER, retry_policy=RETRY)
send_newsletter = send_bulk_op("send_newsletter", "twilio.send_sms", SENDER, retry_policy=RETRY)


# A run whose worker dies (a kill, out of memory, a lost machine) is retried by the daemon
# (dagster.yaml: run_retries: enabled: true) with all its steps: those that sent return what
# they sent, the rest send. The default, FROM_FAILURE, finds no step to retry when the worker
# died before the remaining mapped steps started, and leaves them unsent.
@dg.job(tags={"dagster/max_retries": 3, "dagster/retry_strategy": "ALL_STEPS"})
def campaign():
    signups().map(welcome)
    send_newsletter(newsletter())


defs = dg.Definitions(
    jobs=[campaign],
    resources={
        "twilio": TwilioResource(
            account_sid=dg.EnvVar("TWILIO_ACCOUNT_SID"),
            auth_token=dg.EnvVar("TWILIO_AUTH_TOKEN"),  # Dagster keeps the name, not the token
            api_base_url=os.environ.get("TWILIO_API_BASE_URL"),  # e.g. the sandbox; unset: Twilio
            state=os.environ.get("FLO_STATE"),  # flo's journal: a folder every worker sees
        )
    },
)
