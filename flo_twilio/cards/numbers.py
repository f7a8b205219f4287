"""The account's phone numbers: search what can be bought (``AvailablePhoneNumbers``), buy
one (``POST IncomingPhoneNumbers.json``), change one and release one
(``IncomingPhoneNumbers/{sid}.json``). Inputs are Twilio's fields in camelCase."""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Any

from flo_twilio.card import Card, CardContext
from flo_twilio.cards.manifest_folder import load_manifest
from flo_twilio.cards.recent import created_since
from flo_twilio.cards.removal import RemoveResource
from flo_twilio.client import TwilioClient, parse_date
from flo_twilio.errors import InvalidInputError, Problem

NUMBER_KEY = "incoming_phone_numbers"


def pascal(name: str) -> str:
    """A camelCase input's Twilio field (or path part): ``smsUrl`` -> ``SmsUrl``."""
    return name[:1].upper() + name[1:]


def twilio_form(inputs: Mapping[str, Any], leave_out: Container[str] = ()) -> dict[str, Any]:
    """Every input as Twilio's field, but those in ``leave_out``."""
    return {pascal(name): value for name, value in inputs.items() if name not in leave_out}


def number_outputs(number: Mapping[str, Any]) -> dict[str, Any]:
    """An IncomingPhoneNumber resource as the cards' outputs."""
    created = parse_date(number.get("date_created"))
    return {
        "sid": number.get("sid"),
        "phoneNumber": number.get("phone_number"),
        "friendlyName": number.get("friendly_name"),
        "capabilities": number.get("capabilities") or {},
        "smsUrl": number.get("sms_url"),
        "voiceUrl": number.get("voice_url"),
        "statusCallback": number.get("status_callback"),
        "status": number.get("status"),
        "dateCreated": created.isoformat() if created else None,
        "uri": number.get("uri"),
    }


def available_outputs(number: Mapping[str, Any]) -> dict[str, Any]:
    """An AvailablePhoneNumber as an item of Search available numbers' output."""
    return {
        "phoneNumber": number.get("phone_number"),
        "friendlyName": number.get("friendly_name"),
        "locality": number.get("locality"),
        "region": number.get("region"),
        "postalCode": number.get("postal_code"),
        "isoCountry": number.get("iso_country"),
        "capabilities": number.get("capabilities") or {},
        "addressRequirements": number.get("address_requirements"),
    }


def numbers_path(client: TwilioClient) -> str:
    return f"{client.account_path}/IncomingPhoneNumbers.json"


def number_path(client: TwilioClient, sid: str) -> str:
    """The path of one number (its sid is checked against the manifest's pattern first)."""
    return f"{client.account_path}/IncomingPhoneNumbers/{sid}.json"


class SearchAvailableNumbers(Card):
    name = "twilio.search_available_numbers"
    manifest = load_manifest(name)

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        query = twilio_form(inputs, leave_out={"limit"})
        query["PageSize"] = inputs.get("limit", 20)
        path = (
            f"{client.account_path}/AvailablePhoneNumbers/{options.get('country', 'US')}/"
            f"{pascal(options.get('type', 'local'))}.json"
        )
        params = {k: _query_value(v) for k, v in query.items()}
        page = await client.request_json(
            "GET", path, expect="available_phone_numbers", params=params
        )
        numbers = [available_outputs(n) for n in page["available_phone_numbers"] or []]
        first = numbers[0]["phoneNumber"] if numbers else None
        return {"numbers": numbers, "count": len(numbers), "firstPhoneNumber": first}


def _query_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


class BuyPhoneNumber(Card):
    """Buying twice buys two numbers, so the intent is journalled first, and an interrupted
    purchase is looked up among the account's numbers made since."""

    name = "twilio.buy_phone_number"
    manifest = load_manifest(name)

    def changes_world(self, options: Mapping[str, Any]) -> bool:
        return True

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        form = buy_form(inputs)
        return number_outputs(
            await client.request_json("POST", numbers_path(client), expect="sid", form=form)
        )

    def preview(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        return client.preview("POST", numbers_path(client), form=buy_form(inputs))

    async def reconcile(
        self,
        ctx: CardContext,
        options: Mapping[str, Any],
        inputs: Mapping[str, Any],
        since: float,
        exclude: Container[str] = frozenset(),
    ) -> dict[str, Any] | None:
        """The account's number bought at or after the intent (in the API's clock): the one
        asked for, or one in the area code asked for; not in ``exclude``."""
        client: TwilioClient = ctx.client
        wanted = inputs.get("phoneNumber") or f"+1{inputs['areaCode']}"
        listed = client.paginate(numbers_path(client), NUMBER_KEY, {"PhoneNumber": wanted}, 100)
        async for number in created_since(client, _newest_first(listed), since):
            if number.get("sid") not in exclude:
                return number_outputs(number)
        return None


async def _newest_first(numbers: Any) -> Any:
    """The listed numbers newest first (Twilio does not promise an order for them)."""
    found = [number async for number in numbers]
    found.sort(key=lambda n: parse_date(n.get("date_created")) or 0, reverse=True)
    for number in found:
        yield number


def buy_form(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The form of ``POST IncomingPhoneNumbers.json``; exactly one of phoneNumber, areaCode."""
    given = [name for name in ("phoneNumber", "areaCode") if name in inputs]
    if len(given) != 1:
        raise InvalidInputError(
            [
                Problem(
                    "set exactly one of inputs.phoneNumber and inputs.areaCode"
                    + (f" (got {', '.join(given)})" if given else ""),
                    hint="phoneNumber buys that number; areaCode buys any number in it",
                )
            ]
        )
    return twilio_form(inputs)


class UpdatePhoneNumber(Card):
    """Setting the same fields twice ends the same, so it is not journalled as a send."""

    name = "twilio.update_phone_number"
    manifest = load_manifest(name)

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        path = number_path(client, inputs["sid"])
        form = twilio_form(inputs, leave_out={"sid"})
        return number_outputs(await client.request_json("POST", path, expect="sid", form=form))

    def preview(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        form = twilio_form(inputs, leave_out={"sid"})
        return client.preview("POST", number_path(client, inputs["sid"]), form=form)


class ReleasePhoneNumber(RemoveResource):
    name = "twilio.release_phone_number"
    manifest = load_manifest(name)
    done_output = "released"

    def path(self, client: TwilioClient, sid: str) -> str:
        return number_path(client, sid)
