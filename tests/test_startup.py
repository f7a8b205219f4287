"""Start-up: what ``flo --version`` and ``flo run`` of a one-step flow import. python -m
bench times them (issue 12: under 0.2 s and 0.4 s); these tests keep out what they do not
need: the sandbox, jsonschema (jsonschema-rs passes what is valid), httpx's own CLI and
aiohttp's default TLS contexts (flo's transport passes its own)."""

from __future__ import annotations

import json
import subprocess
import sys

from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ServerThread, flo

NEVER = {"flo_twilio.sandbox.state", "starlette", "uvicorn", "jsonschema", "click", "rich"}

ONE_STEP = """\
flo: 1
name: one_step
steps:
  - id: send
    card: twilio.send_sms
    options: {from: "+15005550006"}
    inputs: {to: "+12065551212", body: "Hi"}
"""


def after(tmp_path, *args: str) -> dict:
    """What a fresh ``flo ARGS`` has imported when it ends (it must succeed), and how many
    CA certificates aiohttp's default TLS context holds (None: aiohttp not imported)."""
    listing = tmp_path / "after.json"
    script = (
        "import json, sys\nfrom flo_twilio.cli import main\n"
        f"code = main({list(args)!r})\n"
        "connector = sys.modules.get('aiohttp.connector')\n"
        "cas = connector and connector._SSL_CONTEXT_VERIFIED.cert_store_stats()['x509_ca']\n"
        f"open({str(listing)!r}, 'w').write(json.dumps([sorted(sys.modules), cas]))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    modules, cas = json.loads(listing.read_text())
    return {"modules": set(modules), "cas": cas}


def test_flo_version_imports_no_client_sandbox_or_validator(tmp_path):
    modules = after(tmp_path, "--version")["modules"]
    assert modules & (NEVER | {"httpx", "aiohttp", "jsonschema_rs", "yaml"}) == set()


def test_a_one_step_run_imports_neither_the_sandbox_nor_jsonschema_nor_httpx_cli(tmp_path):
    flow = tmp_path / "one-step.yaml"
    flow.write_text(ONE_STEP)
    with ServerThread(create_app(SandboxState())) as server:
        added = flo(
            "accounts", "add", "live", "--account-sid", SID, "--auth-token", "-",
            "--api-base-url", server.url, input=TOKEN,
        )  # fmt: skip
        assert added.code == 0, added.err
        run = after(tmp_path, "run", str(flow), "--account", "live")
    assert {"aiohttp", "httpx", "yaml"} <= run["modules"]  # it did load a flow and send
    assert run["modules"] & NEVER == set()
    assert run["cas"] == 0  # aiohttp's own TLS contexts, which flo never uses, left empty


def test_a_host_importing_the_transport_keeps_aiohttp_tls_defaults():
    """Only the flo command leaves aiohttp's default contexts empty: a host may use them."""
    script = (
        "from flo_twilio.client.transport import AiohttpTransport\n"
        "import asyncio\n"
        "transport = AiohttpTransport()\n"
        "async def make():\n    transport.session()\n    await transport.aclose()\n"
        "asyncio.run(make())\n"
        "import aiohttp.connector, ssl\n"
        "print(aiohttp.connector._SSL_CONTEXT_VERIFIED.cert_store_stats()['x509_ca'])\n"
        "print(ssl.create_default_context().cert_store_stats()['x509_ca'])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    aiohttp_cas, system_cas = done.stdout.split()
    assert aiohttp_cas == system_cas
