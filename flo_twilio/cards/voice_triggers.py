"""Call status changed (a call's ``StatusCallback``) and Recording ready (a recording's
``recordingStatusCallback``, or its ``transcribeCallback`` when the flow wants the text).
Each runs a flow once per call (or recording) and status, never for a status earlier than
one already seen: callbacks may come twice and out of order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flo_twilio.cards.manifest_folder import load_manifest
from flo_twilio.cards.statuses import CALL_PROGRESS, RECORDING_PROGRESS, earlier_statuses
from flo_twilio.cards.triggers import TwilioTrigger, integer


class CallStatus(TwilioTrigger):
    name = "twilio.call_status"
    manifest = load_manifest(name)

    def outputs(self, options: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any] | None:
        if "CallSid" not in form or "CallStatus" not in form:
            return None
        return {
            "callSid": form["CallSid"],
            "status": form["CallStatus"],
            "to": form.get("To", ""),
            "from": form.get("From", ""),
            "direction": form.get("Direction") or None,
            "duration": integer(form.get("CallDuration")),
            "parentCallSid": form.get("ParentCallSid") or None,
            "accountSid": form.get("AccountSid", ""),
        }

    def event_key(self, outputs: Mapping[str, Any], form: Mapping[str, str]) -> str:
        return f"call:{outputs['callSid']}:{outputs['status']}"

    def stale_keys(self, outputs: Mapping[str, Any], form: Mapping[str, str]) -> list[str]:
        """The keys of the call's statuses earlier than this one's."""
        earlier = earlier_statuses(outputs["status"], CALL_PROGRESS)
        return [f"call:{outputs['callSid']}:{status}" for status in earlier]


class RecordingReady(TwilioTrigger):
    name = "twilio.recording_ready"
    manifest = load_manifest(name)

    def outputs(self, options: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any] | None:
        """With option ``transcribe``, only transcription callbacks count (they carry the
        text, not the duration); without it, only recording status callbacks."""
        if "RecordingSid" not in form:
            return None
        transcribed = "TranscriptionStatus" in form
        if transcribed != bool(options.get("transcribe")):
            return None
        return {
            "recordingSid": form["RecordingSid"],
            "recordingUrl": form.get("RecordingUrl", ""),
            "status": form.get("RecordingStatus") or "completed",
            "duration": integer(form.get("RecordingDuration")),
            "callSid": form.get("CallSid") or None,
            "accountSid": form.get("AccountSid", ""),
            "transcriptionText": form.get("TranscriptionText") if transcribed else None,
            "transcriptionStatus": form.get("TranscriptionStatus") or None,
        }

    def event_key(self, outputs: Mapping[str, Any], form: Mapping[str, str]) -> str:
        what = "transcribed" if outputs["transcriptionStatus"] else outputs["status"]
        return f"recording:{outputs['recordingSid']}:{what}"

    def stale_keys(self, outputs: Mapping[str, Any], form: Mapping[str, str]) -> list[str]:
        """The keys of the recording's statuses earlier than this one's."""
        earlier = earlier_statuses(outputs["status"], RECORDING_PROGRESS)
        return [f"recording:{outputs['recordingSid']}:{status}" for status in earlier]
