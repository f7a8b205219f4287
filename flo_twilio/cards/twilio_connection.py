"""The ``twilio`` connection type: what "+Add Account" asks for, how it is checked, and how
it connects. The only place Twilio's account fields are spelled out."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import httpx

from flo_twilio.client import Credentials, TwilioClient
from flo_twilio.client.core import DEFAULT_MAX_IN_FLIGHT, DEFAULT_RETRY
from flo_twilio.client.retry import RetryPolicy
from flo_twilio.client.urls import base_url, check_base_url, check_label
from flo_twilio.connection import ConnectionType, Field, Gate, SharedLimits
from flo_twilio.errors import AccountError, InvalidInputError, Problem

ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
API_KEY_SID = re.compile(r"SK[0-9a-fA-F]{32}")
MAX_RETRIES = 20  # a call ends within its deadline anyway

FIELDS = (
    Field(
        "account_sid",
        "Account SID",
        "Account SID from the Twilio console (AC followed by 32 hex characters).",
        env="TWILIO_ACCOUNT_SID",
    ),
    Field(
        "auth_token",
        "Auth Token",
        "Auth Token from the Twilio console.",
        secret=True,
        required=False,
        required_without="api_key",
        env="TWILIO_AUTH_TOKEN",
    ),
    Field(
        "api_key",
        "API key",
        "API key SID (SK...), instead of the Auth Token.",
        required=False,
        env="TWILIO_API_KEY",
    ),
    Field(
        "api_secret",
        "API key secret",
        "The API key's secret.",
        secret=True,
        required=False,
        required_with="api_key",
        env="TWILIO_API_SECRET",
    ),
    Field(
        "region",
        "Region",
        "Twilio region, e.g. ie1 (default us1).",
        required=False,
        env="TWILIO_REGION",
    ),
    Field(
        "edge",
        "Edge",
        "Twilio edge location, e.g. dublin.",
        required=False,
        env="TWILIO_EDGE",
    ),
    Field(
        "api_base_url",
        "API base URL",
        "Another Twilio-compatible server, e.g. http://127.0.0.1:4010.",
        required=False,
        env="TWILIO_API_BASE_URL",
    ),
    Field(
        "max_in_flight",
        "Requests in flight",
        "Requests in flight at once for this account (default 25).",
        required=False,
    ),
    Field(
        "max_per_second",
        "Segments per second",
        "Message segments each sender sends a second, e.g. 1 for a US long code "
        "(default: no limit).",
        required=False,
    ),
    Field(
        "sender_rate",
        "Sender rates",
        "A sender's own segments a second, SENDER=RATE (a phone number or a Messaging "
        "Service SID), e.g. +15005550006=1; repeatable.",
        required=False,
        repeatable=True,
    ),
    Field(
        "retries",
        "Tries again",
        "Tries again of a request Twilio did not take (429, no connection) within the "
        f"request's deadline (default {DEFAULT_RETRY.max_attempts - 1}; 0: one try).",
        required=False,
    ),
)


def connect(
    values: Mapping[str, str],
    transport: httpx.AsyncBaseTransport | None = None,
    limits: SharedLimits | None = None,
) -> TwilioClient:
    """A client for the account described by ``values`` (the fields above), checked first:
    a placeholder such as ``AC...`` is refused at once, before any request. With ``limits``,
    the caps the account sets (Twilio's are per account) hold across the processes sharing
    them (the default in-flight cap stays per process)."""
    problems = check(values)
    if problems:
        raise InvalidInputError(problems)
    cap = int(values.get("max_in_flight") or 0) or None
    max_per_second = float(values.get("max_per_second") or 0) or None
    key = f"twilio:{values['account_sid']}"
    gate = limits.gate(key, cap, None) if limits and cap else None
    gate_for = None
    if limits:
        shared = limits

        def gate_for(sender: str, rate: float) -> Gate:
            return shared.gate(f"{key}:{sender}", None, rate)

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
        max_in_flight=cap or DEFAULT_MAX_IN_FLIGHT,
        max_per_second=max_per_second,
        retry=retry_policy(values.get("retries")),
        gate=gate,
        sender_rates=sender_rates(values.get("sender_rate") or ""),
        gate_for=gate_for,
    )


def retry_policy(retries: str | None) -> RetryPolicy:
    """The client's retry policy with ``retries`` tries after the first (default: its own)."""
    if not retries:
        return DEFAULT_RETRY
    return dataclasses.replace(DEFAULT_RETRY, max_attempts=1 + int(retries))


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


def check(values: Mapping[str, str]) -> list[Problem]:
    """What is wrong with an account's values: SIDs, cap, region, edge and base URL (the
    last three decide where the credentials go)."""
    problems = []
    if values.get("account_sid") and not ACCOUNT_SID.fullmatch(values["account_sid"]):
        problems.append(
            Problem(
                "the Account SID must be AC followed by 32 hexadecimal characters",
                hint="copy it from the Twilio console's Account Info",
            )
        )
    if values.get("api_key") and not API_KEY_SID.fullmatch(values["api_key"]):
        problems.append(Problem("the API key must be SK followed by 32 hexadecimal characters"))
    cap = values.get("max_in_flight", "1")
    if not cap.isdigit() or int(cap) < 1:
        problems.append(
            Problem("max_in_flight (--max-in-flight) must be a whole number of 1 or more")
        )
    retries = values.get("retries", "0")
    if not (retries.isascii() and retries.isdigit()) or int(retries) > MAX_RETRIES:
        problems.append(
            Problem(
                f"retries (--retries) must be a whole number from 0 to {MAX_RETRIES}",
                hint="the tries again of a request Twilio did not take; 0 tries once",
            )
        )
    if not positive_number(values.get("max_per_second", "1")):
        problems.append(
            Problem(
                "max_per_second (--max-per-second) must be a number above 0",
                hint=f"at least {MIN_RATE:g}, e.g. 1, 0.5 or 30",
            )
        )
    problems += sender_rate_problems(values.get("sender_rate") or "")
    for name in ("region", "edge", "api_base_url"):
        value = values.get(name)
        try:
            if value and name == "api_base_url":
                check_base_url(value)
            elif value:
                check_label(name, value)
        except InvalidInputError as exc:
            problems += exc.problems
    return problems


SENDER = re.compile(r"(whatsapp:)?\+[1-9][0-9]{1,14}|MG[0-9a-fA-F]{32}")


def sender_rates(text: str) -> dict[str, float]:
    """``SENDER=RATE,...`` (as stored) by sender; checked first by ``check``."""
    pairs = (item.rpartition("=") for item in text.split(",") if item.strip())
    return {sender.strip(): float(rate) for sender, _, rate in pairs}


def sender_rate_problems(text: str) -> list[Problem]:
    problems = []
    for item in (item.strip() for item in text.split(",") if item.strip()):
        sender, _, rate = item.rpartition("=")
        if not SENDER.fullmatch(sender.strip()) or not positive_number(rate):
            problems.append(
                Problem(
                    f"sender_rate (--sender-rate) {item!r} is not SENDER=RATE",
                    hint="a phone number (+15005550006) or a Messaging Service SID (MG...), "
                    f"then = and its segments a second (at least {MIN_RATE:g}), e.g. +15005550006=1",
                )
            )
    return problems


MIN_RATE = 0.001  # segments or requests a second; slower, one message would wait for hours


def positive_number(text: str) -> bool:
    """``text`` is a rate flo can pace by: a finite number of at least ``MIN_RATE`` (a
    rate of 1e-308 would hold the second message for ever)."""
    try:
        return MIN_RATE <= float(text) < float("inf")
    except ValueError:
        return False


def describe(values: Mapping[str, str]) -> dict[str, str]:
    """The account's SID, where its requests go, and which kind of secret it uses."""
    host = base_url(
        region=values.get("region"),
        edge=values.get("edge"),
        api_base_url=values.get("api_base_url"),
    )
    auth = "api_key" if values.get("api_key") else "auth_token"
    return {"account_sid": values.get("account_sid", ""), "api_host": host, "auth": auth}


def location(values: Mapping[str, str]) -> dict[str, str]:
    """Where the account's messages live: the API host its base URL, region and edge lead
    to (each region keeps its own messages)."""
    return {"API host": describe(values)["api_host"]}


async def mint_api_key(values: Mapping[str, str], label: str) -> dict[str, str]:
    """Use the Auth Token once to create an API key; the key and its secret replace it."""
    if values.get("api_key"):
        raise InvalidInputError("--mint-api-key needs the Auth Token, not an API key")
    async with connect(values) as client:
        key = await client.create_api_key(f"flo-twilio {label}")
    return {"api_key": key["sid"], "api_secret": key["secret"]}


TWILIO: ConnectionType[TwilioClient] = ConnectionType(
    name="twilio",
    title="Twilio",
    fields=FIELDS,
    connect=connect,
    verify=verify,
    check=check,
    describe=describe,
    mint_key=mint_api_key,
    webhook_secret="auth_token",
    account_id="account_sid",
    account_facts={"sid": "account_sid"},
    location=location,
)
