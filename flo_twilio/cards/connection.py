"""The ``twilio`` connection type: what "+Add Account" asks for, and how it connects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from flo_twilio.client import Credentials, TwilioClient
from flo_twilio.client.core import DEFAULT_MAX_IN_FLIGHT
from flo_twilio.connection import ConnectionType, Field
from flo_twilio.errors import AccountError

FIELDS = (
    Field("account_sid", "Account SID from the Twilio console (AC followed by 32 hex characters)."),
    Field("auth_token", "Auth Token from the Twilio console.", secret=True, required=False),
    Field("api_key", "API key SID (SK...), instead of the Auth Token.", required=False),
    Field("api_secret", "The API key's secret.", secret=True, required=False),
    Field("region", "Twilio region, e.g. ie1 (default us1).", required=False),
    Field("edge", "Twilio edge location, e.g. dublin.", required=False),
    Field(
        "api_base_url",
        "Another Twilio-compatible server, e.g. http://127.0.0.1:4010.",
        required=False,
    ),
    Field(
        "max_in_flight", "Requests in flight at once for this account (default 25).", required=False
    ),
)


def connect(
    values: Mapping[str, str], transport: httpx.AsyncBaseTransport | None = None
) -> TwilioClient:
    """A client for the account described by ``values`` (the fields above)."""
    credentials = Credentials.of(
        values["account_sid"],
        auth_token=values.get("auth_token"),
        api_key=values.get("api_key"),
        api_secret=values.get("api_secret"),
    )
    return TwilioClient(
        credentials,
        region=values.get("region") or None,
        edge=values.get("edge") or None,
        api_base_url=values.get("api_base_url") or None,
        transport=transport,
        max_in_flight=int(values.get("max_in_flight") or DEFAULT_MAX_IN_FLIGHT),
    )


async def verify(client: TwilioClient) -> dict[str, Any]:
    """Fetch the account: proves the credentials, that the answer is this very account, and
    tells its name and type."""
    account = await client.fetch_account()
    if account.get("sid") != client.account_sid:
        raise AccountError(
            f"the answer to GET /Accounts/{client.account_sid}.json is not that account "
            f"(its sid is {account.get('sid')!r}): is the API base URL a Twilio API?"
        )
    return {k: account.get(k) for k in ("friendly_name", "type", "status")}


TWILIO: ConnectionType[TwilioClient] = ConnectionType(
    name="twilio", title="Twilio", fields=FIELDS, connect=connect, verify=verify
)
