"""Where the Twilio cards' manifests are: ``card_manifests/``, one JSON file per card."""

from __future__ import annotations

from pathlib import Path

from flo_twilio.manifests import Manifest

_PACKAGE = Path(__file__).parent.parent
# In a wheel the folder sits inside the package; in a source checkout, beside it.
FOLDER = next(
    (p for p in (_PACKAGE / "card_manifests", _PACKAGE.parent / "card_manifests") if p.is_dir()),
    _PACKAGE / "card_manifests",
)


def load_manifest(name: str) -> Manifest:
    """The manifest of the card called ``name``: ``card_manifests/<name>.json``."""
    return Manifest.from_file(FOLDER / f"{name}.json")
