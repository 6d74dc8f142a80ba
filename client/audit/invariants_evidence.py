"""Evidence and arbitration invariants, checked while the :class:`~client.audit.invariants.Checker`
replays the events: role and state checks run before each event is applied (so "at that block"
means at that log position of the rebuilt membership timeline and loan book); the per-loan hash
chains and frozen sets are classified by the domain replay (:mod:`client.audit.evidence`, whose
docstring states the chain rule) and reported at the end.

They are reported only when the deployment has EvidenceRegistry or ArbitrationCases. Award
signatures are recovered with eth-account in the EIP-712 domain {name "coledger
ArbitrationCases", version "1", chainId, verifyingContract}; without a chain id they cannot be
checked and count as violations (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from client.audit.domain import DEFAULTED, Ledger
from client.audit.events import Event
from client.audit.evidence import CASE_OPEN, GENESIS, MAX_BATCH_SIZE, MAX_KIND, award_signer, item_hash
from client.consortium import Role

__all__ = ["EVIDENCE_INVARIANTS", "EvidenceChecker"]

EVIDENCE_INVARIANTS: dict[str, str] = {
    "evidence_item_hashes_match": (
        "every singly anchored item's itemHash equals SHA-256(0x00 || its 194-byte record) recomputed "
        "from the event; kinds are 0..8; an evidence id and a hash (item hash or batch root) are "
        "anchored at most once; batch ids run 1, 2, ... with sizes 1..2**32"),
    "evidence_hash_chains_unbroken": (
        "per loan, each single item's prev is GENESIS for its first item, else the previous single "
        "item's hash; a prev that can only be a batched item (a batch was anchored since the loan's "
        "last single item) is unverifiable on chain, listed in info, not a violation"),
    "evidence_anchored_by_lead_banks": (
        "every item and batch anchored by a transaction sender holding LeadBank at that log, who is "
        "the event's submitter; every reader key registered by an active member for itself"),
    "cases_opened_on_defaulted_loans": (
        "every case opened by a LeadBank key (the event's opener) on a loan Defaulted at that log, "
        "before an arbitrator holding Arbitrator at that log, with no other case of the loan open; "
        "case ids run 1, 2, ...; frozen head and count both zero or both nonzero"),
    "case_frozen_sets_consistent": (
        "a case's frozen head is the loan's last single item when it opened (or a batched item if a "
        "batch was anchored since) and its count covers the items up to it; empty only if the loan "
        "had no single item"),
    "awards_signed_by_assigned_arbitrators": (
        "every award recorded on an open case by its assigned arbitrator (the sender, holding "
        "Arbitrator at that log), with a nonzero hash and a 65-byte low-s EIP-712 signature of "
        "Award(caseId, loanId, awardHash) that recovers to that arbitrator"),
    "access_logs_monotonic_by_operators": (
        "per case (0 = reads outside any case), anchored access-log lengths strictly increase; each "
        "anchor on case 0 or an opened case, sent by its operator holding Operator at that log"),
}

Fail = Callable[[str, dict[str, Any]], None]
Count = Callable[[str], None]


class EvidenceChecker:
    """Pre-event checks (``hooks``) and end-of-replay checks (``finish``) of the evidence invariants."""

    def __init__(self, ledger: Ledger, fail: Fail, count: Count, chain_id: int | None = None) -> None:
        self.ledger = ledger
        self.ev = ledger.evidence
        self.ev.chain_id = chain_id
        self.chain_id = chain_id
        self._fail, self._count = fail, count
        enabled = bool({"EvidenceRegistry", "ArbitrationCases"} & set(ledger.addresses))
        self.invariants: dict[str, str] = dict(EVIDENCE_INVARIANTS) if enabled else {}
        self.hooks: dict[str, Callable[[Event], None]] = {
            "EvidenceAnchored": self._item, "EvidenceBatchAnchored": self._batch,
            "ReaderKeyRegistered": self._reader_key, "CaseOpened": self._case_opened,
            "AwardRecorded": self._award, "AccessLogAnchored": self._access_log,
        } if enabled else {}

    # ---------------------------------------------------------------- helpers

    def _roles(self, address: str) -> list[str]:
        led = self.ledger
        m = led.members.get(led.member_of_key.get(address.lower(), 0))
        return sorted(r.name for r in Role if m and m.active and m.roles >> r & 1)

    def _lead_bank_anchor(self, e: Event, submitter: str) -> None:
        name = "evidence_anchored_by_lead_banks"
        self._count(name)
        problems = []
        if submitter.lower() != e.sender:
            problems.append(f"submitter {submitter} is not the transaction sender")
        if not self.ledger.has_role(e.sender, Role.LEAD_BANK):
            problems.append("sender does not hold LEAD_BANK")
        if problems:
            self._fail(name, {**e.where(), "problems": problems, "sender_roles": self._roles(e.sender)})

    # ---------------------------------------------------------------- registry

    def _item(self, e: Event) -> None:
        a, ev = e.args, self.ev
        self._lead_bank_anchor(e, a["submitter"])
        name = "evidence_item_hashes_match"
        self._count(name)
        recomputed = item_hash(a["evidenceId"], a["loanId"], a["kind"], a["sha256Hash"], a["sm3Hash"],
                               a["ciphertextSha256"], a["prev"])
        problems = []
        if recomputed != a["itemHash"]:
            problems.append("itemHash differs from SHA-256(0x00 || record)")
        if a["kind"] > MAX_KIND:
            problems.append(f"kind {a['kind']} is not 0..{MAX_KIND}")
        if a["evidenceId"] in ev.items:
            problems.append("evidence id anchored before")
        if recomputed in ev.by_hash or recomputed in ev.batch_of_root:
            problems.append("item hash anchored before")
        if problems:
            self._fail(name, {**e.where(), "evidence_id": a["evidenceId"], "loan": a["loanId"],
                              "item_hash_event": a["itemHash"], "item_hash_recomputed": recomputed,
                              "problems": problems})

    def _batch(self, e: Event) -> None:
        a, ev = e.args, self.ev
        self._lead_bank_anchor(e, a["submitter"])
        name = "evidence_item_hashes_match"
        self._count(name)
        problems = []
        if a["batchId"] != len(ev.batches) + 1:
            problems.append(f"batch id {a['batchId']} does not follow {len(ev.batches)}")
        if not 1 <= a["size"] <= MAX_BATCH_SIZE:
            problems.append(f"size {a['size']} is not 1..2**32")
        if a["root"] == GENESIS or a["root"] in ev.by_hash or a["root"] in ev.batch_of_root:
            problems.append("root is zero or anchored before")
        if problems:
            self._fail(name, {**e.where(), "batch": a["batchId"], "root": a["root"], "problems": problems})

    def _reader_key(self, e: Event) -> None:
        name = "evidence_anchored_by_lead_banks"
        self._count(name)
        led = self.ledger
        m = led.members.get(led.member_of_key.get(e.sender, 0))
        if str(e.args["member"]).lower() != e.sender or m is None or not m.active:
            self._fail(name, {**e.where(), "action": "reader key", "member": e.args["member"],
                              "problems": ["not registered by an active member for itself"]})

    # ---------------------------------------------------------------- cases

    def _case_opened(self, e: Event) -> None:
        a, led, ev = e.args, self.ledger, self.ev
        name = "cases_opened_on_defaulted_loans"
        self._count(name)
        problems = []
        if str(a["opener"]).lower() != e.sender:
            problems.append(f"opener {a['opener']} is not the transaction sender")
        if not led.has_role(e.sender, Role.LEAD_BANK):
            problems.append("opener does not hold LEAD_BANK")
        loan = led.loans.get(a["loanId"])
        if loan is None:
            problems.append(f"loan {a['loanId']} was never opened")
        elif loan.status != DEFAULTED:
            problems.append(f"loan {a['loanId']} is {_STATUS.get(loan.status, loan.status)}, not Defaulted")
        if not led.has_role(a["arbitrator"], Role.ARBITRATOR):
            problems.append(f"arbitrator {a['arbitrator']} does not hold ARBITRATOR")
        if a["caseId"] != len(ev.cases) + 1:
            problems.append(f"case id {a['caseId']} does not follow {len(ev.cases)}")
        previous = ev.cases.get(ev.case_of_loan.get(a["loanId"], 0))
        if previous is not None and previous.status == CASE_OPEN:
            problems.append(f"case {previous.case_id} of the loan is still open")
        if (a["frozenHead"] == GENESIS) != (a["frozenCount"] == 0):
            problems.append("frozen head and count are not both zero or both nonzero")
        if problems:
            self._fail(name, {**e.where(), "case": a["caseId"], "loan": a["loanId"],
                              "arbitrator": a["arbitrator"], "problems": problems,
                              "opener_roles": self._roles(e.sender),
                              "arbitrator_roles": self._roles(str(a["arbitrator"]))})

    def _award(self, e: Event) -> None:
        a, led = e.args, self.ledger
        name = "awards_signed_by_assigned_arbitrators"
        self._count(name)
        c = self.ev.cases.get(a["caseId"])
        arbitrator = str(a["arbitrator"]).lower()
        problems = []
        signer: str | None = None
        if c is None:
            problems.append(f"case {a['caseId']} was never opened")
        else:
            if c.status != CASE_OPEN:
                problems.append("case is not open")
            if arbitrator != c.arbitrator:
                problems.append(f"award by {arbitrator}, the case's arbitrator is {c.arbitrator}")
        if e.sender != arbitrator:
            problems.append("the event's arbitrator is not the transaction sender")
        if not led.has_role(e.sender, Role.ARBITRATOR):
            problems.append("sender does not hold ARBITRATOR")
        if a["awardHash"] == GENESIS:
            problems.append("award hash is zero")
        contract = self.ledger.addresses.get("ArbitrationCases", "")
        if self.chain_id is None or not contract:
            problems.append("signature not verifiable: chain id or ArbitrationCases address unknown")
        elif c is not None:
            signer, why = award_signer(self.chain_id, contract, c.case_id, c.loan_id, a["awardHash"],
                                       a["signature"])
            if signer is None:
                problems.append(why)
            elif signer != c.arbitrator:
                problems.append(f"signature recovers to {signer}, not the arbitrator {c.arbitrator}")
        if problems:
            self._fail(name, {**e.where(), "case": a["caseId"], "award_hash": a["awardHash"],
                              "signer": signer, "problems": problems})

    def _access_log(self, e: Event) -> None:
        a = e.args
        name = "access_logs_monotonic_by_operators"
        self._count(name)
        problems = []
        if str(a["operator"]).lower() != e.sender:
            problems.append(f"operator {a['operator']} is not the transaction sender")
        if not self.ledger.has_role(e.sender, Role.OPERATOR):
            problems.append("sender does not hold OPERATOR")
        if a["caseId"] != 0 and a["caseId"] not in self.ev.cases:
            problems.append(f"case {a['caseId']} was never opened")
        before = self.ev.access_logs.get(a["caseId"])
        if before and a["entries"] <= before[-1].entries:
            problems.append(f"entries {a['entries']} do not exceed the {before[-1].entries} anchored "
                            f"in block {before[-1].block}")
        if problems:
            self._fail(name, {**e.where(), "case": a["caseId"], "entries": a["entries"], "problems": problems,
                              "sender_roles": self._roles(e.sender)})

    # ---------------------------------------------------------------- end of replay

    def finish(self) -> dict[str, dict[str, Any]]:
        """Chain and frozen-set checks from the replayed evidence; returns info per invariant."""
        if not self.invariants:
            return {}
        ev = self.ev
        unverifiable: list[dict[str, Any]] = []
        chain_name = "evidence_hash_chains_unbroken"
        for it in ev.items.values():
            self._count(chain_name)
            where = {"event": "EvidenceAnchored", "block": it.block, "log_index": it.log_index,
                     "tx": it.tx_hash, "evidence_id": it.evidence_id, "loan": it.loan,
                     "position": it.position, "prev": it.prev}
            if it.link == "broken":
                self._fail(chain_name, {**where, "problem": it.link_note})
            elif it.link == "via-batch":
                unverifiable.append({**where, "note": it.link_note})
        frozen_name = "case_frozen_sets_consistent"
        for c in ev.cases.values():
            self._count(frozen_name)
            if c.frozen_problem:
                self._fail(frozen_name, {"event": "CaseOpened", "block": c.opened_block, "tx": c.tx_hash,
                                         "case": c.case_id, "loan": c.loan_id, "frozen_head": c.frozen_head,
                                         "frozen_count": c.frozen_count, "problem": c.frozen_problem})
        return {
            chain_name: {"unverifiable_on_chain": len(unverifiable), "unverifiable": unverifiable[:20],
                         "chains": len(ev.chains)},
            frozen_name: {"via_batch": sorted(c.case_id for c in ev.cases.values()
                                              if c.frozen_status == "via batch")},
        }


_STATUS = {1: "Active", 2: "Closed", 3: "Defaulted"}
