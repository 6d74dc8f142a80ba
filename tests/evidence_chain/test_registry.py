"""EvidenceRegistry: single and batch anchors, their refusals, reader keys, typed events, gas."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from arbitration.merkle import MerkleTree
from arbitration.record import EvidenceKind, EvidenceRecord
from client.consortium import Role
from client.errors import CoLedgerValueError
from client.evidence_chain import (
    BatchAnchor,
    BatchAnchored,
    EvidenceRegistryClient,
    ItemAnchor,
    ItemAnchored,
    ReaderKeyRegistered,
    deploy_evidence_registry,
)
from tests.evidence_chain._helpers import (
    Actor,
    assert_reverts,
    deploy_consortium_for,
    make_actors,
    random_record,
    raw_call,
    record_args,
)

LEAD_BANK = int(Role.LEAD_BANK)
ANY_MEMBER = 255
LABELS = {
    "governor": (Role.GOVERNOR, Role.OPERATOR),
    "lead": (Role.LEAD_BANK,),
    "partner": (Role.PARTNER,),
    "arbitrator": (Role.ARBITRATOR,),
}


@dataclass
class Env:
    w3: Web3
    actors: dict[str, Actor]
    consortium: str
    address: str
    start_block: int

    def client(self, label: str | None = None) -> EvidenceRegistryClient:
        pipeline = self.actors[label].pipeline if label else None
        return EvidenceRegistryClient(self.w3, self.address, pipeline)

    @property
    def lead(self) -> Actor:
        return self.actors["lead"]

    def call(self, fn: str, *args: Any) -> Any:
        return raw_call(self.client().contract, fn, *args)

    def state(self) -> tuple[int, int]:
        reader = self.client()
        return reader.item_count(), reader.batch_count()


@pytest.fixture(scope="module")
def env(w3: Web3, make_account: Callable[..., LocalAccount]) -> Env:
    actors = make_actors(w3, make_account, "registry", LABELS)
    consortium = deploy_consortium_for(actors, LABELS, "governor")
    start = int(w3.eth.block_number)
    address = deploy_evidence_registry(actors["governor"].pipeline, consortium)
    return Env(w3, actors, consortium, address, start)


# ------------------------------------------------------------------------------ single items


def test_anchor_item_stores_the_record_item_hash_and_emits_EvidenceAnchored(env: Env) -> None:
    lead = env.client("lead")
    record = random_record(loan_id=42, kind=EvidenceKind.OVERDUE_NOTICE, prev=os.urandom(32))
    count = lead.item_count()
    receipt = lead.anchor_item(*record_args(record))
    block = env.w3.eth.get_block(receipt["blockNumber"])
    assert lead.item_anchored(receipt) == ItemAnchored(
        evidence_id=record.evidence_id, loan_id=record.loan_id, kind=int(EvidenceKind.OVERDUE_NOTICE),
        item_hash=record.item_hash(), prev=record.prev, sha256=record.sha256, sm3=record.sm3,
        ciphertext_sha256=record.ciphertext_sha256, submitter=env.lead.address,
        block_number=receipt["blockNumber"], block_hash="0x" + bytes(block["hash"]).hex(),
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(), log_index=receipt["logs"][0]["logIndex"],
    )
    assert lead.item(record.evidence_id) == ItemAnchor(record.item_hash(), receipt["blockNumber"], env.lead.address)
    assert lead.item_count() == count + 1
    assert lead.batch(record.item_hash()) is None  # an item hash is not a batch


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    eid=st.binary(min_size=32, max_size=32).filter(any),
    loan=st.binary(min_size=32, max_size=32),
    kind=st.sampled_from(list(EvidenceKind)),
    sha=st.binary(min_size=32, max_size=32).filter(any),
    sm3=st.binary(min_size=32, max_size=32),
    ct=st.binary(min_size=32, max_size=32).filter(any),
    prev=st.binary(min_size=32, max_size=32),
)
def test_on_chain_item_hash_equals_EvidenceRecord_item_hash_for_any_record(
    env: Env, eid: bytes, loan: bytes, kind: EvidenceKind, sha: bytes, sm3: bytes, ct: bytes, prev: bytes,
) -> None:
    record = EvidenceRecord(eid, kind, loan, sha, sm3, ct, prev)
    fn = env.client().contract.functions.anchorItem(*record_args(record))
    assert bytes(fn.call({"from": env.lead.address})) == record.item_hash()


def test_zero_loan_sm3_and_prev_are_allowed(env: Env) -> None:
    record = EvidenceRecord(os.urandom(32), EvidenceKind.OTHER, bytes(32), os.urandom(32), bytes(32),
                            os.urandom(32), bytes(32))
    lead = env.client("lead")
    assert lead.item_anchored(lead.anchor_item(*record_args(record))).item_hash == record.item_hash()


def test_duplicate_evidence_id_reverts_with_EvidenceAlreadyAnchored(env: Env) -> None:
    lead = env.client("lead")
    first = random_record()
    lead.anchor_item(*record_args(first))
    again = random_record(loan_id=7)
    again = EvidenceRecord(first.evidence_id, again.kind, again.loan_id, again.sha256, again.sm3,
                           again.ciphertext_sha256, again.prev)
    before = env.state()
    for record in (first, again):
        assert_reverts(env.lead, env.call("anchorItem", *record_args(record)),
                       "EvidenceAlreadyAnchored", evidenceId=first.evidence_id)
    assert env.state() == before
    assert lead.item(first.evidence_id).item_hash == first.item_hash()  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", [9, 200, 255])
def test_unknown_kind_reverts_with_EvidenceUnknownKind(env: Env, kind: int) -> None:
    args = list(record_args(random_record()))
    args[2] = kind
    assert_reverts(env.lead, env.call("anchorItem", *args), "EvidenceUnknownKind", kind=kind)


@pytest.mark.parametrize(("field", "error"), [
    (0, "EvidenceZeroId"), (3, "EvidenceZeroHash"), (5, "EvidenceZeroHash"),
])
def test_zero_id_or_content_hash_reverts(env: Env, field: int, error: str) -> None:
    args = list(record_args(random_record()))
    args[field] = bytes(32)
    assert_reverts(env.lead, env.call("anchorItem", *args), error)


@pytest.mark.parametrize("label", ["governor", "partner", "arbitrator", "outsider"])
def test_anchoring_without_the_lead_bank_role_reverts_with_EvidenceUnauthorized(env: Env, label: str) -> None:
    actor = env.actors[label]
    before = env.state()
    assert_reverts(actor, env.call("anchorItem", *record_args(random_record())),
                   "EvidenceUnauthorized", account=actor.address, role=LEAD_BANK)
    assert_reverts(actor, env.call("anchorBatch", os.urandom(32), 4),
                   "EvidenceUnauthorized", account=actor.address, role=LEAD_BANK)
    assert env.state() == before


# ------------------------------------------------------------------------------ batches


def test_anchor_batch_stores_root_and_size_and_emits_EvidenceBatchAnchored(env: Env) -> None:
    lead = env.client("lead")
    records = [random_record(loan_id=i % 3 + 1) for i in range(5)]
    tree = MerkleTree([r.item_hash() for r in records])
    count = lead.batch_count()
    receipt = lead.anchor_batch(tree.root, tree.size)
    event = lead.batch_anchored(receipt)
    assert event == BatchAnchored(
        batch_id=count + 1, root=tree.root, size=5, submitter=env.lead.address,
        block_number=receipt["blockNumber"], block_hash=event.block_hash,
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(), log_index=receipt["logs"][0]["logIndex"],
    )
    assert lead.batch(tree.root) == BatchAnchor(count + 1, 5, receipt["blockNumber"], env.lead.address)
    assert lead.batch_count() == count + 1
    assert lead.batch(os.urandom(32)) is None


def test_batch_ids_count_from_one(w3: Web3, env: Env) -> None:
    fresh = EvidenceRegistryClient(
        w3, deploy_evidence_registry(env.actors["governor"].pipeline, env.consortium), env.lead.pipeline)
    assert fresh.batch_count() == 0
    assert fresh.batch_anchored(fresh.anchor_batch(os.urandom(32), 1)).batch_id == 1
    assert fresh.batch_anchored(fresh.anchor_batch(os.urandom(32), 2)).batch_id == 2


def test_reanchoring_a_root_reverts_with_EvidenceRootAlreadyAnchored(env: Env) -> None:
    root = os.urandom(32)
    env.client("lead").anchor_batch(root, 8)
    before = env.state()
    for size in (8, 9):
        assert_reverts(env.lead, env.call("anchorBatch", root, size), "EvidenceRootAlreadyAnchored", root=root)
    assert env.state() == before
    assert env.client().batch(root).size == 8  # type: ignore[union-attr]


def test_an_item_hash_cannot_be_anchored_as_a_root(env: Env) -> None:
    record = random_record()
    env.client("lead").anchor_item(*record_args(record))
    assert_reverts(env.lead, env.call("anchorBatch", record.item_hash(), 1),
                   "EvidenceRootAlreadyAnchored", root=record.item_hash())


def test_a_root_cannot_be_anchored_again_as_an_item_hash(env: Env) -> None:
    record = random_record()
    env.client("lead").anchor_batch(record.item_hash(), 1)  # a one-leaf tree's root is its leaf hash
    assert_reverts(env.lead, env.call("anchorItem", *record_args(record)),
                   "EvidenceRootAlreadyAnchored", root=record.item_hash())
    assert env.client().item(record.evidence_id) is None


@pytest.mark.parametrize("size", [0, 2**32 + 1, 2**64 - 1])
def test_batch_size_outside_one_to_two_pow_32_reverts_with_EvidenceBadBatchSize(env: Env, size: int) -> None:
    assert_reverts(env.lead, env.call("anchorBatch", os.urandom(32), size), "EvidenceBadBatchSize", size=size)
    with pytest.raises(CoLedgerValueError, match="batch size"):
        env.client("lead").anchor_batch_call(os.urandom(32), size)


def test_batch_of_two_pow_32_items_and_of_one_are_accepted(env: Env) -> None:
    lead = env.client("lead")
    for size in (2**32, 1):
        root = os.urandom(32)
        lead.anchor_batch(root, size)
        assert lead.batch(root).size == size  # type: ignore[union-attr]


def test_zero_root_reverts_with_EvidenceZeroHash(env: Env) -> None:
    assert_reverts(env.lead, env.call("anchorBatch", bytes(32), 3), "EvidenceZeroHash")


# ------------------------------------------------------------------------------ reader keys


def test_member_registers_and_replaces_its_reader_key(env: Env) -> None:
    partner = env.client("partner")
    assert partner.reader_key(env.actors["partner"].address) is None
    for key in (os.urandom(32), os.urandom(32)):
        receipt = partner.register_reader_key(key)
        [event] = partner.receipt_events(receipt)
        assert isinstance(event, ReaderKeyRegistered)
        assert (event.member, event.key) == (env.actors["partner"].address, key)
        assert partner.reader_key(env.actors["partner"].address) == key


def test_reader_key_of_a_non_member_or_zero_is_refused(env: Env) -> None:
    outsider = env.actors["outsider"]
    assert_reverts(outsider, env.call("registerReaderKey", os.urandom(32)),
                   "EvidenceUnauthorized", account=outsider.address, role=ANY_MEMBER)
    assert_reverts(env.actors["arbitrator"], env.call("registerReaderKey", bytes(32)), "EvidenceZeroKey")
    assert env.client().reader_key(outsider.address) is None


# ------------------------------------------------------------------------------ client, events, gas


def test_events_yield_typed_dataclasses_in_chain_order(env: Env) -> None:
    lead = env.client("lead")
    start = int(env.w3.eth.block_number) + 1
    record = random_record()
    r1 = lead.anchor_item(*record_args(record))
    r2 = lead.anchor_batch(os.urandom(32), 3)
    r3 = env.client("arbitrator").register_reader_key(os.urandom(32))
    events = list(lead.events(start))
    assert [type(e) for e in events] == [ItemAnchored, BatchAnchored, ReaderKeyRegistered]
    for event, receipt in zip(events, (r1, r2, r3), strict=True):
        block = env.w3.eth.get_block(receipt["blockNumber"])
        assert event.block_number == receipt["blockNumber"]
        assert event.block_hash == "0x" + bytes(block["hash"]).hex()
        assert event.tx_hash == "0x" + bytes(receipt["transactionHash"]).hex()
    assert list(lead.events(start, start - 1)) == []
    everything = list(lead.events(env.start_block))
    assert [(e.block_number, e.log_index) for e in everything] == sorted(
        (e.block_number, e.log_index) for e in everything)


def test_client_checks_arguments_and_read_only_client_refuses_writes(env: Env) -> None:
    args = list(record_args(random_record()))
    args[3] = b"short"
    with pytest.raises(CoLedgerValueError, match="sha256 must be 32 bytes"):
        env.client("lead").anchor_item(*args)
    with pytest.raises(CoLedgerValueError, match="read-only"):
        env.client().anchor_item(*record_args(random_record()))
    assert env.client().contract.functions.consortium().call() == env.consortium


def test_gas_per_item_of_a_256_item_batch_is_under_3000(env: Env) -> None:
    lead = env.client("lead")
    single = lead.anchor_item(*record_args(random_record()))["gasUsed"]
    tree = MerkleTree([random_record().item_hash() for _ in range(256)])
    batch = lead.anchor_batch(tree.root, 256)["gasUsed"]
    print(f"\ngas: anchorItem {single}, anchorBatch(256) {batch} = {batch / 256:.0f} per item")
    assert batch / 256 < 3_000
    assert single < 120_000
