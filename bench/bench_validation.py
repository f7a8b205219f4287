"""Which validator checks each item's values? One bulk-send item's options, inputs and
outputs against the Send an SMS manifest, per call, side by side in one run.

    python -m bench.bench_validation [CALLS]
"""

from __future__ import annotations

import functools
import sys
import timeit
from collections.abc import Callable
from typing import Any

import fastjsonschema
import jsonschema_rs

from flo_twilio.cards.manifest_folder import load_manifest

VALUES = {
    "options": {"from": "+15005550006"},
    "inputs": {"to": "+12065550001", "body": "Hi Name1, welcome aboard"},
    "outputs": {
        "sid": "SM" + "a" * 32,
        "dateCreated": "2026-01-01T00:00:00+00:00",
        "status": "queued",
        "to": "+12065550001",
        "from": "+15005550006",
        "body": "Hi Name1, welcome aboard",
        "price": None,
        "priceUnit": "USD",
        "errorCode": None,
        "errorMessage": None,
        "messagingServiceSid": None,
        "uri": "/2010-04-01/Accounts/AC1/Messages/SM1.json",
        "numSegments": 1,
        "numMedia": 0,
    },
}


def checks(manifest: Any, section: str) -> dict[str, Callable[[Any], object]]:
    schema = manifest.data[section]
    jsonschema = manifest.checks[section].full
    fast = fastjsonschema.compile(schema, formats={"date-time": str, "uri": str})
    rs = jsonschema_rs.validator_for(schema)
    return {
        "jsonschema (iter_errors, as before)": lambda value: list(jsonschema.iter_errors(value)),
        "fastjsonschema (no Draft 2020-12)": fast,
        "jsonschema-rs": rs.is_valid,
        "flo's Manifest.problems (chosen)": lambda value: manifest.problems(section, value),
    }


def main(calls: int = 20000) -> None:
    manifest = load_manifest("twilio.send_sms")
    print(f"{'section':<9} {'validator':<38} µs per call")
    for section, value in VALUES.items():
        for name, check in checks(manifest, section).items():
            seconds = timeit.timeit(functools.partial(check, value), number=calls)
            print(f"{section:<9} {name:<38} {seconds / calls * 1e6:8.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
