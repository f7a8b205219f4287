"""A Dagster job whose ``TwilioResource`` keeps flo's journal in PostgreSQL, its URL given
as ``dg.EnvVar("TWILIO_JOURNAL")`` (run by tests/hosts/test_dagster.py)."""

import dagster as dg

from flo_twilio.hosts.dagster import TwilioResource, send_bulk_op

PEOPLE = [{"to": f"+1206557{n:04d}", "body": "kept in PostgreSQL"} for n in range(5)]


@dg.op
def people() -> list:
    return PEOPLE


send = send_bulk_op("send", "twilio.send_sms", {"from": "+15005550006"}, concurrency=2)


@dg.job
def journalled():
    send(people())


twilio = TwilioResource(
    account_sid=dg.EnvVar("TWILIO_ACCOUNT_SID"),
    auth_token=dg.EnvVar("TWILIO_AUTH_TOKEN"),
    api_base_url=dg.EnvVar("TWILIO_API_BASE_URL"),
    journal=dg.EnvVar("TWILIO_JOURNAL"),  # Dagster keeps the name, not the URL
)
defs = dg.Definitions(jobs=[journalled], resources={"twilio": twilio})
