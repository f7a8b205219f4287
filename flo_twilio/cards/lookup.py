"""Look up a phone number: one GET to Lookups v2 (``lookups.twilio.com``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from flo_twilio.card import Card, CardContext
from flo_twilio.cards.manifest_folder import load_manifest
from flo_twilio.client import TwilioClient


def lookup_request(inputs: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The path (the number percent-encoded, + kept) and query of the look-up."""
    query = {
        "Fields": ",".join(inputs.get("fields") or []),
        "CountryCode": inputs.get("countryCode"),
    }
    path = "/v2/PhoneNumbers/" + quote(inputs["phoneNumber"], safe="+")
    return path, {
        name: value.upper() if name == "CountryCode" else value
        for name, value in query.items()
        if value
    }


def lookup_outputs(answer: Mapping[str, Any]) -> dict[str, Any]:
    """A Lookups v2 answer as the card's outputs."""
    line = answer.get("line_type_intelligence") or {}
    return {
        "valid": bool(answer.get("valid")),
        "phoneNumber": str(answer.get("phone_number") or ""),
        "nationalFormat": answer.get("national_format"),
        "countryCode": answer.get("country_code"),
        "callingCountryCode": answer.get("calling_country_code"),
        "validationErrors": list(answer.get("validation_errors") or []),
        "lineType": line.get("type"),
        "carrierName": line.get("carrier_name"),
    }


class LookupPhoneNumber(Card):
    name = "twilio.lookup_phone_number"
    manifest = load_manifest(name)

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        path, query = lookup_request(inputs)
        answer = await client.request_json(
            "GET", path, expect="valid", params=query, base=client.product_url("lookups")
        )
        return lookup_outputs(answer)

    def preview(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        path, query = lookup_request(inputs)
        return {**client.preview("GET", path, base=client.product_url("lookups")), "query": query}
