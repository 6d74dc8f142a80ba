"""The domain replay of a clean demo-like chain: every invariant passes and the event-sourced
ledger equals the contracts' views at head."""

from __future__ import annotations

from client.audit.invariants import INVARIANTS, check_events
from client.audit.views import compare_with_views
from tests.audit._domain_scenario import Scenario
from tests.conftest import ChainHandle


def test_clean_scenario_passes_every_invariant_and_matches_the_views(
        chain: ChainHandle, scenario: Scenario) -> None:
    ledger, results = check_events(scenario.events, scenario.addresses, scenario.exposure_cap)
    failed = {r.name: r.counterexamples for r in results if not r.passed}
    assert failed == {}
    assert {r.name for r in results} == set(INVARIANTS)
    assert all(r.checked > 0 for r in results), [(r.name, r.checked) for r in results]
    assert len(ledger.loans) == 3 and [loan.status for loan in ledger.loans.values()] == [2, 2, 3]
    closed = [a for a in ledger.accounts.values() if a.closed]
    assert len(closed) == 1 and closed[0].balance == 0 and closed[0].repaid_other_lenders == 300_001
    by_kind = {(f.kind, f.to_other_lender): f for f in ledger.flows.values() if f.kind in (4, 5)}
    assert by_kind[(5, False)].counterparty != b"\x00" * 32  # the refund names its loan
    assert by_kind[(4, True)].counterparty == b"\x0c" * 32
    assert compare_with_views(chain.w3, ledger, scenario.head) == []
    assert ledger.migrations and ledger.snapshots[-1].non_performing > 0


def test_audit_check_cli_writes_json_and_html_and_exits_0(
        chain: ChainHandle, scenario: Scenario, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from client.cli import main

    deployment = tmp_path / "deployment.json"
    deployment.write_text(json.dumps({"contracts": scenario.addresses}))
    out = tmp_path / "audit"
    code = main(["audit", "check", "--rpc", chain.url, "--deployment", str(deployment), "--out", str(out),
                 "--to-block", str(scenario.head)])
    assert code == 0
    report = json.loads((out / "audit.json").read_text())
    assert report["result"] == "ok" and len(report["invariants"]) == len(INVARIANTS)
    page = (out / "audit.html").read_text()
    assert "<svg" in page and "NPL ratio" in page and "FAIL" not in page
