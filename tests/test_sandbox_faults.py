"""``/_sandbox/faults`` and the fault flags refuse what a drill cannot be (a rate outside 0..1,
an endless latency, a body that is not an object), naming the field, and keep what they had."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest

from flo_twilio.sandbox import Faults, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.inprocess import run_flo as flo
from tests.sandbox_process import free_port, wait_until_serving

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"rate_500": Infinity}', "rate_500 must be a share from 0 to 1"),
        (b'{"rate_500": NaN}', "rate_500 must be a share from 0 to 1"),
        (b'{"ambiguous_rate": 2}', "ambiguous_rate must be a share from 0 to 1"),
        (b'{"latency": 1e308}', "latency must be a number of seconds from 0 to 60"),
        (b'{"max_concurrency": -1}', "max_concurrency must be a whole number of 0 or more"),
        (b'{"rate_429": 0.5, "rate_503": -1}', "rate_503 must be a share from 0 to 1"),
        (b"[]", "give a JSON object of faults"),
        (b"null", "give a JSON object of faults"),
        (b"[" * 100_000, "the body is not JSON"),
    ],
)
async def test_a_fault_it_cannot_be_is_400_naming_it_and_nothing_changes(
    sandbox_state, body, expected
):
    app = create_app(sandbox_state, Faults())
    auth = (SID, TOKEN)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", auth=auth) as c:
        refused = await c.post("/_sandbox/faults", content=body)
        assert refused.status_code == 400 and expected in refused.json()["message"]
        after = await c.get("/_sandbox/faults")
        assert after.status_code == 200 and after.json() == Faults().as_dict()


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        (["--rate-500", "inf"], "--rate-500 must be a share from 0 to 1"),
        (["--ambiguous-rate", "2"], "--ambiguous-rate must be a share from 0 to 1"),
        (["--latency", "1e308"], "--latency must be a number of seconds from 0 to 60"),
    ],
)
def test_a_fault_flag_it_cannot_be_is_refused(flag, expected):
    # a port it cannot listen on: were the flag taken, it would stop there, not serve
    done = flo("sandbox", "--port", "99999", *flag)
    assert done.code == 2 and expected in done.err, done.err


@pytest.mark.slow
def test_with_the_longest_latency_a_sigterm_still_stops_the_sandbox():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "flo_twilio.cli", "sandbox", "--port", str(port)]
    proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        faults = f"{url}/_sandbox/faults"
        wait_until_serving(proc, lambda: httpx.get(faults, auth=(SID, TOKEN)).raise_for_status())
        set_to = httpx.post(faults, auth=(SID, TOKEN), content=b'{"latency": 1e308}')
        assert set_to.status_code == 400
        httpx.post(faults, auth=(SID, TOKEN), json={"latency": 60}).raise_for_status()
        with pytest.raises(httpx.ReadTimeout):  # a request now waits the latency
            httpx.get(f"{url}/2010-04-01/Accounts.json", auth=(SID, TOKEN), timeout=0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) in (0, -signal.SIGTERM)  # stopped, as a SIGTERM stops it
    finally:
        proc.kill()
        proc.wait()
