"""The Twilio REST client: auth, URLs, form encoding, errors, retries, paging."""

from flo_twilio.client.core import Credentials, TwilioClient
from flo_twilio.client.encoding import encode_form, form_pairs, parse_date
from flo_twilio.client.errors import TwilioApiError, TwilioError, TwilioTransportError
from flo_twilio.client.retry import RetryPolicy
from flo_twilio.client.urls import base_url

__all__ = [
    "Credentials",
    "RetryPolicy",
    "TwilioApiError",
    "TwilioClient",
    "TwilioError",
    "TwilioTransportError",
    "base_url",
    "encode_form",
    "form_pairs",
    "parse_date",
]
