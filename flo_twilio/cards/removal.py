"""What the cards that remove one resource by its sid share (delete a message, release a
phone number): removing twice fails (the second finds nothing), so an interrupted removal
is looked up: a resource that is gone was removed."""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Any, ClassVar

from flo_twilio.card import Card, CardContext
from flo_twilio.client import TwilioApiError, TwilioClient

NOT_FOUND = 20404


class RemoveResource(Card):
    """``DELETE`` the resource at ``path``; the outputs are its sid and ``done_output``."""

    done_output: ClassVar[str]

    def path(self, client: TwilioClient, sid: str) -> str:
        raise NotImplementedError

    def changes_world(self, options: Mapping[str, Any]) -> bool:
        return True

    def removed(self, sid: str) -> dict[str, Any]:
        return {"sid": sid, self.done_output: True}

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        await client.request("DELETE", self.path(client, inputs["sid"]))
        return self.removed(inputs["sid"])

    def preview(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        return client.preview("DELETE", self.path(client, inputs["sid"]))

    async def reconcile(
        self,
        ctx: CardContext,
        options: Mapping[str, Any],
        inputs: Mapping[str, Any],
        since: float,
        exclude: Container[str] = frozenset(),
    ) -> dict[str, Any] | None:
        client: TwilioClient = ctx.client
        try:
            await client.request("GET", self.path(client, inputs["sid"]))
        except TwilioApiError as exc:
            if exc.code == NOT_FOUND:
                return self.removed(inputs["sid"])
            raise
        return None
