"""Message segments as Twilio counts them, for throughput (Twilio paces each sender by
segments a second, not by messages).

A body of GSM-7 characters alone is one segment up to 160 characters, else parts of 153
(the extension table's characters, such as ``{`` or ``€``, count 2). One character outside
GSM-7 (an emoji, a curly quote) makes the whole body UCS-2: one segment up to 70 UTF-16
units, else parts of 67 (an emoji counts 2).
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}  # one segment alone, each part of several


@dataclass(frozen=True)
class Segments:
    """How Twilio splits a body: ``count`` segments in ``encoding`` (GSM-7 or UCS-2)."""

    count: int
    encoding: str


def count_segments(body: str) -> Segments:
    """The segments of an SMS ``body`` (an empty body, as with a media message: one)."""
    if all(c in GSM7 or c in GSM7_EXTENDED for c in body):
        encoding, length = "GSM-7", len(body) + sum(c in GSM7_EXTENDED for c in body)
    else:
        encoding, length = "UCS-2", len(body.encode("utf-16-le")) // 2
    single, part = LIMITS[encoding]
    return Segments(1 if length <= single else -(-length // part), encoding)
