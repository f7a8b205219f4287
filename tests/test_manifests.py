import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from flo_twilio import load_registry
from flo_twilio.cards.manifest_folder import FOLDER as MANIFEST_DIR
from flo_twilio.cards.manifest_folder import load_manifest
from flo_twilio.errors import InvalidInputError, ManifestError
from flo_twilio.manifests import FORMATS, Manifest, format_checker

MANIFEST_FILES = sorted(MANIFEST_DIR.glob("*.json"))


def test_every_card_has_a_manifest_and_every_manifest_a_card():
    cards = load_registry().cards
    files = {path.stem for path in MANIFEST_FILES}
    builtin = {name for name in cards if name.startswith("twilio.")}
    assert (
        files
        == builtin
        == {
            "twilio.send_sms",
            "twilio.send_mms",
            "twilio.custom_api",
            "twilio.incoming_message",
            "twilio.message_status",
            "twilio.get_message",
            "twilio.list_messages",
            "twilio.cancel_message",
            "twilio.redact_message",
            "twilio.delete_message",
            "twilio.wait_for_delivery",
            "twilio.make_call",
            "twilio.get_call",
            "twilio.lookup_phone_number",
            "twilio.start_verification",
            "twilio.check_verification",
            "twilio.search_available_numbers",
            "twilio.buy_phone_number",
            "twilio.update_phone_number",
            "twilio.release_phone_number",
            "twilio.incoming_call",
            "twilio.list_recordings",
            "twilio.get_recording",
            "twilio.delete_recording",
            "twilio.call_status",
            "twilio.recording_ready",
        }
    )
    for name in builtin:
        assert cards[name].manifest.name == name


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: p.stem)
def test_every_manifest_passes_the_meta_schema(path):
    data = json.loads(path.read_text())
    manifest = Manifest(data, source=path.name)
    assert manifest.name == path.stem


def _described(schema, where):
    for name, spec in schema.get("properties", {}).items():
        assert spec.get("description"), f"{where}.{name} has no description"
        _described(spec, f"{where}.{name}")


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: p.stem)
def test_every_property_is_described(path):
    data = json.loads(path.read_text())
    for section in ("options", "inputs", "outputs"):
        _described(data[section], section)


def test_meta_schema_refuses_an_undescribed_property():
    data = json.loads((MANIFEST_DIR / "twilio.send_sms.json").read_text())
    del data["inputs"]["properties"]["body"]["description"]
    with pytest.raises(ManifestError, match=r"inputs\.properties\.body"):
        Manifest(data)


def test_meta_schema_refuses_a_missing_section():
    data = json.loads((MANIFEST_DIR / "twilio.send_sms.json").read_text())
    del data["outputs"]
    with pytest.raises(ManifestError, match="outputs"):
        Manifest(data)


def test_phone_number_that_yaml_made_an_int_gets_the_quote_hint():
    problems = load_manifest("twilio.send_sms").problems("inputs", {"to": 12065551212, "body": "x"})
    assert len(problems) == 1
    assert "inputs.to must be of type string, not integer" in str(problems[0])
    assert "quote phone numbers" in problems[0].hint


def test_bad_phone_number_names_the_field_and_the_fix():
    problems = load_manifest("twilio.send_sms").problems(
        "inputs", {"to": "2065551212", "body": "x"}
    )
    assert [p.message for p in problems] == ["inputs.to is not in the expected form"]
    assert "+12065551212" in problems[0].hint
    assert "2065551212" not in problems[0].message  # personal data is not echoed


def test_required_fields_and_limits():
    manifest = load_manifest("twilio.send_sms")
    problems = manifest.problems("inputs", {"body": "x" * 1601})
    text = "\n".join(map(str, problems))
    assert "inputs.to is required" in text
    assert "inputs.body must have at most 1600 characters" in text


def test_from_or_messaging_service_is_required():
    manifest = load_manifest("twilio.send_sms")
    assert manifest.problems("options", {"from": "+15005550006"}) == []
    assert manifest.problems("options", {"messagingServiceSid": "MG" + "a" * 32}) == []
    [problem] = manifest.problems("options", {})
    assert "messagingServiceSid" in problem.hint


def test_formats_are_really_checked():
    manifest = load_manifest("twilio.send_sms")
    ok = {"to": "+12065551212", "body": "x"}
    assert manifest.problems("inputs", {**ok, "sendAt": "2026-12-01T09:00:00Z"}) == []
    assert manifest.problems("inputs", {**ok, "sendAt": "tomorrow"})
    assert manifest.problems("inputs", {**ok, "sendAt": "2026-12-01T09:00:00"})  # no offset
    assert manifest.problems("inputs", {**ok, "statusCallback": "https://example.com/cb"}) == []
    assert manifest.problems("inputs", {**ok, "statusCallback": "https:///nohost"})


def test_unknown_field_is_named_with_the_known_ones():
    [problem] = load_manifest("twilio.send_sms").problems(
        "inputs", {"to": "+12065551212", "body": "x", "boddy": "y"}
    )
    assert problem.message == "inputs: unknown field boddy" and problem.path == ("boddy",)
    assert "body" in problem.hint


def test_check_raises_with_every_problem():
    with pytest.raises(InvalidInputError) as info:
        load_manifest("twilio.send_mms").check("inputs", {"mediaUrls": ["ftp://x"] * 11})
    messages = [p.message for p in info.value.problems]
    # to missing, too many media, and each of the 11 URLs has the wrong scheme
    assert len(messages) == 13
    assert "inputs.mediaUrls must have at most 10 items" in messages
    assert "inputs.mediaUrls.10 is not in the expected form" in messages
    assert info.value.exit_code == 2


PHONE_LIKE = st.text(alphabet="+0123456789 \n٣whatsap:", max_size=18)
ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), PHONE_LIKE)


@given(
    to=st.one_of(PHONE_LIKE, ANY_VALUE),
    body=st.one_of(st.text(max_size=3), st.just("x" * 1601), ANY_VALUE),
    extra=st.dictionaries(
        st.sampled_from(["sendAt", "statusCallback", "validityPeriod", "boddy", "mediaUrls"]),
        st.one_of(
            st.sampled_from(["2026-12-01T09:00:00Z", "2026-12-01T09:00:00", "https://e.com/ä b"]),
            ANY_VALUE,
        ),
    ),
)
def test_the_fast_validator_never_lets_through_what_jsonschema_refuses(to, body, extra):
    """jsonschema-rs answers first; whatever it passes, jsonschema must pass too."""
    for name in ("twilio.send_sms", "twilio.send_mms"):
        manifest = load_manifest(name)
        values = {"to": to, "body": body, **extra}
        reference = Draft202012Validator(manifest.data["inputs"], format_checker=format_checker())
        assert (manifest.problems("inputs", values) == []) == reference.is_valid(values)


def test_a_fixed_property_is_checked_once_per_value(monkeypatch):
    """A property literal in the flow (the same in every item) is checked once; what varies
    is checked every time, and a new fixed value is checked again."""
    data = json.loads((MANIFEST_DIR / "twilio.send_sms.json").read_text())
    checked = []
    real = FORMATS["date-time"]
    monkeypatch.setitem(FORMATS, "date-time", lambda v: checked.append(v) or real(v))
    manifest = Manifest(data)
    fixed = {"sendAt"}
    for i in range(50):
        values = {"to": f"+1206555{i:04d}", "body": "hi", "sendAt": "2026-12-01T09:00:00Z"}
        assert manifest.problems("inputs", values, fixed) == []
    assert len(checked) == 1
    bad_to = {"to": "12065550000", "body": "hi", "sendAt": "2026-12-01T09:00:00Z"}
    assert [p.message for p in manifest.problems("inputs", bad_to, fixed)] == [
        "inputs.to is not in the expected form"
    ]
    bad_fixed = {"to": "+12065550000", "body": "hi", "sendAt": "tomorrow"}
    assert manifest.problems("inputs", bad_fixed, fixed)
