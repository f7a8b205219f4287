"""Phone numbers as Lookups v2 tells them: validity and the reasons a number is invalid,
E.164 and national formats (Google's libphonenumber, which Twilio's answers mirror), and
the line type of ``Fields=line_type_intelligence``.

libphonenumber cannot tell a North American mobile from a landline (both are
"fixed line or mobile"); there the sandbox decides by the number's last digit: 0 to 5
mobile, 6 and 7 landline, 8 fixedVoip, 9 nonFixedVoip.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers import ValidationResult as Possible

DEFAULT_REGION = "US"  # Twilio: "Default country code is +1 (North America)"
LINE_TYPES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.VOIP: "nonFixedVoip",
    PhoneNumberType.TOLL_FREE: "tollFree",
    PhoneNumberType.PREMIUM_RATE: "premium",
    PhoneNumberType.SHARED_COST: "sharedCost",
    PhoneNumberType.PERSONAL_NUMBER: "personal",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}
# North American numbers by last digit (see the module's docstring).
NANP_BY_LAST_DIGIT = dict.fromkeys("012345", "mobile") | {
    "6": "landline",
    "7": "landline",
    "8": "fixedVoip",
    "9": "nonFixedVoip",
}
# Carrier name, mobile country and network codes (given for mobile networks only).
CARRIERS = {
    "mobile": ("Sandbox Wireless", "310", "999"),
    "landline": ("Sandbox Telephone Company", None, None),
    "fixedVoip": ("Sandbox VoIP - Fixed", None, None),
    "nonFixedVoip": ("Sandbox VoIP - Mobile", "313", "981"),
}
REASONS = {
    Possible.INVALID_COUNTRY_CODE: "INVALID_COUNTRY_CODE",
    Possible.TOO_SHORT: "TOO_SHORT",
    Possible.TOO_LONG: "TOO_LONG",
    Possible.INVALID_LENGTH: "INVALID_LENGTH",
    Possible.IS_POSSIBLE_LOCAL_ONLY: "INVALID_BUT_POSSIBLE",
}
PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "INVALID_COUNTRY_CODE",
    NumberParseException.TOO_SHORT_AFTER_IDD: "TOO_SHORT",
    NumberParseException.TOO_SHORT_NSN: "TOO_SHORT",
    NumberParseException.TOO_LONG: "TOO_LONG",
}
PACKAGES = {
    "caller_name",
    "sim_swap",
    "call_forwarding",
    "line_status",
    "line_type_intelligence",
    "identity_match",
    "reassigned_number",
    "sms_pumping_risk",
    "phone_number_quality_score",
    "pre_fill",
}


def look_up(number: str, country_code: str | None, fields: set[str]) -> dict[str, Any]:
    """The body of ``GET /v2/PhoneNumbers/{number}`` (without its ``url``)."""
    answer: dict[str, Any] = {
        "calling_country_code": None,
        "country_code": None,
        "phone_number": number,
        "national_format": None,
        "valid": False,
        "validation_errors": None,
        **dict.fromkeys(sorted(PACKAGES)),
    }
    try:
        parsed = phonenumbers.parse(number, (country_code or DEFAULT_REGION).upper())
    except NumberParseException as exc:
        answer["validation_errors"] = [PARSE_REASONS.get(exc.error_type, "NOT_A_NUMBER")]
        return answer
    answer["phone_number"] = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(parsed):
        reason = phonenumbers.is_possible_number_with_reason(parsed)
        answer["validation_errors"] = [REASONS.get(reason, "INVALID_BUT_POSSIBLE")]
        return answer
    answer.update(
        calling_country_code=str(parsed.country_code),
        country_code=phonenumbers.region_code_for_number(parsed),
        national_format=phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL),
        valid=True,
    )
    if "line_type_intelligence" in fields:
        answer["line_type_intelligence"] = line_type_intelligence(parsed, answer["phone_number"])
    return answer


def line_type_intelligence(parsed: phonenumbers.PhoneNumber, e164: str) -> dict[str, Any]:
    kind = phonenumbers.number_type(parsed)
    if kind == PhoneNumberType.FIXED_LINE_OR_MOBILE:
        line_type = NANP_BY_LAST_DIGIT[e164[-1]] if parsed.country_code == 1 else "mobile"
    else:
        line_type = LINE_TYPES.get(kind, "unknown")
    carrier, mcc, mnc = CARRIERS.get(line_type, ("Sandbox Carrier", None, None))
    return {
        "carrier_name": carrier,
        "error_code": None,
        "mobile_country_code": mcc,
        "mobile_network_code": mnc,
        "type": line_type,
    }
