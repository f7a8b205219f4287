"""What is done to messages already made: get, list, cancel, redact and delete them. Each
answers with the send cards' message outputs (``message_outputs``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from flo_twilio.card import Card, CardContext
from flo_twilio.cards.listing import ListCard
from flo_twilio.cards.manifest_folder import load_manifest
from flo_twilio.cards.messages import message_outputs
from flo_twilio.cards.removal import RemoveResource
from flo_twilio.client import TwilioClient


def message_path(client: TwilioClient, sid: str) -> str:
    """The path of one message (its sid is checked against the manifest's pattern first)."""
    return f"{client.account_path}/Messages/{sid}.json"


def list_filters(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The query of ``GET Messages.json`` for the card's filters."""
    return {
        "To": inputs.get("to"),
        "From": inputs.get("from"),
        "DateSent>": _utc(inputs.get("dateSentAfter")),
        "DateSent<": _utc(inputs.get("dateSentBefore")),
    }


def _utc(moment: str | None) -> str | None:
    """An ISO 8601 date-time with any offset as Twilio's filters take it, in UTC."""
    if moment is None:
        return None
    return datetime.fromisoformat(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GetMessage(Card):
    name = "twilio.get_message"
    manifest = load_manifest(name)

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        path = message_path(client, inputs["sid"])
        return message_outputs(await client.request_json("GET", path, expect="sid"))


class ListMessages(ListCard):
    name = "twilio.list_messages"
    manifest = load_manifest(name)
    key = "messages"

    def pages(
        self, client: TwilioClient, inputs: Mapping[str, Any], page_size: int
    ) -> AsyncIterator[dict[str, Any]]:
        filters = {k: v for k, v in list_filters(inputs).items() if v is not None}
        return client.messages(filters, page_size=page_size)

    def show(self, record: dict[str, Any]) -> dict[str, Any]:
        return message_outputs(record)


class UpdateMessage(Card):
    """A POST to one message: ``form`` says what changes. Doing it twice ends the same."""

    form: ClassVar[Mapping[str, str]]

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        path = message_path(client, inputs["sid"])
        return message_outputs(
            await client.request_json("POST", path, expect="sid", form=dict(self.form))
        )

    def preview(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        return client.preview("POST", message_path(client, inputs["sid"]), form=self.form)


class CancelMessage(UpdateMessage):
    name = "twilio.cancel_message"
    manifest = load_manifest(name)
    form: ClassVar[Mapping[str, str]] = {"Status": "canceled"}


class RedactMessage(UpdateMessage):
    name = "twilio.redact_message"
    manifest = load_manifest(name)
    form: ClassVar[Mapping[str, str]] = {"Body": ""}


class DeleteMessage(RemoveResource):
    name = "twilio.delete_message"
    manifest = load_manifest(name)
    done_output = "deleted"

    def path(self, client: TwilioClient, sid: str) -> str:
        return message_path(client, sid)
