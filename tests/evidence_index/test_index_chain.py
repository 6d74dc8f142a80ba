"""The evidence index, proofs and the chain check against the session chain (embedded or anvil).

One module-wide deployment: the audit tests' domain scenario (real CreditLines, LoanLedger and
FundFlows, one loan walked to Defaulted through flows, holds, verifications and collection
steps), plus an EvidenceRegistry and ArbitrationCases on the same Consortium. Each test indexes
from block 0 into a fresh SQLite file, so tests do not depend on each other's syncs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from arbitration.bundle import Batch, Bundle, dump_bundle, parse_bundle, verify_bundle
from arbitration.chain_check import check_anchors, check_award
from arbitration.errors import (
    AnchorMismatchError,
    AwardSignatureError,
    ChainUnreachableError,
    EvidenceNotIndexedError,
)
from arbitration.index import EvidenceIndex
from arbitration.merkle import MerkleTree
from arbitration.proofs import case_bundle_zip, evidence_proof, read_case_zip
from arbitration.record import GENESIS_PREV, EvidenceRecord
from arbitration.vault import EvidenceVault
from client.consortium import Role
from client.evidence_chain import (
    ArbitrationCasesClient,
    EvidenceRegistryClient,
    deploy_arbitration_cases,
    deploy_evidence_registry,
)
from client.tx import TransactionPipeline
from tests.conftest import ChainHandle, free_port
from tests.evidence_index._helpers import record, vault_records


@dataclass
class Env:
    chain: ChainHandle
    addresses: dict[str, str]
    registry: EvidenceRegistryClient
    cases: ArbitrationCasesClient
    lead: LocalAccount
    arbitrator: LocalAccount
    arbitrator_pipe: TransactionPipeline
    vault: EvidenceVault
    defaulted_loan: int
    other_loans: list[int]
    _next_loan: int = 10_000

    def new_loan(self) -> int:
        """A loan id no other test anchors evidence for (the registry does not check loans)."""
        self._next_loan += 1
        return self._next_loan

    def index(self, path: Path) -> EvidenceIndex:
        return EvidenceIndex(str(path), self.chain.w3, self.addresses, self.vault)

    def anchor_single(self, r: EvidenceRecord) -> dict[str, Any]:
        return dict(self.registry.anchor_item(r.evidence_id, r.loan_id, int(r.kind), r.sha256, r.sm3,
                                              r.ciphertext_sha256, r.prev))

    def anchor_batch(self, records: list[EvidenceRecord], manifest: bool = True) -> bytes:
        root = MerkleTree([r.item_hash() for r in records]).root
        if manifest:
            self.vault.put_batch(root, len(records), [r.evidence_id for r in records])
        self.registry.anchor_batch(root, len(records))
        return root


@pytest.fixture(scope="module")
def env(chain: ChainHandle, make_account: Callable[..., LocalAccount], scenario: Any,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    defaulted = [e.args["loanId"] for e in scenario.events if e.name == "LoanDefaulted"]
    opened = [e.args["loanId"] for e in scenario.events if e.name == "LoanOpened"]
    assert len(defaulted) == 1
    lead = scenario.keys["lead"]
    lead_pipe = TransactionPipeline(chain.w3, lead)
    ops = chain.admission.pipeline
    registry = deploy_evidence_registry(ops, chain.admission.address)
    cases = deploy_arbitration_cases(ops, chain.admission.address, scenario.addresses["LoanLedger"])
    arbitrator = make_account("evidence-index-arbitrator", roles=(Role.ARBITRATOR,))
    addresses = {**scenario.addresses, "EvidenceRegistry": registry, "ArbitrationCases": cases}
    yield Env(
        chain, addresses, EvidenceRegistryClient(chain.w3, registry, lead_pipe),
        ArbitrationCasesClient(chain.w3, cases, lead_pipe), lead, arbitrator,
        TransactionPipeline(chain.w3, arbitrator), EvidenceVault(tmp_path_factory.mktemp("vault")),
        int(defaulted[0]), [int(n) for n in opened if n != defaulted[0]],
    )


def test_sync_indexes_singles_and_batches_once(env: Env, tmp_path: Path) -> None:
    loan = env.new_loan()
    recs = vault_records(env.vault, loan, 5, env.lead.address)
    receipt = env.anchor_single(recs[0])
    root = env.anchor_batch(recs[1:4])
    env.anchor_single(recs[4])
    index = env.index(tmp_path / "i.sqlite")
    assert index.sync() >= 5
    counts = index.counts()
    assert index.sync() == 0 and index.last_sync is not None and index.last_sync.items == 0
    assert index.counts() == counts
    reopened = env.index(tmp_path / "i.sqlite")
    assert reopened.sync() == 0 and reopened.counts() == counts
    items = index.items_of_loan(loan)
    assert [it.evidence_id for it in items] == [r.evidence_id for r in recs]
    assert [it.position for it in items] == list(range(5))
    first = items[0]
    block = env.chain.w3.eth.get_block(receipt["blockNumber"])
    assert (first.block_number, first.block_hash, first.block_timestamp) == (
        receipt["blockNumber"], bytes(block["hash"]), block["timestamp"])
    assert (first.batch_root, first.batch_size, first.batch_id, first.leaf_index) == (
        recs[0].item_hash(), 1, None, 0)
    assert first.tx_hash == bytes(receipt["transactionHash"]) and first.submitter == env.lead.address
    assert [(it.batch_root, it.leaf_index, it.batch_size) for it in items[1:4]] == [(root, i, 3) for i in range(3)]
    assert items[1].batch_id is not None and items[1].batch_id >= 1
    status = index.chain_status(loan)
    assert status.intact and status.items == 5 and status.head == recs[-1].item_hash()
    assert index.problems() == [] and index.chain_id == env.chain.w3.eth.chain_id


def test_missing_manifest_is_a_problem_until_a_later_sync_finds_it(env: Env, tmp_path: Path) -> None:
    loan = env.new_loan()
    recs = vault_records(env.vault, loan, 4, env.lead.address)
    root = env.anchor_batch(recs[:3], manifest=False)
    index = env.index(tmp_path / "i.sqlite")
    index.sync()
    (problem,) = [p for p in index.problems() if p.root == root]
    assert problem.kind == "missing_manifest" and not problem.resolved
    assert index.items_of_loan(loan) == []
    env.anchor_single(recs[3])  # a later item of the same loan lands first
    index.sync()
    assert [it.evidence_id for it in index.items_of_loan(loan)] == [recs[3].evidence_id]
    assert not index.chain_status(loan).intact  # its predecessors are missing
    env.vault.put_batch(root, 3, [r.evidence_id for r in recs[:3]])
    assert index.sync() == 3
    assert root not in [p.root for p in index.problems()]
    (fixed,) = [p for p in index.problems(include_resolved=True) if p.root == root]
    assert fixed.resolved and fixed.attempts == 2
    items = index.items_of_loan(loan)
    assert [it.evidence_id for it in items] == [r.evidence_id for r in recs]
    assert [it.position for it in items] == [0, 1, 2, 3]
    assert index.chain_status(loan).intact


def test_tampered_manifest_is_a_problem_and_indexes_nothing(env: Env, tmp_path: Path) -> None:
    loan = env.new_loan()
    recs = vault_records(env.vault, loan, 3, env.lead.address)
    root = MerkleTree([r.item_hash() for r in recs]).root
    env.vault.put_batch(root, 3, [recs[1].evidence_id, recs[0].evidence_id, recs[2].evidence_id])
    env.registry.anchor_batch(root, 3)
    short = [*vault_records(env.vault, loan, 2, env.lead.address, recs[-1].item_hash())]
    short_root = MerkleTree([r.item_hash() for r in short]).root
    env.vault.put_batch(short_root, 2, [r.evidence_id for r in short])
    env.registry.anchor_batch(short_root, 3)  # the chain says 3 leaves, the manifest 2
    index = env.index(tmp_path / "i.sqlite")
    index.sync()
    kinds = {p.root: p.kind for p in index.problems()}
    assert kinds[root] == "root_mismatch" and kinds[short_root] == "size_mismatch"
    assert index.items_of_loan(loan) == []


def test_duplicate_evidence_id_keeps_its_first_anchor(env: Env, tmp_path: Path) -> None:
    loan = env.new_loan()
    first, other = vault_records(env.vault, loan, 2, env.lead.address)
    receipt = env.anchor_single(first)
    root = env.anchor_batch([other, first])  # the contract cannot see inside a batch
    index = env.index(tmp_path / "i.sqlite")
    index.sync()
    item = index.item(first.evidence_id)
    assert item is not None and item.block_number == receipt["blockNumber"] and item.batch_size == 1
    (dup,) = index.duplicates(first.evidence_id)
    assert (dup.batch_root, dup.leaf_index, dup.first_root) == (root, 1, first.item_hash())
    bundle = evidence_proof(index, other.evidence_id)  # the batch still proves its other leaf
    verify_bundle(bundle, require_complete_chains=False)
    check_anchors(bundle, env.chain.url)


def test_chain_status_finds_a_broken_link(env: Env, tmp_path: Path) -> None:
    loan = env.new_loan()
    a = record(loan)
    b = record(loan, prev=hashlib.sha256(b"not a").digest())
    for r in (a, b):
        env.anchor_single(r)
    index = env.index(tmp_path / "i.sqlite")
    index.sync()
    status = index.chain_status(loan)
    assert not status.intact
    assert (status.break_position, status.break_evidence_id, status.expected_prev, status.found_prev) == (
        1, b.evidence_id, a.item_hash(), b.prev)


def _with_anchor(bundle: Bundle, **changes: Any) -> Bundle:
    (b,) = bundle.batches
    return dataclasses.replace(bundle, batches=(Batch(b.root, b.tree_size, dataclasses.replace(b.anchor, **changes)),))


def test_evidence_proof_verifies_and_its_anchor_is_on_chain(env: Env, tmp_path: Path) -> None:
    loan = env.new_loan()
    recs = vault_records(env.vault, loan, 4, env.lead.address)
    env.anchor_single(recs[0])
    root = env.anchor_batch(recs[1:])
    index = env.index(tmp_path / "i.sqlite")
    index.sync()
    for r, event, size in ((recs[0], "EvidenceAnchored", 1), (recs[2], "EvidenceBatchAnchored", 3)):
        bundle = evidence_proof(index, r.evidence_id)
        assert parse_bundle(dump_bundle(bundle)) == bundle
        report = verify_bundle(bundle, require_complete_chains=False)
        assert report.items == 1 and report.anchored
        (check,) = check_anchors(bundle, env.chain.url)
        assert (check.event, check.tree_size) == (event, size)
        assert check.contract == bytes.fromhex(env.addresses["EvidenceRegistry"][2:])
    bundle = evidence_proof(index, recs[2].evidence_id)
    assert bundle.batches[0].root == root and bundle.items[0].leaf_index == 1
    a = bundle.batches[0].anchor
    assert a.block_number is not None and a.timestamp is not None
    tampered: dict[str, Any] = {
        "block_hash": os.urandom(32), "tx_hash": os.urandom(32), "contract": os.urandom(20),
        "timestamp": a.timestamp + 1, "block_number": a.block_number + 1, "submitter": os.urandom(20),
        "chain_id": 7,
    }
    for field, value in tampered.items():
        with pytest.raises(AnchorMismatchError) as e:
            check_anchors(_with_anchor(bundle, **{field: value}), env.chain.url)
        assert (e.value.field, e.value.batch_root) == (field, root), e.value
    (b,) = bundle.batches
    for field, batch in (("root", Batch(os.urandom(32), b.tree_size, b.anchor)),
                         ("tree_size", Batch(b.root, b.tree_size + 1, b.anchor))):
        with pytest.raises(AnchorMismatchError) as e:
            check_anchors(dataclasses.replace(bundle, batches=(batch,)), env.chain.url)
        assert e.value.field == field
    with pytest.raises(AnchorMismatchError) as e:
        check_anchors(_with_anchor(bundle, block_number=None, block_hash=None, tx_hash=None, timestamp=None,
                                   chain_id=None, contract=None, submitter=None), env.chain.url)
    assert e.value.field == "anchor"
    with pytest.raises(ChainUnreachableError):
        check_anchors(bundle, f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(EvidenceNotIndexedError):
        evidence_proof(index, os.urandom(32))


def test_an_anchor_from_another_registry_does_not_pass(env: Env, tmp_path: Path) -> None:
    """The same record anchored on a second registry: a bundle naming the first registry fails."""
    other = deploy_evidence_registry(env.chain.admission.pipeline, env.chain.admission.address)
    loan = env.new_loan()
    (r,) = vault_records(env.vault, loan, 1, env.lead.address)
    EvidenceRegistryClient(env.chain.w3, other, env.registry.pipeline).anchor_item(
        r.evidence_id, r.loan_id, int(r.kind), r.sha256, r.sm3, r.ciphertext_sha256, r.prev)
    index = EvidenceIndex(str(tmp_path / "other.sqlite"), env.chain.w3, {"EvidenceRegistry": other}, env.vault)
    index.sync()
    bundle = evidence_proof(index, r.evidence_id)
    check_anchors(bundle, env.chain.url)
    with pytest.raises(AnchorMismatchError) as e:
        check_anchors(_with_anchor(bundle, contract=bytes.fromhex(env.addresses["EvidenceRegistry"][2:])),
                      env.chain.url)
    assert e.value.field == "contract"


def test_case_zip_verifies_offline_and_on_chain(env: Env, tmp_path: Path) -> None:
    loan = env.defaulted_loan
    recs = vault_records(env.vault, loan, 4, env.lead.address)
    env.anchor_single(recs[0])
    env.anchor_batch(recs[1:3])
    case_id = env.cases.open_case(loan, env.arbitrator.address, recs[2].item_hash(), 3)
    env.anchor_single(recs[3])  # a later addition
    award_hash = hashlib.sha256(b"award").digest()
    arb_cases = ArbitrationCasesClient(env.chain.w3, env.addresses["ArbitrationCases"], env.arbitrator_pipe)
    signature = arb_cases.sign_award(env.arbitrator, case_id, loan, award_hash)
    arb_cases.record_award(case_id, award_hash, signature)
    ops = ArbitrationCasesClient(env.chain.w3, env.addresses["ArbitrationCases"], env.chain.admission.pipeline)
    ops.anchor_access_log(case_id, hashlib.sha256(b"log").digest(), 2)

    index = env.index(tmp_path / "i.sqlite")
    index.sync()
    case = index.case(case_id)
    assert case is not None and case.status == "awarded" and case.loan_id == loan
    assert (case.arbitrator, case.opener, case.frozen_count, case.award_signature) == (
        env.arbitrator.address, env.lead.address, 3, signature)
    assert case.access_log_entries == 2
    assert [c.case_id for c in index.cases_for(env.arbitrator.address, [Role.ARBITRATOR])] == [case_id]
    assert [c.case_id for c in index.cases_for(env.lead.address, [Role.LEAD_BANK])] == [case_id]
    assert [c.case_id for c in index.cases_for(env.arbitrator.address, [Role.LEAD_BANK])] == []
    assert case_id in [c.case_id for c in index.cases_for(os.urandom(20).hex(), [Role.AUDITOR])]
    assert [it.later for it in index.items_of_loan(loan)] == [False, False, False, True]

    data = case_bundle_zip(index, env.vault, case_id)
    assert case_bundle_zip(index, env.vault, case_id) == data  # deterministic
    z = read_case_zip(data)
    report = verify_bundle(z.bundle, ciphertexts=z.ciphertexts)
    assert report.items == 4 and report.loans == {"0x" + loan.to_bytes(32, "big").hex(): True}
    assert z.bundle.case_id == case_id.to_bytes(32, "big")
    assert len(z.ciphertexts) == 4 and len(z.receipts) == 3
    for tx, doc in z.receipts.items():
        assert doc["receipt"]["transactionHash"] == tx and doc["block"]["hash"] == doc["receipt"]["blockHash"]
    assert z.case["later_additions"] == ["0x" + recs[3].evidence_id.hex()]
    assert z.case["eip712_domain"]["verifyingContract"] == env.addresses["ArbitrationCases"]
    assert check_award(z.case) == env.arbitrator.address
    assert len(check_anchors(z.bundle, env.chain.url, case_json=z.case)) == 3
    forged = {**z.case, "award": {**z.case["award"], "signature": "0x" + bytes(
        env.lead.unsafe_sign_hash(os.urandom(32)).signature).hex()}}
    with pytest.raises(AwardSignatureError):
        check_award(forged)

    timeline = index.timeline(loan)
    positions = [(e.block_number, e.log_index, e.leaf_index) for e in timeline]
    assert positions == sorted(positions)
    kinds = [e.kind for e in timeline]
    for kind in ("loan_opened", "disbursed", "drawdown_synced", "flow", "verification_resolved", "hold_placed",
                 "hold_released", "repaid", "classified", "collection_step", "defaulted", "evidence",
                 "case_opened", "award_recorded", "access_log_anchored"):
        assert kind in kinds, kind
    assert kinds.index("loan_opened") < kinds.index("defaulted") < kinds.index("case_opened") < kinds.index(
        "award_recorded")
    verdicts = {e.payload["verdict"] for e in timeline if e.kind == "flow"}
    assert {"verify", "hold", "rejected"} <= verdicts
    # The other loans never see the defaulted loan's flows or case.
    for other in env.other_loans:
        assert "case_opened" not in [e.kind for e in index.timeline(other)]
    assert GENESIS_PREV == index.items_of_loan(loan)[0].prev


def test_sync_and_queries_run_on_any_thread(env: Env, tmp_path: Path) -> None:
    """A web server syncs on a background thread and reads on worker threads (one connection each)."""
    from concurrent.futures import ThreadPoolExecutor

    loan = env.new_loan()
    recs = vault_records(env.vault, loan, 3, env.lead.address)
    env.anchor_batch(recs)
    reader = EvidenceIndex(str(tmp_path / "i.sqlite"))  # opened read-only before any writer
    index = env.index(tmp_path / "i.sqlite")
    with ThreadPoolExecutor(4) as pool:
        assert pool.submit(index.sync).result(timeout=120) >= 3
        got = list(pool.map(lambda _: len(reader.items_of_loan(loan)), range(8)))
    assert got == [3] * 8
    assert evidence_proof(reader, recs[0].evidence_id).batches[0].anchor.contract == bytes.fromhex(
        env.addresses["EvidenceRegistry"][2:])
    reader.close()
    index.close()


def test_a_reorganised_block_stops_the_sync(env: Env, tmp_path: Path) -> None:
    if env.chain.kind != "anvil":
        pytest.skip("only anvil can revert blocks (the embedded node's blocks are final)")
    from arbitration.errors import IndexReorgError

    w3 = env.chain.w3
    index = env.index(tmp_path / "i.sqlite")
    index.sync()
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    loan = env.new_loan()
    (r,) = vault_records(env.vault, loan, 1, env.lead.address)
    env.anchor_single(r)
    index.sync()
    assert index.item(r.evidence_id) is not None
    w3.provider.make_request("evm_revert", [snapshot])
    assert env.registry.pipeline is not None
    env.registry.pipeline.resync_nonce()
    w3.provider.make_request("evm_mine", [])
    w3.provider.make_request("evm_mine", [])
    with pytest.raises(IndexReorgError):
        index.sync()
