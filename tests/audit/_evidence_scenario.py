"""Evidence on top of the domain scenario (same session chain): EvidenceRegistry and
ArbitrationCases deployed; reader keys; single items chained per loan for the paid loan and the
defaulted one; an RFC 6962 batch of three items of both loans; a single item after the batch
(its prev is a batched leaf: unverifiable on chain); a case opened on the defaulted loan, a later
item, the arbitrator's EIP-712 signed award; access-log anchors (the case's and case 0's).

The item hashes and the batch root are computed here with hashlib, independently of the auditor.
After the clean head, one more item forks the paid loan's chain (`broken_events`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from client.audit.events import Event, fetch_events
from client.audit.fetch import RpcClient
from client.consortium import Role
from client.evidence_chain import (
    ArbitrationCasesClient,
    EvidenceRegistryClient,
    deploy_arbitration_cases,
    deploy_evidence_registry,
)
from client.tx import TransactionPipeline
from tests.audit._domain_scenario import Scenario
from tests.conftest import ChainHandle

GENESIS = bytes(32)


@dataclass(frozen=True)
class Rec:
    evidence_id: bytes
    loan: bytes
    kind: int
    sha256: bytes
    sm3: bytes
    ct: bytes
    prev: bytes

    @property
    def hash(self) -> bytes:
        record = (b"\x01" + self.evidence_id + self.loan + bytes([self.kind]) + self.sha256 + self.sm3 + self.ct
                  + self.prev)
        assert len(record) == 194
        return hashlib.sha256(b"\x00" + record).digest()


def rec(label: str, loan_id: int, kind: int, prev: bytes) -> Rec:
    def h(tag: str) -> bytes:
        return hashlib.sha256(f"{label}/{tag}".encode()).digest()
    return Rec(h("id"), loan_id.to_bytes(32, "big"), kind, h("sha256"), h("sm3"), h("ct"), prev)


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash of leaf hashes."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


@dataclass
class EvidenceScenario:
    addresses: dict[str, str]
    events: list[Event]
    head: int
    broken_events: list[Event]
    chain_id: int
    exposure_cap: int
    loans: dict[str, int]  # good, bad
    case_id: int
    recs: dict[str, Rec]
    keys: dict[str, LocalAccount]  # lead, a (partner), arb


def build(chain: ChainHandle, make_account: Callable[..., LocalAccount], base: Scenario) -> EvidenceScenario:
    arb = make_account("audit-ev-arb", roles=(Role.ARBITRATOR,))
    consortium = chain.admission.address
    reg_addr = deploy_evidence_registry(chain.admission.pipeline, consortium)
    cases_addr = deploy_arbitration_cases(chain.admission.pipeline, consortium, base.addresses["LoanLedger"])
    lead_pipe = TransactionPipeline(chain.w3, base.keys["lead"])
    arb_pipe = TransactionPipeline(chain.w3, arb)
    reg = EvidenceRegistryClient(chain.w3, reg_addr, lead_pipe)
    cases_lead = ArbitrationCasesClient(chain.w3, cases_addr, lead_pipe)
    cases_arb = ArbitrationCasesClient(chain.w3, cases_addr, arb_pipe)
    operator = ArbitrationCasesClient(chain.w3, cases_addr, chain.admission.pipeline)

    bad = next(e.args["loanId"] for e in base.events if e.name == "LoanDefaulted")
    good = min(e.args["loanId"] for e in base.events if e.name == "LoanClosed")  # repaid as scheduled
    reg.register_reader_key(hashlib.sha256(b"lead reader key").digest())
    EvidenceRegistryClient(chain.w3, reg_addr, arb_pipe).register_reader_key(
        hashlib.sha256(b"arbitrator reader key").digest())

    r: dict[str, Rec] = {}

    def single(name: str, loan: int, kind: int, prev: bytes) -> None:
        x = r[name] = rec(name, loan, kind, prev)
        got = reg.item_anchored(reg.anchor_item(x.evidence_id, x.loan, x.kind, x.sha256, x.sm3, x.ct, x.prev))
        assert got.item_hash == x.hash

    single("g1", good, 0, GENESIS)  # loan agreement
    single("g2", good, 3, r["g1"].hash)  # repayment record
    single("b1", bad, 0, GENESIS)
    single("b2", bad, 4, r["b1"].hash)  # overdue notice
    r["b3"] = rec("b3", bad, 5, r["b2"].hash)  # collection log, batched
    r["g3"] = rec("g3", good, 3, r["g2"].hash)
    r["b4"] = rec("b4", bad, 6, r["b3"].hash)  # fund-flow trace, batched
    root = mth([r["b3"].hash, r["g3"].hash, r["b4"].hash])
    assert reg.batch_anchored(reg.anchor_batch(root, 3)).batch_id == 1
    single("b5", bad, 8, r["b4"].hash)  # prev is a batched leaf: unverifiable on chain
    case_id = cases_lead.open_case(bad, arb.address, r["b5"].hash, 5)
    single("b6", bad, 5, r["b5"].hash)  # a later addition
    operator.anchor_access_log(case_id, hashlib.sha256(b"log 2").digest(), 2)
    award = hashlib.sha256(b"award: the borrower owes the lenders").digest()
    cases_arb.record_award(case_id, award, cases_arb.sign_award(arb, case_id, bad, award))
    operator.anchor_access_log(case_id, hashlib.sha256(b"log 5").digest(), 5)
    operator.anchor_access_log(0, hashlib.sha256(b"log outside").digest(), 1)

    addresses = {**base.addresses, "EvidenceRegistry": reg_addr, "ArbitrationCases": cases_addr}
    rpc = RpcClient(chain.url)
    try:
        events, head = fetch_events(rpc, addresses)
        single("fork", good, 3, r["g1"].hash)  # g1 already has a successor (g2): a fork
        broken, _ = fetch_events(rpc, addresses)
    finally:
        rpc.close()
    return EvidenceScenario(addresses, events, head, broken, int(chain.w3.eth.chain_id), base.exposure_cap,
                            {"good": good, "bad": bad}, case_id, r,
                            {"lead": base.keys["lead"], "a": base.keys["a"], "arb": arb})
