"""The sandbox's recordings as audio: a short tone as WAV, silence as MP3. The same
duration always gives the same bytes."""

from __future__ import annotations

import io
import math
import wave

WAV_RATE = 8000  # samples a second, 8-bit mono: Twilio's recordings are 8 kHz too
TONE_HZ = 440
# One MPEG-1 Layer III frame: 128 kbit/s, 44.1 kHz, mono, no CRC; its zero payload is silence.
MP3_HEADER = bytes((0xFF, 0xFB, 0x90, 0xC4))
MP3_FRAME = 144 * 128000 // 44100  # 417 bytes
MP3_SAMPLES = 1152  # samples a frame


def wav(seconds: int) -> bytes:
    """``seconds`` of a 440 Hz tone as a WAV file (8 kHz, 8-bit, mono)."""
    samples = bytes(
        128 + round(60 * math.sin(2 * math.pi * TONE_HZ * i / WAV_RATE))
        for i in range(seconds * WAV_RATE)
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(1)
        file.setframerate(WAV_RATE)
        file.writeframes(samples)
    return out.getvalue()


def mp3(seconds: int) -> bytes:
    """``seconds`` of silence as MP3 frames."""
    frames = math.ceil(seconds * 44100 / MP3_SAMPLES)
    frame = MP3_HEADER + bytes(MP3_FRAME - len(MP3_HEADER))
    return frame * frames
