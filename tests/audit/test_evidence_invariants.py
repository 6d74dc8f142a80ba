"""Each evidence invariant broken in the input the checker sees (an altered copy of the clean
evidence scenario's events: what the contracts would refuse can only be crafted), and the failure
named with its counterexample; plus the per-loan hash-chain rule on synthetic events."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import replace

import pytest

from client.audit.events import Event
from client.audit.evidence import GENESIS, EvidenceLedger, item_hash
from client.audit.invariants import InvariantResult, check_events
from client.consortium import Role
from client.evidence_chain import ArbitrationCasesClient
from tests.audit._evidence_scenario import EvidenceScenario
from tests.conftest import ChainHandle

_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _check(s: EvidenceScenario, events: list[Event], chain_id: int | None = -1) -> dict[str, InvariantResult]:
    _, results = check_events(events, s.addresses, s.exposure_cap, chain_id=s.chain_id if chain_id == -1 else chain_id)
    return {r.name: r for r in results}


def _failed(results: dict[str, InvariantResult]) -> set[str]:
    return {n for n, r in results.items() if not r.passed}


def _find(events: list[Event], name: str, nth: int = 0) -> Event:
    return [e for e in events if e.name == name][nth]


@pytest.fixture
def events(evidence_scenario: EvidenceScenario) -> list[Event]:
    return copy.deepcopy(evidence_scenario.events)


def test_altered_item_hash_fails_item_hashes_match(evidence_scenario: EvidenceScenario, events: list[Event]) -> None:
    e = _find(events, "EvidenceAnchored", 1)
    e.args["itemHash"] = bytes([e.args["itemHash"][0] ^ 1]) + e.args["itemHash"][1:]
    results = _check(evidence_scenario, events)
    assert _failed(results) == {"evidence_item_hashes_match"}
    (ex,) = results["evidence_item_hashes_match"].counterexamples
    assert ex["problems"] == ["itemHash differs from SHA-256(0x00 || record)"]
    assert ex["item_hash_recomputed"] == evidence_scenario.recs["g2"].hash and ex["block"] == e.block


def test_batch_anchored_twice_fails_item_hashes_match(evidence_scenario: EvidenceScenario,
                                                     events: list[Event]) -> None:
    i = next(i for i, e in enumerate(events) if e.name == "EvidenceBatchAnchored")
    events.insert(i + 1, replace(copy.deepcopy(events[i]), log_index=events[i].log_index + 1000))
    results = _check(evidence_scenario, events)
    assert "evidence_item_hashes_match" in _failed(results)
    (ex,) = results["evidence_item_hashes_match"].counterexamples
    assert ex["problems"] == ["batch id 1 does not follow 1", "root is zero or anchored before"]


def test_anchor_by_a_partner_fails_evidence_anchored_by_lead_banks(evidence_scenario: EvidenceScenario,
                                                                  events: list[Event]) -> None:
    partner = evidence_scenario.keys["a"].address.lower()
    e = _find(events, "EvidenceBatchAnchored")
    e.sender = e.args["submitter"] = partner
    results = _check(evidence_scenario, events)
    assert _failed(results) == {"evidence_anchored_by_lead_banks"}
    (ex,) = results["evidence_anchored_by_lead_banks"].counterexamples
    assert (ex["event"], ex["from"], ex["problems"], ex["sender_roles"]) == (
        "EvidenceBatchAnchored", partner, ["sender does not hold LEAD_BANK"], ["PARTNER"])


def test_case_on_a_loan_not_defaulted_fails_cases_opened_on_defaulted_loans(
        evidence_scenario: EvidenceScenario, events: list[Event]) -> None:
    good = evidence_scenario.loans["good"]
    _find(events, "CaseOpened").args["loanId"] = good
    results = _check(evidence_scenario, events)
    assert "cases_opened_on_defaulted_loans" in _failed(results)
    (ex,) = results["cases_opened_on_defaulted_loans"].counterexamples
    assert ex["problems"] == [f"loan {good} is Closed, not Defaulted"]
    # and the frozen head (an item of the defaulted loan) no longer belongs to the case's loan
    assert results["case_frozen_sets_consistent"].counterexamples[0]["problem"].startswith(
        "frozen head is an item of loan")


def test_arbitrator_without_the_role_fails_cases_and_awards(evidence_scenario: EvidenceScenario,
                                                           events: list[Event]) -> None:
    arb = evidence_scenario.keys["arb"].address.lower()
    added = next(e for e in events if e.name == "MemberAdded" and e.args["key"].lower() == arb)
    added.args["roles"] &= ~(1 << Role.ARBITRATOR)  # the timeline now says: never an arbitrator
    results = _check(evidence_scenario, events)
    assert _failed(results) == {"cases_opened_on_defaulted_loans", "awards_signed_by_assigned_arbitrators"}
    (case,) = results["cases_opened_on_defaulted_loans"].counterexamples
    assert case["problems"] == [f"arbitrator {arb} does not hold ARBITRATOR"] and case["arbitrator_roles"] == []
    (award,) = results["awards_signed_by_assigned_arbitrators"].counterexamples
    assert award["problems"] == ["sender does not hold ARBITRATOR"]


@pytest.mark.parametrize(("head", "count", "problem"), [
    ("b2", 5, "frozen head is item #1 of the loan, but item #2 was anchored after it, before the case opened"),
    ("b5", 2, "frozen count 2 < the 3 items up to the head"),
    (None, 0, "empty frozen set, but 3 items of the loan were anchored"),
    ("unknown", 5, None),  # a head matching nothing: possibly a batched item (a batch came before it)
])
def test_frozen_set_not_the_loans_evidence_fails_case_frozen_sets_consistent(
        evidence_scenario: EvidenceScenario, events: list[Event], head: str | None, count: int,
        problem: str | None) -> None:
    a = _find(events, "CaseOpened").args
    a["frozenHead"] = (GENESIS if head is None else hashlib.sha256(b"?").digest() if head == "unknown"
                       else evidence_scenario.recs[head].hash)
    a["frozenCount"] = count
    results = _check(evidence_scenario, events)
    if problem is None:
        # b5, the loan's last single item, was anchored after the batch: nothing batched can follow it
        assert _failed(results) == {"case_frozen_sets_consistent"}
        assert results["case_frozen_sets_consistent"].counterexamples[0]["problem"] == (
            "frozen head matches no anchored item and no batch was anchored since the loan's head")
        return
    assert _failed(results) == {"case_frozen_sets_consistent"}
    (ex,) = results["case_frozen_sets_consistent"].counterexamples
    assert ex["problem"] == problem and ex["case"] == evidence_scenario.case_id


def test_award_signed_by_another_key_fails_awards_signed_by_assigned_arbitrators(
        chain: ChainHandle, evidence_scenario: EvidenceScenario, events: list[Event]) -> None:
    s = evidence_scenario
    e = _find(events, "AwardRecorded")
    lead = s.keys["lead"]
    cases = ArbitrationCasesClient(chain.w3, s.addresses["ArbitrationCases"])
    e.args["signature"] = cases.sign_award(lead, s.case_id, s.loans["bad"], e.args["awardHash"])
    results = _check(s, events)
    assert _failed(results) == {"awards_signed_by_assigned_arbitrators"}
    (ex,) = results["awards_signed_by_assigned_arbitrators"].counterexamples
    arb = s.keys["arb"].address.lower()
    assert ex["problems"] == [f"signature recovers to {lead.address.lower()}, not the arbitrator {arb}"]
    assert ex["signer"] == lead.address.lower()


def test_altered_award_hash_and_malleable_signature_fail_awards(evidence_scenario: EvidenceScenario,
                                                                events: list[Event]) -> None:
    e = _find(events, "AwardRecorded")
    sig = e.args["signature"]
    s_value = int.from_bytes(sig[32:64], "big")
    e.args["signature"] = sig[:32] + (_N - s_value).to_bytes(32, "big") + bytes([55 - sig[64]])
    results = _check(evidence_scenario, events)
    assert results["awards_signed_by_assigned_arbitrators"].counterexamples[0]["problems"] == [
        "signature has a high s (malleable)"]
    events2 = copy.deepcopy(evidence_scenario.events)
    _find(events2, "AwardRecorded").args["awardHash"] = hashlib.sha256(b"another award").digest()
    results = _check(evidence_scenario, events2)
    assert _failed(results) == {"awards_signed_by_assigned_arbitrators"}
    assert results["awards_signed_by_assigned_arbitrators"].counterexamples[0]["problems"][0].startswith(
        "signature recovers to 0x")


def test_award_without_a_chain_id_fails_closed(evidence_scenario: EvidenceScenario, events: list[Event]) -> None:
    results = _check(evidence_scenario, events, chain_id=None)
    assert _failed(results) == {"awards_signed_by_assigned_arbitrators"}
    assert results["awards_signed_by_assigned_arbitrators"].counterexamples[0]["problems"] == [
        "signature not verifiable: chain id or ArbitrationCases address unknown"]


def test_access_log_not_advancing_fails_access_logs_monotonic(evidence_scenario: EvidenceScenario,
                                                              events: list[Event]) -> None:
    first, second = _find(events, "AccessLogAnchored", 0), _find(events, "AccessLogAnchored", 1)
    second.args["entries"] = 2
    results = _check(evidence_scenario, events)
    assert _failed(results) == {"access_logs_monotonic_by_operators"}
    (ex,) = results["access_logs_monotonic_by_operators"].counterexamples
    assert ex["problems"] == [f"entries 2 do not exceed the 2 anchored in block {first.block}"]


def test_access_log_by_a_non_operator_fails_access_logs_monotonic(evidence_scenario: EvidenceScenario,
                                                                  events: list[Event]) -> None:
    lead = evidence_scenario.keys["lead"].address.lower()
    e = _find(events, "AccessLogAnchored", 2)  # case 0: reads outside any case
    e.sender = e.args["operator"] = lead
    e.args["caseId"] = 7
    results = _check(evidence_scenario, events)
    assert _failed(results) == {"access_logs_monotonic_by_operators"}
    (ex,) = results["access_logs_monotonic_by_operators"].counterexamples
    assert ex["problems"] == ["sender does not hold OPERATOR", "case 7 was never opened"]
    assert ex["sender_roles"] == ["LEAD_BANK"]


# ---------------------------------------------------------------- the chain rule, on synthetic events


def _loan(n: int) -> bytes:
    return n.to_bytes(32, "big")


class _Chain:
    """Feeds synthetic registry events to an EvidenceLedger, one block each."""

    def __init__(self) -> None:
        self.ev = EvidenceLedger()
        self.block = 0
        self.handlers = self.ev.handlers()

    def _emit(self, name: str, args: dict[str, object]) -> None:
        self.block += 1
        self.handlers[name](Event("EvidenceRegistry", name, args, self.block, 0, f"0x{self.block:064x}"))

    def item(self, label: str, loan: int, prev: bytes) -> bytes:
        eid = hashlib.sha256(label.encode()).digest()
        fields = (eid, _loan(loan), 8, eid, eid, eid, prev)
        h = item_hash(*fields)
        self._emit("EvidenceAnchored", {
            "evidenceId": eid, "loanId": _loan(loan), "kind": 8, "itemHash": h, "prev": prev, "sha256Hash": eid,
            "sm3Hash": eid, "ciphertextSha256": eid, "submitter": "0x" + "11" * 20})
        return h

    def batch(self, root: bytes, size: int) -> None:
        self._emit("EvidenceBatchAnchored", {"batchId": len(self.ev.batches) + 1, "root": root, "size": size,
                                             "submitter": "0x" + "11" * 20})

    def link(self, label: str) -> tuple[str, str]:
        it = self.ev.items[hashlib.sha256(label.encode()).digest()]
        return it.link, it.link_note


def test_chain_rule_linked_via_batch_and_broken() -> None:
    c = _Chain()
    a1 = c.item("a1", 1, GENESIS)
    c.item("a2", 1, a1)
    unknown = hashlib.sha256(b"a leaf nobody anchored").digest()
    c.item("b1", 2, unknown)  # loan 2's first item, no batch anywhere yet
    c.batch(hashlib.sha256(b"root of 4").digest(), 4)
    c.item("b2", 2, unknown)  # a batch was anchored since loan 2's head (b1): maybe a batched leaf
    c.item("a3", 1, unknown)  # the same for loan 1
    c.item("a4", 1, unknown)  # but a3 came after the batch: nothing batched can sit between
    c.item("a5", 1, GENESIS)
    c.item("a6", 1, a1)
    c.item("a7", 1, c.ev.items[hashlib.sha256(b"b2").digest()].item_hash)
    c.item("a8", 1, hashlib.sha256(b"root of 4").digest())
    leaf = hashlib.sha256(b"a single leaf").digest()
    c.batch(leaf, 1)
    c.item("a9", 1, leaf)
    assert [c.link(x)[0] for x in ("a1", "a2", "b1", "b2", "a3", "a4", "a5", "a6", "a7", "a8", "a9")] == [
        "genesis", "linked", "broken", "via-batch", "via-batch", "broken", "broken", "broken", "broken", "broken",
        "via-batch"]
    assert c.link("b1")[1] == "prev matches no anchored item and no batch was anchored since the loan's first block"
    assert c.link("a4")[1] == "prev matches no anchored item and no batch was anchored since the loan's head"
    assert c.link("a5")[1].startswith("restarts at GENESIS after 4 items of the loan")
    assert c.link("a6")[1] == "fork: prev is item #0 of the loan, whose head is item #4"
    assert c.link("a7")[1].endswith("of loan 2, not of this loan")
    assert c.link("a8")[1] == "prev is the root of batch 1 of 4 items, not an item hash"
    assert c.link("a9")[1] == "prev is the single leaf of batch 2"
    assert c.ev.summary()["links"] == {"genesis": 1, "linked": 1, "broken": 6, "via-batch": 3}
