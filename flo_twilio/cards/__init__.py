"""The built-in plugin: Twilio's cards and the ``twilio`` connection type."""

from __future__ import annotations

from typing import Any

from flo_twilio.card import Card
from flo_twilio.cards.custom_api import CustomApi
from flo_twilio.cards.lookup import LookupPhoneNumber
from flo_twilio.cards.messages import SendMms, SendSms
from flo_twilio.cards.triggers import IncomingMessage, MessageStatus
from flo_twilio.cards.twilio_connection import TWILIO
from flo_twilio.cards.verify import CheckVerification, StartVerification
from flo_twilio.connection import ConnectionType
from flo_twilio.hookspecs import hookimpl

__all__ = [
    "TWILIO",
    "CheckVerification",
    "CustomApi",
    "IncomingMessage",
    "LookupPhoneNumber",
    "MessageStatus",
    "SendMms",
    "SendSms",
    "StartVerification",
]


@hookimpl
def flo_register_cards() -> list[type[Card]]:
    return [
        SendSms,
        SendMms,
        CustomApi,
        IncomingMessage,
        MessageStatus,
        LookupPhoneNumber,
        StartVerification,
        CheckVerification,
    ]


@hookimpl
def flo_register_connections() -> list[ConnectionType[Any]]:
    return [TWILIO]
