"""The card reference (docs/cards.md), generated from the manifests."""

from __future__ import annotations

from flo_twilio.manifests import SECTIONS
from flo_twilio.plugins import Registry


def card_reference(registry: Registry) -> str:
    """Markdown, a whole page: one section per card, one table row per field."""
    parts = [
        "# Card reference",
        "",
        "Generated from `card_manifests/` by `flo cards list --markdown > docs/cards.md`.",
    ]
    for name in sorted(registry.cards):
        manifest = registry.cards[name].manifest
        parts += ["", f"## {manifest.data['title']} (`{name}`)", "", manifest.data["description"]]
        if manifest.is_trigger:
            parts += [
                "",
                "A trigger: a flow's `trigger:`, its outputs read as `${{ trigger.<name> }}`.",
            ]
        for section in SECTIONS:
            if manifest.is_trigger and section == "inputs":
                continue
            properties = manifest.properties(section)
            required = manifest.required(section)
            parts += [
                "",
                f"**{section.capitalize()}**",
                "",
                "| field | type | required | description |",
                "|---|---|---|---|",
            ]
            for field, spec in properties.items():
                kind = spec.get("type", "any")
                kind = " or ".join(kind) if isinstance(kind, list) else kind
                if "enum" in spec:
                    kind += ": " + ", ".join(spec["enum"])
                mark = "yes" if field in required else ""
                parts.append(
                    f"| `{field}` | {kind} | {mark} | {spec['description'].replace('|', '/')} |"
                )
    return "\n".join(parts)
