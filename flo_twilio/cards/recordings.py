"""Recordings: list them (``GET Recordings.json``), get one (``GET Recordings/{sid}.json``,
and with option ``saveTo`` its audio, saved in that folder), delete one
(``DELETE Recordings/{sid}.json``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from flo_twilio.card import Card, CardContext
from flo_twilio.cards.listing import ListCard
from flo_twilio.cards.manifest_folder import load_manifest
from flo_twilio.cards.removal import RemoveResource
from flo_twilio.client import TwilioClient, parse_date
from flo_twilio.errors import InvalidInputError, Problem

FORMATS = ("wav", "mp3")


def recording_path(client: TwilioClient, sid: str, extension: str = "json") -> str:
    """The path of one recording (``.json``) or of its audio (``.wav``, ``.mp3``)."""
    return f"{client.account_path}/Recordings/{sid}.{extension}"


def recording_outputs(recording: Mapping[str, Any], audio: str = "wav") -> dict[str, Any]:
    """A Twilio recording resource as the cards' outputs (camelCase, typed); ``mediaUrl``
    is its audio in format ``audio``."""
    created = parse_date(recording.get("date_created"))
    duration = recording.get("duration")
    media = recording.get("media_url")
    return {
        "sid": recording.get("sid"),
        "callSid": recording.get("call_sid"),
        "status": recording.get("status"),
        "source": recording.get("source"),
        "duration": int(duration) if duration not in (None, "") else None,
        "channels": recording.get("channels"),
        "dateCreated": created.isoformat() if created else None,
        "price": recording.get("price"),
        "priceUnit": recording.get("price_unit"),
        "mediaUrl": f"{media}.{audio}" if media else None,
        "uri": recording.get("uri"),
    }


class ListRecordings(ListCard):
    """The days are sent as Twilio's SDKs send them: midnight UTC."""

    name = "twilio.list_recordings"
    manifest = load_manifest(name)
    key = "recordings"

    def pages(
        self, client: TwilioClient, inputs: Mapping[str, Any], page_size: int
    ) -> AsyncIterator[dict[str, Any]]:
        filters = {
            name: inputs[key] if key == "callSid" else f"{inputs[key]}T00:00:00Z"
            for name, key in (
                ("CallSid", "callSid"),
                ("DateCreated", "dateCreated"),
                ("DateCreated<", "dateCreatedBefore"),
                ("DateCreated>", "dateCreatedAfter"),
            )
            if key in inputs
        }
        path = f"{client.account_path}/Recordings.json"
        return client.paginate(path, "recordings", filters, page_size=page_size)

    def show(self, record: dict[str, Any]) -> dict[str, Any]:
        return recording_outputs(record)


class GetRecording(Card):
    name = "twilio.get_recording"
    manifest = load_manifest(name)

    def check(self, options: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
        """``saveTo`` must be a folder this process can write in."""
        folder = options.get("saveTo")
        if folder is None:
            return
        path = Path(folder).expanduser()
        why = (
            "does not exist"
            if not path.exists()
            else "is not a folder"
            if not path.is_dir()
            else "is not writable"
            if not os.access(path, os.W_OK | os.X_OK)
            else None
        )
        if why:
            raise InvalidInputError(
                [
                    Problem(
                        f"options.saveTo {why}: {folder}",
                        hint="give a folder that exists and that flo may write in",
                    )
                ]
            )

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        audio = options.get("format", "wav")
        path = recording_path(client, inputs["sid"])
        outputs = recording_outputs(await client.request_json("GET", path, expect="sid"), audio)
        outputs["file"] = outputs["bytes"] = None
        if "saveTo" in options:
            media = await client.request("GET", recording_path(client, inputs["sid"], audio))
            target = Path(options["saveTo"]).expanduser() / f"{inputs['sid']}.{audio}"
            save(target, media.content)
            outputs["file"], outputs["bytes"] = str(target), len(media.content)
        return outputs


def save(target: Path, content: bytes) -> None:
    """Write ``content`` to ``target`` whole or not at all (a temporary file, renamed)."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class DeleteRecording(RemoveResource):
    name = "twilio.delete_recording"
    manifest = load_manifest(name)
    done_output = "deleted"

    def path(self, client: TwilioClient, sid: str) -> str:
        return recording_path(client, sid)
