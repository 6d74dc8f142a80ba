"""EvidenceSubmitter against a real chain: hash chains, batches, cases and key sharing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from arbitration.bundle import Anchor, build_bundle, verify_bundle
from arbitration.errors import KeyUnwrapError, NoReaderAccessError, ReaderKeyNotRegisteredError
from arbitration.merkle import MerkleTree
from arbitration.reader_keys import derive_reader_key, reader_public_key
from arbitration.record import GENESIS_PREV, EvidenceKind, EvidenceRecord
from arbitration.sealing import seal
from arbitration.submit import case_id32, loan_id32
from arbitration.vault import EvidenceVault, ItemMeta
from arbitration.verify import verify_inclusion
from client.errors import ContractRevert
from client.evidence_chain import CaseStatus

from ._chain_env import EvidenceEnv, deploy_evidence_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(w3: Web3, chain: Any, make_account: Callable[..., LocalAccount]) -> EvidenceEnv:
    return deploy_evidence_env(w3, chain, make_account, "submit")


def test_three_items_on_one_loan_form_a_hash_chain_anchored_item_by_item(env: EvidenceEnv, tmp_path: Path) -> None:
    sub = env.submitter(env.lead, tmp_path)
    registry = env.registry_client()
    contents = [b"loan agreement", b"disbursement receipt", b"overdue notice"]
    kinds = [EvidenceKind.LOAN_AGREEMENT, "disbursement_receipt", 4]
    receipts = [sub.submit_evidence(101, k, c, media_type="text/plain", collected="scanned")
                for k, c in zip(kinds, contents, strict=True)]
    assert registry.reader_key(env.lead.address) == reader_public_key(env.lead.key)

    records = [sub.vault.record(r.evidence_id).record for r in receipts]
    assert [r.prev for r in records] == [GENESIS_PREV, records[0].item_hash(), records[1].item_hash()]
    assert [r.kind for r in records] == [EvidenceKind.LOAN_AGREEMENT, EvidenceKind.DISBURSEMENT_RECEIPT,
                                         EvidenceKind.OVERDUE_NOTICE]
    assert all(r.loan_id == loan_id32(101) for r in records)
    for receipt, record in zip(receipts, records, strict=True):
        assert receipt.item_hash == record.item_hash()
        anchor = registry.item(receipt.evidence_id)
        assert anchor is not None and anchor.item_hash == record.item_hash()
        assert (anchor.block_number, anchor.submitter) == (receipt.block_number, env.lead.address)
    assert receipts[0].block_number < receipts[1].block_number < receipts[2].block_number
    assert sub.loan_head(101) == (records[2].item_hash(), 3)
    me = derive_reader_key(env.lead.key)
    assert [sub.vault.open(r.evidence_id, me) for r in receipts] == contents
    stored = sub.vault.record(receipts[0].evidence_id)
    assert (stored.media_type, stored.collected, stored.submitter) == ("text/plain", "scanned", env.lead.address)
    # the offline verifier accepts the three single-item "batches" as one complete chain
    bundle = build_bundle([([r], Anchor()) for r in records])
    assert verify_bundle(bundle).loans == {"0x" + loan_id32(101).hex(): True}


def test_a_vault_record_whose_anchoring_never_happened_is_not_linked(env: EvidenceEnv, tmp_path: Path) -> None:
    sub = env.submitter(env.lead, tmp_path)
    first = sub.submit_evidence(102, "other", b"first")
    orphan_id = b"\x5a" * 32
    sealed = seal(b"never anchored", orphan_id, [sub.reader_key.public_key()])
    d = sealed.digests
    orphan = EvidenceRecord(orphan_id, EvidenceKind.OTHER, loan_id32(102), d.sha256, d.sm3, d.ciphertext_sha256,
                            first.item_hash)
    sub.vault.put_item(orphan, sealed.blob, sealed.wrapped_keys, ItemMeta(env.lead.address))
    assert sub.loan_head(102) == (first.item_hash, 1)
    second = sub.submit_evidence(102, "other", b"second")
    assert sub.vault.record(second.evidence_id).record.prev == first.item_hash


def test_a_batch_of_five_across_two_loans_chains_each_loan_and_proves_inclusion(
    env: EvidenceEnv, tmp_path: Path
) -> None:
    sub = env.submitter(env.lead, tmp_path)
    before = sub.submit_evidence(201, "loan_agreement", b"agreement 201")
    items = [(201, "repayment_record", b"r1"), (202, "loan_agreement", b"agreement 202"),
             (201, "overdue_notice", b"n1"), (202, "collection_log", b"call log"), (201, "collection_log", b"visit")]
    batch = sub.anchor_batch(items, media_type="text/plain")
    assert batch.size == 5 and len(batch.evidence_ids) == 5 and batch.batch_id >= 1
    assert sub.vault.batch(batch.root) == list(batch.evidence_ids)
    anchor = env.registry_client().batch(batch.root)
    assert anchor is not None
    assert (anchor.batch_id, anchor.size, anchor.block_number) == (batch.batch_id, 5, batch.block_number)

    records = [sub.vault.record(e).record for e in batch.evidence_ids]
    assert [r.loan_id for r in records] == [loan_id32(n) for n, _, _ in items]
    assert records[0].prev == before.item_hash
    assert records[2].prev == records[0].item_hash() and records[4].prev == records[2].item_hash()
    assert records[1].prev == GENESIS_PREV and records[3].prev == records[1].item_hash()
    tree = MerkleTree([r.item_hash() for r in records])
    assert tree.root == batch.root
    for i, r in enumerate(records):
        verify_inclusion(r.item_hash(), i, anchor.size, tree.inclusion_proof(i), batch.root)

    assert sub.loan_head(201) == (records[4].item_hash(), 4)
    assert sub.loan_head(202) == (records[3].item_hash(), 2)
    after = sub.submit_evidence(201, "other", b"after the batch")
    assert sub.vault.record(after.evidence_id).record.prev == records[4].item_hash()
    assert [it.evidence_id for it in sub.anchored_items(201)] == [
        before.evidence_id, *batch.evidence_ids[0::2], after.evidence_id]
    single = sub.vault.record(before.evidence_id).record
    last = sub.vault.record(after.evidence_id).record
    bundle = build_bundle([([single], Anchor()), (records, Anchor()), ([last], Anchor())])
    report = verify_bundle(bundle)
    assert report.items == 7 and all(report.loans.values())
    me = derive_reader_key(env.lead.key)
    assert [sub.vault.open(e, me) for e in batch.evidence_ids] == [c for _, _, c in items]


def test_open_case_freezes_the_chain_and_gives_the_arbitrator_a_working_key(env: EvidenceEnv, tmp_path: Path) -> None:
    loan_id = env.defaulted_loan()
    lead = env.submitter(env.lead, tmp_path)
    first = lead.submit_evidence(loan_id, "loan_agreement", b"the contract")
    batch = lead.anchor_batch([(loan_id, "overdue_notice", b"notice 1"), (loan_id, "overdue_notice", b"notice 2")])
    arbitrator = env.submitter(env.arbitrator, tmp_path)  # the same vault, read by the arbitrator
    assert arbitrator.ensure_reader_key() is True and arbitrator.ensure_reader_key() is False

    case_id = lead.open_case(loan_id, env.arbitrator.address)
    info = env.cases_client().case(case_id)
    last = lead.vault.record(batch.evidence_ids[-1]).record
    assert (info.loan_id, info.arbitrator, info.opener, info.status) == (
        loan_id, env.arbitrator.address, env.lead.address, CaseStatus.OPEN)
    assert (info.frozen_head, info.frozen_count) == (last.item_hash(), 3)
    key = derive_reader_key(env.arbitrator.key)
    eids = [first.evidence_id, *batch.evidence_ids]
    assert [lead.vault.open(e, key) for e in eids] == [b"the contract", b"notice 1", b"notice 2"]
    for e in eids:
        wk = lead.vault.key_for(e, reader_public_key(env.arbitrator.key))
        assert wk is not None and wk.case_id == case_id32(case_id)
    assert lead.grant_case_access(case_id) == 0  # idempotent

    later = lead.submit_evidence(loan_id, "collection_log", b"call after the case opened")
    assert lead.vault.open(later.evidence_id, key) == b"call after the case opened"
    assert lead.vault.key_for(later.evidence_id, reader_public_key(env.arbitrator.key), case_id32(case_id))
    outsider = derive_reader_key(env.servicing.partner1.account.key)
    with pytest.raises(KeyUnwrapError):
        lead.vault.open(later.evidence_id, outsider)


def test_open_case_refuses_an_arbitrator_without_a_reader_key_before_sending(
    env: EvidenceEnv, tmp_path: Path
) -> None:
    loan_id = env.defaulted_loan()
    lead = env.submitter(env.lead, tmp_path)
    lead.submit_evidence(loan_id, "other", b"x")
    count = env.cases_client().case_count()
    with pytest.raises(ReaderKeyNotRegisteredError) as e:
        lead.open_case(loan_id, env.other_arbitrator.address)
    assert e.value.account == env.other_arbitrator.address
    assert env.cases_client().case_count() == count


def test_open_case_refuses_items_this_vault_cannot_open(env: EvidenceEnv, tmp_path: Path) -> None:
    loan_id = env.defaulted_loan()
    env.submitter(env.lead, tmp_path).submit_evidence(loan_id, "other", b"x")
    other_lead = env.submitter(env.servicing.other_lead.account, tmp_path)
    env.submitter(env.arbitrator, tmp_path).ensure_reader_key()
    with pytest.raises(NoReaderAccessError):
        other_lead.open_case(loan_id, env.arbitrator.address)


def test_a_non_lead_bank_cannot_open_a_case_and_a_non_arbitrator_cannot_be_assigned(
    env: EvidenceEnv, tmp_path: Path
) -> None:
    loan_id = env.defaulted_loan()
    env.submitter(env.arbitrator, tmp_path).ensure_reader_key()
    partner = env.submitter(env.servicing.partner1.account, tmp_path)
    with pytest.raises(ContractRevert) as e:
        partner.open_case(loan_id, env.arbitrator.address)
    assert e.value.name == "ArbitrationUnauthorized"
    assert e.value.args_by_name == {"account": partner.address, "role": 0}
    auditor = env.submitter(env.servicing.auditor.account, tmp_path)
    auditor.ensure_reader_key()
    lead = env.submitter(env.lead, tmp_path)
    with pytest.raises(ContractRevert) as e:
        lead.open_case(loan_id, auditor.address)
    assert e.value.name == "ArbitrationNotArbitrator"
    assert e.value.args_by_name == {"arbitrator": auditor.address}


def test_the_awarded_case_stops_wrapping_new_items_for_the_arbitrator(env: EvidenceEnv, tmp_path: Path) -> None:
    loan_id = env.defaulted_loan()
    lead = env.submitter(env.lead, tmp_path)
    lead.submit_evidence(loan_id, "other", b"before")
    env.submitter(env.arbitrator, tmp_path).ensure_reader_key()
    case_id = lead.open_case(loan_id, env.arbitrator.address)
    cases = env.cases_client(env.arbitrator)
    award = b"\x11" * 32
    cases.record_award(case_id, award, cases.sign_award(env.arbitrator, case_id, loan_id, award))
    after = lead.submit_evidence(loan_id, "other", b"after the award")
    assert lead.vault.key_for(after.evidence_id, reader_public_key(env.arbitrator.key)) is None
    assert EvidenceVault(tmp_path).record(after.evidence_id).record.prev != GENESIS_PREV
