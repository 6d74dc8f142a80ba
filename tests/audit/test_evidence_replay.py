"""The evidence replay of a clean chain (the domain scenario plus evidence, a case, an award and
access logs): every invariant passes, the rebuilt evidence equals the contracts' views at head,
and the report shows evidence per case, anchoring over time and NPL over time by product and
lender. Then a fork anchored on chain breaks the hash-chain invariant."""

from __future__ import annotations

import json
from pathlib import Path

from client.audit.evidence import CASE_AWARDED, GENESIS
from client.audit.invariants import INVARIANTS, check_events
from client.audit.invariants_evidence import EVIDENCE_INVARIANTS
from client.audit.views import compare_with_views
from tests.audit._evidence_scenario import EvidenceScenario
from tests.conftest import ChainHandle


def test_clean_evidence_replay_passes_every_invariant_and_matches_the_views(
        chain: ChainHandle, evidence_scenario: EvidenceScenario) -> None:
    s = evidence_scenario
    ledger, results = check_events(s.events, s.addresses, s.exposure_cap, chain_id=s.chain_id)
    failed = {r.name: r.counterexamples for r in results if not r.passed}
    assert failed == {}
    by_name = {r.name: r for r in results}
    assert set(by_name) == set(INVARIANTS) | set(EVIDENCE_INVARIANTS)
    assert all(by_name[n].checked > 0 for n in EVIDENCE_INVARIANTS), [(n, by_name[n].checked) for n in by_name]
    ev, r = ledger.evidence, s.recs
    assert len(ev.items) == 6 and len(ev.batches) == 1 and ev.batched_items == 3
    assert all(it.item_hash == it.reported_hash == r[name].hash for name, it in
               zip(["g1", "g2", "b1", "b2", "b5", "b6"], ev.items.values(), strict=True))
    assert [it.link for it in ev.items.values()] == ["genesis", "linked", "genesis", "linked", "via-batch", "linked"]
    info = by_name["evidence_hash_chains_unbroken"].info
    assert info["unverifiable_on_chain"] == 1 and info["unverifiable"][0]["evidence_id"] == r["b5"].evidence_id
    (case,) = ev.cases.values()
    assert (case.case_id, case.loan_id, case.frozen_count, case.frozen_head) == (
        s.case_id, s.loans["bad"], 5, r["b5"].hash)
    assert case.frozen_status == "on chain" and case.singles_at_open == 3 and ev.later_items(case) == 1
    assert case.status == CASE_AWARDED and case.award_signer == s.keys["arb"].address.lower()
    assert [a.entries for a in ev.access_logs[s.case_id]] == [2, 5] and ev.access_logs[0][0].entries == 1
    assert set(ev.reader_keys) == {s.keys["lead"].address.lower(), s.keys["arb"].address.lower()}
    assert compare_with_views(chain.w3, ledger, s.head) == []


def test_replay_missing_an_anchor_is_a_view_mismatch(chain: ChainHandle, evidence_scenario: EvidenceScenario) -> None:
    s = evidence_scenario
    last = max(i for i, e in enumerate(s.events) if e.name == "EvidenceAnchored")
    events = s.events[:last] + s.events[last + 1:]
    ledger, _ = check_events(events, s.addresses, s.exposure_cap, chain_id=s.chain_id)
    found = {(m.what, m.field, m.events, m.view) for m in compare_with_views(chain.w3, ledger, s.head)}
    assert ("evidence registry", "itemCount", 5, 6) in found


def test_forked_chain_on_chain_fails_evidence_hash_chains(evidence_scenario: EvidenceScenario) -> None:
    s = evidence_scenario
    _, results = check_events(s.broken_events, s.addresses, s.exposure_cap, chain_id=s.chain_id)
    failed = {r.name: r for r in results if not r.passed}
    assert set(failed) == {"evidence_hash_chains_unbroken"}
    (ex,) = failed["evidence_hash_chains_unbroken"].counterexamples
    assert ex["evidence_id"] == s.recs["fork"].evidence_id and ex["prev"] == s.recs["g1"].hash
    assert ex["problem"] == "fork: prev is item #0 of the loan, whose head is item #1"


def test_audit_check_reports_evidence_and_npl_over_time(
        chain: ChainHandle, evidence_scenario: EvidenceScenario, tmp_path: Path) -> None:
    from client.cli import main

    s = evidence_scenario
    deployment = tmp_path / "deployment.json"
    deployment.write_text(json.dumps({"contracts": s.addresses}))
    out = tmp_path / "audit"
    code = main(["audit", "check", "--rpc", chain.url, "--deployment", str(deployment), "--out", str(out),
                 "--to-block", str(s.head)])
    assert code == 0
    report = json.loads((out / "audit.json").read_text())
    assert report["result"] == "ok" and report["view_mismatches"] == []
    assert len(report["invariants"]) == len(INVARIANTS) + len(EVIDENCE_INVARIANTS)
    evidence = report["evidence"]
    assert evidence["summary"]["items"] == 6 and evidence["summary"]["links"]["via-batch"] == 1
    (case,) = evidence["cases"]
    assert case["award_signature_valid"] is True and case["later_items"] == 1
    assert [a["entries"] for a in case["access_log"]] == [2, 5]
    assert case["frozen_head"] == "0x" + s.recs["b5"].hash.hex() and case["award_hash"] != "0x" + GENESIS.hex()
    assert evidence["over_time"][-1]["items"] == 6 and evidence["over_time"][-1]["batched_items"] == 3
    npl = report["npl_over_time"]
    assert npl["by_product"] and len(npl["by_lender"]) == 3
    last_bp = [series["points"][-1]["npl_ratio_bp"] for series in npl["by_lender"].values()]
    assert all(bp == 10_000 for bp in last_bp)  # only the defaulted loan is outstanding at the end
    page = (out / "audit.html").read_text()
    for title in ("NPL ratio over time by product", "NPL ratio over time by lender", "Evidence per case",
                  "Evidence anchored over time", "valid (arbitrator)"):
        assert title in page, title
    assert "FAIL" not in page and "INVALID" not in page
