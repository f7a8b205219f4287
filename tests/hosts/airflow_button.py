"""Run in the Airflow venv (tests/hosts/test_airflow.py starts it, for its websockets): press
the Test button of connections in Airflow's UI, in headless Chromium driven over the
DevTools protocol. Prints one line: BUTTONS {json}, for each connection the body the UI
posted to /api/v2/connections/test and the toast it then showed.

    python airflow_button.py CHROMIUM API_SERVER_URL CONN_ID...
"""

import contextlib
import itertools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from websockets.sync.client import connect

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Page:
    """A browser tab over the DevTools protocol: commands, and the events heard meanwhile."""

    def __init__(self, socket: Any) -> None:
        self.socket, self.ids, self.events = socket, itertools.count(1), []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == number:
                return message.get("result") or {}  # {} for an error, e.g. while navigating
            self.events.append(message)

    def js(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return answer.get("result", {}).get("value")

    def until(self, expression: str, what: str, seconds: float = 60) -> Any:
        deadline = time.monotonic() + seconds
        while not (value := self.js(expression)):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)
        return value


@contextlib.contextmanager
def chromium(executable: str) -> Iterator[Page]:
    # Chromium's helper processes may still write in the profile after it is killed.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        command = [executable, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0"]
        browser = subprocess.Popen(
            [*command, "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            port_file = Path(profile, "DevToolsActivePort")
            deadline = time.monotonic() + 60
            while not port_file.exists() or not port_file.read_text().strip():
                assert time.monotonic() < deadline, "chromium did not start in 60 s"
                time.sleep(0.1)
            port = port_file.read_text().split()[0]
            with urlopen(f"http://127.0.0.1:{port}/json/list") as answer:
                [tab] = [t for t in json.load(answer) if t["type"] == "page"]
            with connect(tab["webSocketDebuggerUrl"], max_size=None) as socket:
                yield Page(socket)
        finally:
            browser.kill()
            browser.wait()


ROW = "[...document.querySelectorAll('tr')].find(r => r.innerText.includes({conn!r}))"
TOASTS = """[...document.querySelectorAll('[data-scope="toast"][data-part="root"]')]
    .map(t => t.innerText)"""


def press(page: Page, api: str, conn_id: str) -> dict[str, Any]:
    """Open the connection list, press the connection's Test button: what it posted and
    the toast it showed."""
    page.call("Page.navigate", url=f"{api}/connections")
    row = ROW.format(conn=conn_id)
    page.until(f"!!{row}?.querySelector('button[aria-label=\"Test Connection\"]')", "the list")
    page.events.clear()
    page.js(f"{row}.querySelector('button[aria-label=\"Test Connection\"]').click()")
    toast = page.until(f"{TOASTS}.join('\\n')", "the toast", 30)
    posted = [
        event["params"]["request"].get("postData")
        for event in page.events
        if event.get("method") == "Network.requestWillBeSent"
        and event["params"]["request"]["url"].endswith("/api/v2/connections/test")
    ]
    return {"posted": [json.loads(body) for body in posted if body], "toast": toast}


def main(executable: str, api: str, *conn_ids: str) -> None:
    with chromium(executable) as page:
        page.call("Network.enable")
        seen = {conn_id: press(page, api, conn_id) for conn_id in conn_ids}
    print("BUTTONS", json.dumps(seen), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
