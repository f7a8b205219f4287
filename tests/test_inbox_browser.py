# ruff: noqa: F811  (the fixture sandbox comes from test_serve)
"""The sandbox's inbox page in a real browser: Debian's Chromium, headless, driven over the
DevTools protocol as tests/hosts/airflow_button.py drives it. Skipped without Chromium,
except in CI (``CI`` set), where a missing browser fails.

With ``FLO_SCREENSHOTS=1`` the screenshots of docs/inbox.md are written to docs/images/;
otherwise to the test's temporary folder."""

from __future__ import annotations

import base64
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT, ServerThread, flo
from tests.hosts.airflow_button import Page, chromium
from tests.test_sandbox_inbox import ONERROR_URL, SCRIPT
from tests.test_serve import NUMBER, Serving, no_server_left, sandbox, set_sms_url  # noqa: F401

pytestmark = pytest.mark.slow

IMAGES = ROOT / "docs" / "images"
BUBBLES = "[...document.querySelectorAll('.bubble')]"
# Every status each bubble showed, whichever update of the page showed it.
WATCH_STATUSES = """
window.seen = {};
window.notReloaded = true;
const note = () => document.querySelectorAll('.bubble').forEach(
    (b) => (window.seen[b.id] = window.seen[b.id] || []).push(b.dataset.status));
new MutationObserver(note).observe(document.getElementById('live'), {childList: true, subtree: true});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Page]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: apt-get install -y chromium")
        pytest.skip("no Chromium here (apt-get install -y chromium)")
    with chromium(executable) as page:
        page.call("Page.enable")
        page.call("Emulation.setScrollbarsHidden", hidden=True)  # screenshots: no re-layout
        yield page


def open_page(page: Page, url: str, width: int = 900) -> None:
    """``url`` at ``width`` CSS pixels, loaded and live (its first update arrived)."""
    page.call(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=800,
        deviceScaleFactor=1,
        mobile=False,
    )
    page.call("Page.navigate", url=url)
    page.until("document.readyState === 'complete' && !!document.body.dataset.updates", "the page")
    page.events.clear()


def screenshot(page: Page, selector: str, name: str, folder: Path) -> Path:
    """A PNG of the element ``selector`` shows, in ``folder`` (docs/images/ when asked)."""
    box = page.js(
        f"(() => {{ const e = document.querySelector({selector!r}); e.scrollIntoView();"
        " const r = e.getBoundingClientRect(), pad = 6;"
        " return {x: Math.max(0, r.x + scrollX - pad), y: Math.max(0, r.y + scrollY - pad),"
        " width: r.width + 2 * pad, height: r.height + 2 * pad}; })()"
    )
    shot = page.call(
        "Page.captureScreenshot",
        format="png",
        clip={**box, "scale": 1},
        captureBeyondViewport=True,
    )
    target = (IMAGES if os.environ.get("FLO_SCREENSHOTS") else folder) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(base64.b64decode(shot["data"]))
    return target


def press(page: Page, key: str, code: int, shift: bool = False, text: str = "") -> None:
    """Press and release ``key`` (its Windows key code ``code``; ``text``, the character it
    types), with Shift if asked."""
    for kind in ("keyDown" if text else "rawKeyDown", "keyUp"):
        page.call(
            "Input.dispatchKeyEvent",
            type=kind,
            key=key,
            code=key,
            windowsVirtualKeyCode=code,
            modifiers=8 if shift else 0,
            text=text if kind == "keyDown" else "",
        )


def no_dialog(page: Page) -> bool:
    return not [e for e in page.events if e.get("method") == "Page.javascriptDialogOpening"]


def test_a_flows_messages_appear_within_a_second_and_tick_to_delivered(browser, sandbox, tmp_path):
    open_page(browser, str(sandbox.base_url))
    browser.js(WATCH_STATUSES)
    result = flo(
        "run", "sample_flows/bulk_sms.yaml", "--input", "recipients=@sample_flows/recipients.csv"
    )
    assert result.code == 0, result.err
    ran = time.monotonic()
    browser.until(f"{BUBBLES}.length === 5", "the flow's 5 messages", seconds=1)
    assert time.monotonic() - ran < 1.0
    browser.until(f"{BUBBLES}.every((b) => b.dataset.status === 'delivered')", "delivered", 10)
    seen = browser.js("window.seen")
    assert len(seen) == 5 and all("sent" in statuses for statuses in seen.values()), seen
    assert browser.js("window.notReloaded") is True
    screenshot(browser, "#live > section", "inbox.png", tmp_path)
    bodies = browser.js(f"{BUBBLES}.map((b) => b.querySelector('.body').textContent)")
    assert "Hi Ada, welcome aboard" in bodies


def test_the_text_box_fires_a_flo_serve_flow_whose_reply_appears_by_keyboard_at_375px(
    browser, sandbox, tmp_path
):
    serve = Serving(tmp_path, str(ROOT / "sample_flows/auto_reply.yaml"))
    serve.wait_serving()
    set_sms_url(sandbox, serve.url())
    verify = f"/verify/v2/Services/VA{SID[2:]}/Verifications"  # its table fits too
    sandbox.post(verify, data={"To": "+12065550100", "Channel": "sms"}).raise_for_status()
    open_page(browser, str(sandbox.base_url), width=375)
    assert browser.js("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
    order = []
    for _ in range(7):
        press(browser, "Tab", 9)
        order.append(browser.js("document.activeElement.id || document.activeElement.textContent"))
    assert order == [
        "Skip to the messages",
        "q",
        "Search",
        "text-from",
        "text-to",
        "text-body",
        "text-media",
    ]
    press(browser, "Tab", 9, shift=True)
    press(browser, "Tab", 9, shift=True)
    press(browser, "ArrowDown", 40)  # the account's second number
    assert browser.js("document.getElementById('text-to').value") == NUMBER
    press(browser, "Tab", 9)
    browser.call("Input.insertText", text="hello from the page")
    press(browser, "Tab", 9)
    press(browser, "Tab", 9)
    assert browser.js("document.activeElement.textContent") == "Send"
    press(browser, "Enter", 13, text="\r")
    reply = "Thanks! You wrote: hello from the page"
    browser.until(
        f"{BUBBLES}.some((b) => b.classList.contains('out') && b.textContent.includes({reply!r}))",
        "the flow's reply in the thread",
        seconds=30,
    )
    browser.until("location.hash === '#thread-12065551212'", "the thread")
    browser.until(
        f"{BUBBLES}.every((b) => ['delivered', 'received'].includes(b.dataset.status))", "delivered"
    )
    assert browser.js("document.querySelector('.webhook .answer').textContent") == "200"
    assert browser.js("document.documentElement.scrollWidth") <= 375
    shot = screenshot(browser, "#thread-12065551212", "inbox-thread.png", tmp_path)
    assert shot.stat().st_size > 1000


def test_the_webhook_log_shows_a_bad_signatures_403(browser, sandbox, tmp_path):
    serve = Serving(tmp_path, str(ROOT / "sample_flows/auto_reply.yaml"))
    serve.wait_serving()
    # flo serve checks signatures against its own URL (127.0.0.1); signed for localhost,
    # each one is wrong: the mistake the log is there to show.
    set_sms_url(sandbox, serve.url().replace("127.0.0.1", "localhost"))
    open_page(browser, str(sandbox.base_url))
    browser.js("document.getElementById('text-body').value = 'is anyone there?'")
    browser.js(f"document.getElementById('text-to').value = {NUMBER!r}")
    browser.js("document.querySelector('#text-body').form.submit()")
    browser.until("document.querySelector('.webhook .answer')?.textContent === '403'", "the 403")
    browser.js("document.querySelector('.webhook summary').click()")
    shown = browser.js("document.querySelector('.webhook').innerText")
    assert "X-Twilio-Signature" in shown and "forbidden" in shown and "localhost" in shown
    serve.wait_for("refused a webhook (403)")
    shot = screenshot(browser, ".webhook", "inbox-webhook-log.png", tmp_path)
    assert shot.stat().st_size > 1000


def test_a_script_body_and_an_onerror_media_url_stay_text_in_the_browser(browser):
    state = SandboxState()
    with ServerThread(create_app(state)) as server, httpx.Client(base_url=server.url) as api:
        messages = f"/2010-04-01/Accounts/{SID}/Messages.json"
        form = {"From": "+15017122661", "To": "+12065550100", "Body": SCRIPT}
        sent = api.post(messages, data=form, auth=(SID, TOKEN)).json()
        state.messages[sent["sid"]]["media"] = [ONERROR_URL]  # the API refuses it; a --db may not
        open_page(browser, server.url)
        browser.until("!!document.querySelector('.bubble img')", "the thumbnail")
        assert browser.js("document.querySelector('.bubble .body').textContent") == SCRIPT
        assert browser.js("document.querySelectorAll('#live script').length") == 0
        image = browser.js(
            "(() => { const i = document.querySelector('.bubble img');"
            " return [i.getAttribute('src'), i.getAttributeNames()]; })()"
        )
        assert image == [ONERROR_URL, ["src", "alt", "loading", "referrerpolicy"]]
        browser.until("document.querySelector('.bubble img').complete", "the thumbnail's load")
        assert no_dialog(browser) and browser.js("document.title") == "flo sandbox inbox"
        browser.call("Page.navigate", url="about:blank")  # its live stream ends: the server stops
