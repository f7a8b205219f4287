"""The contract (hookspecs, card, manifests, plugins, connection, errors) knows no Twilio:
its errors, result identities and manifests are generic (that it imports nothing above it
is tests/test_architecture.py's)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

import flo_twilio
from flo_twilio import Card, OutcomeUnknownError, ProviderError
from flo_twilio.cards import CustomApi, SendMms, SendSms
from flo_twilio.client import TwilioApiError, TwilioError, TwilioTransportError
from flo_twilio.errors import ManifestError
from flo_twilio.manifests import Manifest
from tests.test_plugins import ECHO_MANIFEST

PACKAGE = Path(flo_twilio.__file__).parent


@pytest.mark.parametrize("module", ["plugins", "manifests"])
def test_the_contract_names_neither_the_twilio_package_nor_its_manifests(module):
    text = (PACKAGE / f"{module}.py").read_text()
    assert "flo_twilio.cards" not in text and "card_manifests" not in text


def test_a_provider_error_carries_what_the_provider_said():
    error = ProviderError(
        "card declined",
        provider="Acme Pay",
        status=402,
        code="E-17",
        more_info="https://acme.test/e17",
    )
    assert (error.provider, error.status, error.code, error.message, error.more_info) == (
        "Acme Pay",
        402,
        "E-17",
        "card declined",
        "https://acme.test/e17",
    )
    assert str(error) == "Acme Pay error E-17 (HTTP 402): card declined - https://acme.test/e17"
    assert str(ProviderError("down", provider="Acme Pay", status=503)) == "Acme Pay HTTP 503: down"


def test_twilio_errors_are_the_contracts_errors_told_apart():
    api = TwilioApiError(
        400, 21211, "Invalid 'To' Phone Number", "https://www.twilio.com/docs/errors/21211"
    )
    assert isinstance(api, ProviderError) and isinstance(api, TwilioError)
    assert (api.provider, api.status, api.code) == ("Twilio", 400, 21211)
    assert not issubclass(OutcomeUnknownError, TwilioError)  # unknown is anyone's, not Twilio's
    assert not issubclass(TwilioTransportError, ProviderError)  # no answer: nothing was said


def test_the_send_cards_name_their_result_by_its_sid_and_the_custom_api_by_nothing():
    outputs = {"sid": "SM" + "1" * 32, "dateCreated": "2026-01-01T00:00:00+00:00"}
    assert SendSms().result_id(outputs) == SendMms().result_id(outputs) == "SM" + "1" * 32
    assert SendSms().result_id({"sid": None}) is None
    assert CustomApi().result_id({"statusCode": 201, "headers": {}, "body": {"sid": "SM1"}}) is None


def test_a_manifest_declares_its_result_id_among_its_outputs():
    class Echo(Card):
        name = "demo.echo"
        manifest = Manifest({**ECHO_MANIFEST, "resultId": "text"})

    assert Echo().result_id({"text": "HI"}) == "HI"
    without = Manifest(ECHO_MANIFEST)
    assert without.result_id is None
    wrong = copy.deepcopy(ECHO_MANIFEST) | {"resultId": "id"}
    with pytest.raises(ManifestError, match="resultId 'id' is not one of the outputs"):
        Manifest(wrong)
    with pytest.raises(ManifestError, match="resultId"):
        Manifest(ECHO_MANIFEST | {"resultId": 7})
