import inspect

import flo_twilio
import flo_twilio.client


def public(module):
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }


def test_exact_public_api():
    assert set(flo_twilio.__all__) == public(flo_twilio) | {"__version__"}
    assert len(flo_twilio.__all__) == len(set(flo_twilio.__all__))


def test_every_exported_name_is_documented():
    for name in flo_twilio.__all__:
        if name != "__version__":
            assert getattr(flo_twilio, name).__doc__, name


def test_client_exports():
    assert set(flo_twilio.client.__all__) == public(flo_twilio.client)
