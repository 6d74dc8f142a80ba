"""The case page in headless Chromium (Debian `chromium`, driven over the DevTools protocol):
sign in with the HttpOnly cookie, render the page of the real uvicorn server, check what an
arbitrator sees, and keep a screenshot in test-artifacts/api/ (or $COLEDGER_TEST_ARTIFACTS)."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.api._world import World
from tests.api.test_server_e2e import _login, server  # noqa: F401 - the module's uvicorn fixture
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("COLEDGER_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "api"


class DevTools:
    """One page target over the Chrome DevTools protocol (JSON messages on a websocket)."""

    def __init__(self, ws_url: str) -> None:
        self._connection = connect(ws_url, max_size=64 * 1024 * 1024, open_timeout=20)
        self._ws = self._connection.__enter__()
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        self._ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def wait_event(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == name:
                    return self.events.pop(i)
            self.events.append(json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic()))))

    def close(self) -> None:
        self._connection.__exit__(None, None, None)


@pytest.fixture(scope="module")
def browser() -> Iterator[DevTools]:
    if CHROMIUM is None:
        if os.environ.get("COLEDGER_REQUIRE_BROWSER") == "1":
            pytest.fail("COLEDGER_REQUIRE_BROWSER=1 but no chromium on PATH (scripts/test.sh installs Debian's)")
        pytest.skip("chromium is not installed")
    profile = Path(tempfile.mkdtemp(prefix="coledger-chromium-"))
    proc = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1400,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        ws_url = None
        while ws_url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"chromium exited with {proc.returncode}")
            if "DevTools listening on " in line:
                ws_url = line.split("DevTools listening on ", 1)[1].strip()
        assert ws_url is not None, "chromium did not open its DevTools port"
        port = ws_url.split(":")[2].split("/")[0]
        pages = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(p for p in pages if p["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        tools.call("Page.enable")
        tools.call("Network.enable")
        yield tools
        tools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def test_the_arbitrator_sees_the_case_page_in_a_browser(browser: DevTools, server: str,  # noqa: F811
                                                        world: World) -> None:
    token = _login(server, world.arbitrator.account, set_cookie=True).cookies["coledger_token"]
    assert browser.call("Network.setCookie", name="coledger_token", value=token, url=server, httpOnly=True,
                        sameSite="Strict")["success"]
    browser.call("Page.navigate", url=f"{server}/cases/{world.case_a}/page")
    browser.wait_event("Page.loadEventFired")

    def js(expression: str) -> Any:
        result = browser.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"]["value"]

    assert js("document.querySelector('h1').innerText") == f"Arbitration case {world.case_a} (loan {world.loan_a})"
    assert js("document.querySelectorAll('#evidence tbody tr').length") == 4
    assert js("document.querySelectorAll('#evidence .ok').length") == 12
    assert js("document.querySelectorAll('#evidence .bad').length") == 0
    assert js("document.cookie") == ""  # HttpOnly: no script can read the token
    assert js("document.getElementById('bundle').getAttribute('href')") == f"/cases/{world.case_a}/bundle"
    assert js("document.querySelectorAll('#timeline tbody tr').length") > 5
    # in an arbitrator's words: member names beside addresses, yuan, dates, sentences
    facts = js("document.querySelector('dl').innerText")
    assert "Opened by" in facts and "\nlead (0x" in facts and "arbitrator (0x" in facts, facts
    timeline = js("document.querySelector('#timeline').innerText")
    assert " RMB" in timeline and "days past due" in timeline and "=" not in timeline, timeline
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "case-page.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The page's CSP forbids scripts from fetching (connect-src 'none'); with it bypassed, the content
    # link is fetched with the browser's cookie alone — what the download link does.
    assert js(f"fetch('/evidence/0x{world.items_a[0].hex()}/content').then(r => r.status, e => 'blocked')") == (
        "blocked")
    browser.call("Page.setBypassCSP", enabled=True)
    browser.call("Page.reload")
    browser.wait_event("Page.loadEventFired")
    link = f"/evidence/0x{world.items_a[0].hex()}/content"
    assert js(f"fetch('{link}').then(r => r.json()).then(b => b.evidence_id)") == f"0x{world.items_a[0].hex()}"


def test_docs_and_redoc_render_with_nothing_but_the_api(browser: DevTools, server: str) -> None:  # noqa: F811
    """Bank networks are offline: every request the documentation pages make goes to the API
    itself (no CDN), and Swagger UI and ReDoc really render the API's operations."""

    def js(expression: str) -> Any:
        result = browser.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"]["value"]

    def until(expression: str, what: str) -> None:
        deadline = time.monotonic() + 30
        while not js(expression):
            assert time.monotonic() < deadline, f"{what} did not render"
            time.sleep(0.3)

    browser.call("Page.setBypassCSP", enabled=False)
    for page, rendered in (("/docs", "document.querySelectorAll('.opblock').length > 10"),
                           ("/redoc", "document.querySelectorAll('[data-section-id]').length > 10")):
        browser.events.clear()
        browser.call("Page.navigate", url=f"{server}{page}")
        browser.wait_event("Page.loadEventFired")
        until(rendered, page)
        requested = [e["params"]["request"]["url"] for e in browser.events
                     if e.get("method") == "Network.requestWillBeSent"]
        assert requested, "no request recorded"
        local = (server, f"blob:{server}", "data:")  # ReDoc runs its search in a blob: worker
        outside = [u for u in requested if not u.startswith(local)]
        assert outside == [], f"{page} fetched from outside the API: {outside}"
