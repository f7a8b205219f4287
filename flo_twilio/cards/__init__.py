"""The built-in plugin: Twilio's cards and the ``twilio`` connection type."""

from __future__ import annotations

from typing import Any

from flo_twilio.card import Card
from flo_twilio.cards.call_trigger import IncomingCall
from flo_twilio.cards.custom_api import CustomApi
from flo_twilio.cards.delivery import WaitForDelivery
from flo_twilio.cards.lookup import LookupPhoneNumber
from flo_twilio.cards.message_actions import (
    CancelMessage,
    DeleteMessage,
    GetMessage,
    ListMessages,
    RedactMessage,
)
from flo_twilio.cards.messages import SendMms, SendSms
from flo_twilio.cards.numbers import (
    BuyPhoneNumber,
    ReleasePhoneNumber,
    SearchAvailableNumbers,
    UpdatePhoneNumber,
)
from flo_twilio.cards.recordings import DeleteRecording, GetRecording, ListRecordings
from flo_twilio.cards.triggers import IncomingMessage, MessageStatus
from flo_twilio.cards.twilio_connection import TWILIO
from flo_twilio.cards.verify import CheckVerification, StartVerification
from flo_twilio.cards.voice import GetCall, MakeCall
from flo_twilio.cards.voice_triggers import CallStatus, RecordingReady
from flo_twilio.connection import ConnectionType
from flo_twilio.hookspecs import hookimpl

# The built-in cards: a card is registered (and exported) by being listed here.
CARDS: tuple[type[Card], ...] = (
    SendSms,
    SendMms,
    CustomApi,
    IncomingMessage,
    MessageStatus,
    GetMessage,
    ListMessages,
    CancelMessage,
    RedactMessage,
    DeleteMessage,
    WaitForDelivery,
    MakeCall,
    GetCall,
    LookupPhoneNumber,
    StartVerification,
    CheckVerification,
    SearchAvailableNumbers,
    BuyPhoneNumber,
    UpdatePhoneNumber,
    ReleasePhoneNumber,
    IncomingCall,
    ListRecordings,
    GetRecording,
    DeleteRecording,
    CallStatus,
    RecordingReady,
)
__all__ = ["CARDS", "TWILIO", *(card.__name__ for card in CARDS)]


@hookimpl
def flo_register_cards() -> list[type[Card]]:
    return list(CARDS)


@hookimpl
def flo_register_connections() -> list[ConnectionType[Any]]:
    return [TWILIO]
