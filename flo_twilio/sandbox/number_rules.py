"""Which numbers the sandbox offers to buy: the same list for the same search every time
(made from a seed of country, type, area code and pattern), minus the numbers taken."""

from __future__ import annotations

import random
import re
from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any

KEYS = ("ABC", "DEF", "GHI", "JKL", "MNO", "PQRS", "TUV", "WXYZ")
KEYPAD = {letter: str(digit) for digit, letters in enumerate(KEYS, 2) for letter in letters}
TOLL_FREE_CODES = (800, 833, 844, 855, 866, 877, 888)
PLACES = {  # area code -> (locality, region, postal code, lata, latitude, longitude)
    206: ("Seattle", "WA", "98101", "674", 47.6062, -122.3321),
    212: ("New York", "NY", "10001", "132", 40.7128, -74.0060),
    415: ("San Francisco", "CA", "94105", "722", 37.7749, -122.4194),
    512: ("Austin", "TX", "78701", "558", 30.2672, -97.7431),
    604: ("Vancouver", "BC", "V5K 0A1", "888", 49.2827, -123.1207),
}


@dataclass(frozen=True)
class NumberingPlan:
    """How one country's numbers of one type are made: ``+<country_code><prefix>`` and then
    ``digits`` digits; ``area_codes`` (US and Canada) pick the prefix."""

    country_code: str
    prefix: str
    digits: int
    area_codes: tuple[int, ...] = ()


PLANS = {
    ("US", "Local"): NumberingPlan("1", "", 7, (206, 212, 415, 512)),
    ("CA", "Local"): NumberingPlan("1", "", 7, (604,)),
    ("US", "TollFree"): NumberingPlan("1", "", 7, TOLL_FREE_CODES),
    ("CA", "TollFree"): NumberingPlan("1", "", 7, TOLL_FREE_CODES),
    ("GB", "Local"): NumberingPlan("44", "20", 8),
    ("GB", "Mobile"): NumberingPlan("44", "7", 9),
    ("GB", "TollFree"): NumberingPlan("44", "800", 7),
}


class SearchError(Exception):
    """A search Twilio refuses: ``code`` is its error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def pattern_digits(contains: str) -> str:
    """A ``Contains`` pattern as digits and ``*``: letters are keypad digits, + dropped."""
    return "".join(KEYPAD.get(c.upper(), c) for c in contains.strip().lstrip("+"))


def available_numbers(
    country: str,
    kind: str,
    query: Mapping[str, str],
    taken: Container[str],
    count: int,
) -> list[dict[str, Any]]:
    """Up to ``count`` numbers of ``country`` and ``kind`` (Local, Mobile, TollFree) that
    fit ``query`` (Twilio's AvailablePhoneNumbers filters) and are not ``taken``."""
    plan = PLANS.get((country, kind))
    if plan is None:
        raise SearchError(20404, f"No {kind} numbers are offered in {country}")
    area = _area_code(plan, query.get("AreaCode"))
    contains = pattern_digits(query.get("Contains", ""))
    if not re.fullmatch(r"[0-9*]*", contains):
        raise SearchError(21452, "Contains must be digits, letters or *")
    seed = random.Random(f"{country}:{kind}:{area}:{contains}")
    found: list[dict[str, Any]] = []
    for _ in range(count * 4):
        number = _make(plan, area, contains, seed)
        if number not in taken and all(n["phone_number"] != number for n in found):
            record = _record(country, plan, area, number)
            if _fits(record, query):
                found.append(record)
        if len(found) == count:
            break
    return found


def _area_code(plan: NumberingPlan, given: str | None) -> int | None:
    if not plan.area_codes:
        return None
    if given is None:
        return plan.area_codes[0]
    if not given.isdigit() or len(given) != 3:
        raise SearchError(21452, "AreaCode must be three digits")
    return int(given)


def _make(plan: NumberingPlan, area: int | None, contains: str, seed: random.Random) -> str:
    """A number of ``plan`` whose last digits are ``contains`` (``*`` any digit) when it
    fits there, else a plain one (which the filter then leaves out)."""
    digits = [str(seed.randint(2, 9))] + [str(seed.randint(0, 9)) for _ in range(plan.digits - 1)]
    if 0 < len(contains) <= plan.digits:
        tail = [str(seed.randint(0, 9)) if c == "*" else c for c in contains]
        digits[plan.digits - len(tail) :] = tail
    return f"+{plan.country_code}{area or ''}{plan.prefix}{''.join(digits)}"


def _record(country: str, plan: NumberingPlan, area: int | None, number: str) -> dict[str, Any]:
    """The AvailablePhoneNumber Twilio would show for ``number``."""
    place = PLACES.get(area or 0)
    national = number[1 + len(plan.country_code) :]
    friendly = (
        f"({national[:3]}) {national[3:6]}-{national[6:]}" if plan.country_code == "1" else number
    )
    return {
        "friendly_name": friendly,
        "phone_number": number,
        "lata": place[3] if place else None,
        "locality": place[0] if place else None,
        "rate_center": place[0].upper() if place else None,
        "latitude": place[4] if place else None,
        "longitude": place[5] if place else None,
        "region": place[1] if place else None,
        "postal_code": place[2] if place else None,
        "iso_country": country,
        "address_requirements": "none",
        "beta": False,
        "capabilities": {"voice": True, "SMS": True, "MMS": plan.country_code == "1", "fax": False},
    }


FILTERS = {  # query field -> the capability it asks for
    "SmsEnabled": "SMS",
    "MmsEnabled": "MMS",
    "VoiceEnabled": "voice",
    "FaxEnabled": "fax",
}
PLACE_FILTERS = {"InRegion": "region", "InPostalCode": "postal_code", "InLocality": "locality"}


def _fits(record: Mapping[str, Any], query: Mapping[str, str]) -> bool:
    """Whether ``record`` passes the capability, place and ``Contains`` filters."""
    for field, capability in FILTERS.items():
        if (
            field in query
            and (query[field].lower() == "true") != record["capabilities"][capability]
        ):
            return False
    for field, key in PLACE_FILTERS.items():
        if field in query and (record[key] or "").lower() != query[field].lower():
            return False
    contains = pattern_digits(query.get("Contains", ""))
    wanted = re.escape(contains).replace(r"\*", "[0-9]")
    return re.search(wanted, record["phone_number"]) is not None
