"""The auditor's page in headless Chromium at a laptop's 1280 x 800: nothing wider than the
window, every chart legend inside its chart, amounts in yuan; a screenshot is kept in
test-artifacts/audit/ (or $COLEDGER_TEST_ARTIFACTS)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_case_page_browser import DevTools, browser  # noqa: F401 - the chromium fixture
from tests.audit._domain_scenario import Scenario
from tests.conftest import ROOT, ChainHandle

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(os.environ.get("COLEDGER_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "audit"


def test_the_audit_report_fits_a_laptop_window_and_reads_in_yuan(
        browser: DevTools, chain: ChainHandle, scenario: Scenario, tmp_path: Path) -> None:  # noqa: F811
    from client.cli import main

    deployment = tmp_path / "deployment.json"
    deployment.write_text(json.dumps({"contracts": scenario.addresses}))
    out = tmp_path / "audit"
    assert main(["audit", "check", "--rpc", chain.url, "--deployment", str(deployment),
                 "--out", str(out), "--to-block", str(scenario.head)]) == 0
    browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=800,
                 deviceScaleFactor=1, mobile=False)
    browser.call("Page.navigate", url=(out / "audit.html").as_uri())
    browser.wait_event("Page.loadEventFired")

    def js(expression: str) -> Any:
        result = browser.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"]["value"]

    assert js("document.documentElement.scrollWidth") <= 1280, "the page is wider than the window"
    cut = js("""[...document.querySelectorAll('svg')].flatMap(svg => {
        const box = svg.getBoundingClientRect();
        return [...svg.querySelectorAll('text')].filter(t => {
          const r = t.getBoundingClientRect();
          return r.right > box.right + 0.5 || r.bottom > box.bottom + 0.5;
        }).map(t => t.textContent);
      })""")
    assert cut == [], f"chart text cut off: {cut}"
    summary = js("document.querySelector('table.summary').innerText")
    assert "outstanding principal" in summary and " RMB" in summary and "npl_ratio_bp" not in summary
    # the loan book is a step chart: every segment is horizontal or vertical
    slopes = js("""[...document.querySelectorAll('svg polyline')].flatMap(p => {
        const pts = p.getAttribute('points').trim().split(/\\s+/).map(s => s.split(',').map(Number));
        return pts.slice(1).filter((q, i) => q[0] !== pts[i][0] && q[1] !== pts[i][1]).length;
      }).reduce((a, b) => a + b, 0)""")
    assert slopes == 0, "a chart draws slopes between events instead of steps"
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "audit-report.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 10_000
    browser.call("Emulation.clearDeviceMetricsOverride")
