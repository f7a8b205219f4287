"""The Twilio REST client: auth, URLs, form encoding, errors, retries, paging.

What other parts use is exported here (``__all__``); its modules are its own business.
"""

from flo_twilio.client.core import DEFAULT_DEADLINE, Credentials, TwilioClient
from flo_twilio.client.encoding import encode_form, form_pairs, parse_date
from flo_twilio.client.errors import TwilioApiError, TwilioError, TwilioTransportError
from flo_twilio.client.retry import RetryPolicy
from flo_twilio.client.transport import alone_in_process
from flo_twilio.client.urls import base_url, is_loopback, shown_url

__all__ = [
    "DEFAULT_DEADLINE",
    "Credentials",
    "RetryPolicy",
    "TwilioApiError",
    "TwilioClient",
    "TwilioError",
    "TwilioTransportError",
    "alone_in_process",
    "base_url",
    "encode_form",
    "form_pairs",
    "is_loopback",
    "parse_date",
    "shown_url",
]
