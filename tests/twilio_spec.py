"""Twilio's official OpenAPI spec (pinned, from npm) and Stoplight Prism, provisioned on demand.

Both are cached under .cache/. In CI a failure to provision fails the tests; elsewhere the
tests that need them skip with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.helpers import ROOT, free_port

CLI_CORE = "@twilio/cli-core@9.0.0"
PRISM = "@stoplight/prism-cli@5.16.0"
CACHE = ROOT / ".cache"
SPEC_FOLDER = "package/src/services/twilio-api"


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must provision this: {reason}")
    pytest.skip(reason)


@cache
def spec_path(name: str = "twilio_api_v2010.json") -> Path:
    """One of Twilio's specs in the pinned package: twilio_api_v2010.json,
    twilio_lookups_v2.json, twilio_verify_v2.json..."""
    target = CACHE / "twilio-spec" / name
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
            member = archive.extractfile(f"{SPEC_FOLDER}/{name}")
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
    # Installed in its own folder as a project (cwd), not with --prefix: --prefix also moves
    # npm's global config, and with it the machine's cafile (every fetch then failed TLS).
    (prefix / "package.json").write_text('{"private": true}\n')
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", PRISM],
        cwd=prefix,
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


PRODUCT_SPECS = {"lookups": "twilio_lookups_v2.json", "verify": "twilio_verify_v2.json"}


@cache
def product_spec(product: str) -> dict[str, Any]:
    return json.loads(spec_path(PRODUCT_SPECS[product]).read_text())


def product_prism_spec(product: str) -> Path:
    """A product's spec with its paths under ``/<product>``, where a client whose API base
    URL is Prism sends them (as it does to the sandbox)."""
    target = CACHE / "twilio-spec" / f"{product}.prism.json"
    if target.exists():
        return target
    document = dict(product_spec(product))
    document["paths"] = {f"/{product}{path}": item for path, item in document["paths"].items()}
    for item in document["paths"].values():
        item.pop("servers", None)
    document.pop("servers", None)
    target.write_text(json.dumps(document))
    return target


def every_property_nullable(node: Any) -> Any:
    """The Lookups spec's own examples give null for nearly every property it does not mark
    nullable (validation_errors, line_type_intelligence, error_code...), as Twilio answers:
    for it, null is allowed everywhere."""
    if isinstance(node, list):
        return [every_property_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: every_property_nullable(v) for k, v in node.items()}
    if isinstance(out.get("properties"), dict):
        out["properties"] = {
            name: {"anyOf": [prop, {"type": "null"}]} for name, prop in out["properties"].items()
        }
    return out


def product_response_validator(
    product: str, path: str, method: str, status: int
) -> Draft202012Validator:
    """A validator for a product's response body, as ``response_validator``."""
    document = product_spec(product)
    operation = document["paths"][path][method.lower()]
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    root = {**to_json_schema(schema), "components": to_json_schema(document["components"])}
    if product == "lookups":
        root = every_property_nullable(root)
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


@contextlib.contextmanager
def serving_prism(spec_file: Path, probe: str) -> Iterator[str]:
    """Prism mocking ``spec_file`` on a free loopback port, ready once ``GET probe``
    answers; its base URL."""
    import httpx

    from tests.sandbox_process import wait_until_serving

    port = free_port()
    proc = subprocess.Popen(
        [str(prism_binary()), "mock", "-h", "127.0.0.1", "-p", str(port), str(spec_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, lambda: httpx.get(url + probe, auth=("AC" + "a" * 32, "x")), 60)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
