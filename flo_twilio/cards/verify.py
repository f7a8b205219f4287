"""Start a verification and check its code: one POST each to Verify v2
(``verify.twilio.com``). Neither can be looked up after a crash (Twilio lists no
verifications), so an interrupted call is left for the operator to decide."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flo_twilio.card import Card, CardContext
from flo_twilio.cards.manifest_folder import load_manifest
from flo_twilio.client import TwilioClient
from flo_twilio.errors import InvalidInputError, Problem


class VerifyCard(Card):
    """What both Verify cards share: one form POST to a path under the service."""

    resource: str  # Verifications or VerificationCheck

    def changes_world(self, options: Mapping[str, Any]) -> bool:
        return True  # a send texts a person; a check uses up one of the 5 attempts

    def form(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def path(self, options: Mapping[str, Any]) -> str:
        return f"/v2/Services/{options['serviceSid']}/{self.resource}"

    async def post(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        return await client.request_json(
            "POST",
            self.path(options),
            expect="status",
            form=self.form(inputs),
            base=client.product_url("verify"),
        )

    def preview(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        shown = self.manifest.masked("inputs", inputs)
        return client.preview(
            "POST", self.path(options), form=self.form(shown), base=client.product_url("verify")
        )


class StartVerification(VerifyCard):
    name = "twilio.start_verification"
    manifest = load_manifest(name)
    resource = "Verifications"

    def check(self, options: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
        """An email address for the email channel, a phone number for the others."""
        is_email = "@" in inputs["to"]
        if is_email != (inputs["channel"] == "email"):
            raise InvalidInputError(
                [
                    Problem(
                        f"inputs.to must be {'an email address' if inputs['channel'] == 'email' else 'a phone number'} "
                        f"for the {inputs['channel']} channel",
                        hint="email goes to an address; sms, call and whatsapp to +<number>",
                    )
                ]
            )

    def form(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return {"To": inputs["to"], "Channel": inputs["channel"]}

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        answer = await self.post(ctx, options, inputs)
        return {name: answer.get(name) for name in ("sid", "status", "to", "channel")}


class CheckVerification(VerifyCard):
    name = "twilio.check_verification"
    manifest = load_manifest(name)
    resource = "VerificationCheck"

    def form(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return {"To": inputs["to"], "Code": inputs["code"]}

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        answer = await self.post(ctx, options, inputs)
        return {
            "status": answer.get("status"),
            "valid": answer.get("valid") is True,
            "sid": answer.get("sid"),
        }
