"""Verify v2 as Twilio runs it: services, verifications and their codes, checks.

A verification stays ``pending`` for ``ttl`` seconds (Twilio: 10 minutes). Starting one
again to the same ``to`` while it is pending sends the same code again, up to 5 sends
(then 60203); a check with the wrong code leaves it pending, up to 5 checks (then 60202);
the right code approves it. An approved, expired or exhausted verification is gone (20404),
as on Twilio. The code is only ever told by ``code_for`` (the sandbox's own route).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

CHANNELS = ("sms", "call", "email", "whatsapp")
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CODE = re.compile(r"^[0-9]{4,10}$")
MAX_SENDS = 5
MAX_CHECKS = 5
TTL = 600.0
MESSAGES = {
    20404: "The requested resource was not found",
    60200: "Invalid parameter",
    60202: "Max check attempts reached",
    60203: "Max send attempts reached",
}
STATUS = {20404: 404, 60200: 400, 60202: 429, 60203: 429}


class VerifyError(Exception):
    """A Twilio error answer: its HTTP status and code."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code, self.status = code, STATUS[code]
        super().__init__(f"{MESSAGES[code]}{': ' + detail if detail else ''}")


@dataclass
class Service:
    sid: str
    account_sid: str
    friendly_name: str
    code_length: int
    created: float


@dataclass
class Verification:
    sid: str
    service_sid: str
    account_sid: str
    to: str
    channel: str
    code: str
    created: float
    sends: list[tuple[float, str, str]] = field(default_factory=list)  # time, channel, VL sid
    checks: int = 0
    status: str = "pending"
    updated: float = 0.0


def default_service_sid(account_sid: str) -> str:
    """Every sandbox account has this Verify service from the start."""
    return "VA" + account_sid[2:]


class VerifyState:
    """The services and verifications of every account, in memory; ``ttl`` is how long a
    verification stays pending."""

    def __init__(self, ttl: float = TTL) -> None:
        self.ttl = ttl
        self.services: dict[str, Service] = {}
        self.verifications: dict[str, Verification] = {}

    def create_service(
        self, account_sid: str, friendly_name: str, code_length: str | None, now: float
    ) -> Service:
        if not 1 <= len(friendly_name) <= 30:
            raise VerifyError(60200, "FriendlyName")
        if code_length is not None and not (code_length.isdigit() and 4 <= int(code_length) <= 10):
            raise VerifyError(60200, "CodeLength")
        service = Service(
            "VA" + secrets.token_hex(16), account_sid, friendly_name, int(code_length or 6), now
        )
        self.services[service.sid] = service
        return service

    def service(self, account_sid: str, sid: str, now: float) -> Service:
        """The account's service ``sid`` (its default one is made when first used)."""
        if sid == default_service_sid(account_sid) and sid not in self.services:
            self.services[sid] = Service(sid, account_sid, "Sandbox Verify", 6, now)
        service = self.services.get(sid)
        if service is None or service.account_sid != account_sid:
            raise VerifyError(20404)
        return service

    def pending(self, service: Service, now: float, to: str = "", sid: str = "") -> Verification:
        """The pending verification of ``to`` (or the one called ``sid``), else 20404."""
        for verification in self.verifications.values():
            if (
                verification.service_sid == service.sid
                and verification.status == "pending"
                and (verification.sid == sid if sid else verification.to == to)
            ):
                if now - verification.created < self.ttl:
                    return verification
                verification.status = "expired"
        raise VerifyError(20404)

    def start(self, service: Service, to: str, channel: str, now: float) -> Verification:
        if channel not in CHANNELS:
            raise VerifyError(60200, "Channel")
        if not (EMAIL if channel == "email" else E164).match(to.removeprefix("whatsapp:")):
            raise VerifyError(60200, "To")
        try:
            verification = self.pending(service, now, to=to)
        except VerifyError:
            code = "".join(secrets.choice("0123456789") for _ in range(service.code_length))
            verification = Verification(
                "VE" + secrets.token_hex(16),
                service.sid,
                service.account_sid,
                to,
                channel,
                code,
                now,
            )
            self.verifications[verification.sid] = verification
        if len(verification.sends) >= MAX_SENDS:
            raise VerifyError(60203)
        verification.sends.append((now, channel, "VL" + secrets.token_hex(16)))
        verification.channel, verification.updated = channel, now
        return verification

    def check(self, service: Service, form: dict[str, str], now: float) -> Verification:
        to, sid, code = form.get("To", ""), form.get("VerificationSid", ""), form.get("Code", "")
        if not to and not sid:
            raise VerifyError(60200, "To")
        if not CODE.match(code):
            raise VerifyError(60200, "Code")
        verification = self.pending(service, now, to=to, sid=sid)
        if verification.checks >= MAX_CHECKS:  # and so on, every time, until it expires
            raise VerifyError(60202)
        verification.checks += 1
        verification.updated = now
        if secrets.compare_digest(code, verification.code):
            verification.status = "approved"
        return verification

    def code_for(self, account_sid: str, to: str) -> Verification | None:
        """The newest verification of ``to`` on the account (for tests, through /_sandbox/)."""
        found = [
            v for v in self.verifications.values() if v.account_sid == account_sid and v.to == to
        ]
        return max(found, key=lambda v: v.created) if found else None


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def verification_json(verification: Verification, url: str) -> dict[str, Any]:
    """A verification as ``POST .../Verifications`` answers it (never its code)."""
    answer = check_json(verification)
    del answer["sna_attempts_error_codes"]
    return {
        **answer,
        "lookup": {},
        "send_code_attempts": [
            {"time": iso(at), "channel": channel.upper(), "attempt_sid": attempt}
            for at, channel, attempt in verification.sends
        ],
        "sna": None,
        "url": url,
    }


def check_json(verification: Verification) -> dict[str, Any]:
    """A verification as ``POST .../VerificationCheck`` answers it."""
    return {
        "sid": verification.sid,
        "service_sid": verification.service_sid,
        "account_sid": verification.account_sid,
        "to": verification.to,
        "channel": verification.channel,
        "status": verification.status,
        "valid": verification.status == "approved",
        "amount": None,
        "payee": None,
        "sna_attempts_error_codes": [],
        "date_created": iso(verification.created),
        "date_updated": iso(verification.updated or verification.created),
    }


def service_json(service: Service, url: str) -> dict[str, Any]:
    return {
        "sid": service.sid,
        "account_sid": service.account_sid,
        "friendly_name": service.friendly_name,
        "code_length": service.code_length,
        "lookup_enabled": False,
        "psd2_enabled": False,
        "skip_sms_to_landlines": False,
        "dtmf_input_required": True,
        "tts_name": None,
        "do_not_share_warning_enabled": False,
        "custom_code_enabled": False,
        "push": {"include_date": False, "apn_credential_sid": None, "fcm_credential_sid": None},
        "totp": {"issuer": None, "time_step": 30, "code_length": 6, "skew": 1},
        "whatsapp": {"msg_service_sid": None, "from": None},
        "passkeys": None,
        "default_template_sid": None,
        "verify_event_subscription_enabled": False,
        "date_created": iso(service.created),
        "date_updated": iso(service.created),
        "url": url,
        "links": {
            "verifications": f"{url}/Verifications",
            "verification_checks": f"{url}/VerificationCheck",
        },
    }
