"""The recording cards' requests, sent to Prism serving Twilio's official spec (see
test_conformance); the sandbox's answers are checked against the spec's schemas in
test_sandbox_recordings."""

from __future__ import annotations

import pytest

from flo_twilio.cards import DeleteRecording, GetRecording, ListRecordings
from tests.test_conformance import prism_url, run  # noqa: F401  (fixture)

pytestmark = pytest.mark.anyio
RECORDING = {"sid": "RE" + "e" * 32}


@pytest.mark.parametrize(
    "inputs",
    [
        {},
        {"limit": 5},
        {
            "callSid": "CA" + "1" * 32,
            "dateCreated": "2026-12-01",
            "dateCreatedBefore": "2026-12-02",
            "dateCreatedAfter": "2026-11-30",
        },
    ],
)
async def test_list_recordings_requests_conform(prism_url, inputs):  # noqa: F811
    outputs = await run(prism_url, ListRecordings(), {}, inputs)
    assert outputs["count"] == len(outputs["recordings"])


@pytest.mark.parametrize("options", [{}, {"format": "mp3"}])
async def test_get_recording_requests_conform(prism_url, options):  # noqa: F811
    outputs = await run(prism_url, GetRecording(), options, RECORDING)
    assert outputs["sid"] and outputs["file"] is None


async def test_delete_recording_requests_conform(prism_url):  # noqa: F811
    outputs = await run(prism_url, DeleteRecording(), {}, RECORDING)
    assert outputs["deleted"] is True
