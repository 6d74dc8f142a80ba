"""The evidence index without a chain: crafted anchors (``bulk_index``), the writer, the vault checks."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from eth_account import Account

from arbitration import _evidence_abi as ev
from arbitration._index_write import Writer, load_batch
from arbitration.chain_check import check_award
from arbitration.errors import (
    AwardSignatureError,
    CaseMismatchError,
    IndexDeploymentMismatchError,
    IndexSchemaError,
)
from arbitration.index import EvidenceIndex
from arbitration.record import GENESIS_PREV
from arbitration.timeline import LoanEvent
from arbitration.vault import EvidenceVault
from client.artifacts import load_artifact
from client.consortium import Role
from tests.evidence_index._helpers import REGISTRY, bulk, chain_of, loan32, new_index, record, vault_records


@pytest.fixture
def index(tmp_path: Path) -> EvidenceIndex:
    idx = new_index(str(tmp_path / "index.sqlite"))
    yield idx
    idx.close()


def test_items_of_loan_follow_chain_order_across_batches_and_pages(index: EvidenceIndex) -> None:
    a = chain_of(7, 3)
    b = chain_of(7, 2, a[-1].item_hash())
    other = chain_of(8, 2)
    assert index.bulk_index([bulk([a[0], other[0], a[1], a[2]], 10), bulk([b[0], other[1], b[1]], 12, 3, 2)]) == 7
    items = index.items_of_loan(7)
    assert [it.evidence_id for it in items] == [r.evidence_id for r in a + b]
    assert [it.position for it in items] == [0, 1, 2, 3, 4]
    assert [it.leaf_index for it in items] == [0, 2, 3, 0, 2]
    assert items[3].block_number == 12 and items[3].log_index == 3 and items[3].batch_size == 3
    assert items[0].submitter == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert not any(it.later for it in items)
    assert items[0].record() == a[0]
    assert index.items_of_loan(loan32(7)) == items  # 32-byte form too
    assert index.items_of_loan(7, limit=2) == items[:2]
    assert index.items_of_loan(7, limit=2, after=1) == items[2:4]
    assert index.items_of_loan(7, after=4) == []
    assert index.items_of_loan(9) == []
    assert index.chain_status(7).intact and index.chain_status(7).head == b[-1].item_hash()
    assert index.chain_status(7).items == 5


def test_bulk_index_twice_indexes_nothing_twice(index: EvidenceIndex) -> None:
    anchor = bulk(chain_of(1, 4), 5)
    assert index.bulk_index([anchor]) == 4
    assert index.bulk_index([anchor]) == 0
    assert index.counts()["items"] == 4 and index.counts()["duplicates"] == 0


def test_chain_status_reports_the_first_break(index: EvidenceIndex) -> None:
    good = chain_of(3, 2)
    broken = record(3, prev=os.urandom(32))
    after = record(3, prev=broken.item_hash())
    index.bulk_index([bulk(good, 1), bulk([broken, after], 2)])
    status = index.chain_status(3)
    assert not status.intact
    assert (status.break_position, status.break_evidence_id) == (2, broken.evidence_id)
    assert status.expected_prev == good[-1].item_hash() and status.found_prev == broken.prev
    assert status.items == 4
    first_wrong = record(4, prev=os.urandom(32))
    index.bulk_index([bulk([first_wrong], 3, batch_id=None)])
    s4 = index.chain_status(4)
    assert (s4.intact, s4.break_position, s4.expected_prev) == (False, 0, GENESIS_PREV)
    assert index.chain_status(99).intact and index.chain_status(99).items == 0


def test_duplicate_evidence_id_keeps_the_first_anchor(index: EvidenceIndex) -> None:
    first = chain_of(5, 2)
    again = record(5)
    dup = first[1]
    a1, a2 = bulk(first, 1), bulk([again, dup], 2, batch_id=2)
    assert index.bulk_index([a1, a2]) == 3
    it = index.item(dup.evidence_id)
    assert it is not None and it.batch_root == a1.root and it.leaf_index == 1
    (d,) = index.duplicates()
    assert (d.evidence_id, d.batch_root, d.leaf_index, d.first_root) == (dup.evidence_id, a2.root, 1, a1.root)
    assert index.duplicates(dup.evidence_id) == [d]
    # The duplicate is still a leaf of its batch: the batch's records rebuild its root.
    assert [r.evidence_id for r in index.batch_records(a2.root)] == [again.evidence_id, dup.evidence_id]


def test_a_late_batch_renumbers_the_loan_chain(index: EvidenceIndex) -> None:
    """A retried batch lands after items anchored later on chain: positions follow the chain."""
    early = chain_of(6, 2)
    late = chain_of(6, 1, early[-1].item_hash())
    index.bulk_index([bulk(late, 20)])
    assert [it.position for it in index.items_of_loan(6)] == [0]
    index.bulk_index([bulk(early, 10)])
    items = index.items_of_loan(6)
    assert [it.evidence_id for it in items] == [r.evidence_id for r in early + late]
    assert [it.position for it in items] == [0, 1, 2]
    assert index.chain_status(6).intact


def _case(w: Writer, case_id: int, loan: int, arbitrator: bytes, opener: bytes, block: int) -> None:
    w.add_blocks([(block, os.urandom(32), 1_700_000_000 + block)])
    w.case_opened(case_id, loan32(loan), arbitrator, opener, os.urandom(32), 2, block, 0, os.urandom(32))


def test_cases_for_by_role_and_later_flag(index: EvidenceIndex) -> None:
    arb1, arb2, lead1, lead2 = (os.urandom(20) for _ in range(4))
    index.bulk_index([bulk(chain_of(11, 2), 5)])
    conn = index._conn()
    w = Writer(conn)
    _case(w, 1, 11, arb1, lead1, 8)
    _case(w, 2, 12, arb2, lead1, 9)
    _case(w, 3, 13, arb1, lead2, 9)
    w.award_recorded(1, arb1, b"\x01" * 32, b"\x02" * 65, 9, 1, b"\x03" * 32)
    w.access_log_anchored(1, b"\x04" * 32, 3, lead2, 9, 2, b"\x05" * 32)
    w.access_log_anchored(1, b"\x06" * 32, 2, lead2, 9, 3, b"\x05" * 32)  # not advancing: case keeps 3
    w.access_log_anchored(0, b"\x06" * 32, 9, lead2, 9, 4, b"\x05" * 32)  # no case: no timeline
    index.bulk_index([bulk(chain_of(11, 1, index.chain_status(11).head or b""), 10, batch_id=2)])

    def ids(address: bytes, roles: tuple[Role, ...]) -> list[int]:
        return [c.case_id for c in index.cases_for("0x" + address.hex(), roles)]

    assert ids(arb1, (Role.ARBITRATOR,)) == [1, 3]
    assert ids(lead1, (Role.LEAD_BANK,)) == [1, 2]
    assert ids(lead1, ("lead_bank", "arbitrator")) == [1, 2]
    assert ids(os.urandom(20), (Role.AUDITOR,)) == [1, 2, 3]
    assert ids(arb1, (Role.OPERATOR,)) == []
    c1 = index.case(1)
    assert c1 is not None and c1.status == "awarded" and c1.award_hash == b"\x01" * 32
    assert (c1.access_log_head, c1.access_log_entries, c1.loan_id, c1.opened_block) == (b"\x04" * 32, 3, 11, 8)
    assert index.case(2) is not None and index.case(2).status == "open"  # type: ignore[union-attr]
    assert index.case(4) is None
    assert index.case_of_loan(11) == c1
    assert [it.later for it in index.items_of_loan(11)] == [False, False, True]
    kinds = [e.kind for e in index.timeline(11)]
    assert kinds == ["evidence", "evidence", "case_opened", "award_recorded", "access_log_anchored",
                     "access_log_anchored", "evidence"]


def test_timeline_merges_events_and_items_in_chain_order(index: EvidenceIndex) -> None:
    index.bulk_index([bulk(chain_of(21, 2), 4, log_index=1)])
    w = Writer(index._conn())
    w.add_blocks([(3, os.urandom(32), 5), (6, os.urandom(32), 7)])
    w.add_events([
        LoanEvent(loan32(21), 6, 0, b"\x01" * 32, "LoanLedger", "repaid", {"amount": 5}),
        LoanEvent(loan32(21), 3, 2, b"\x02" * 32, "LoanLedger", "loan_opened", {"principal": 9}),
        LoanEvent(loan32(21), 4, 0, b"\x03" * 32, "CreditLines", "disbursed", {"amount": 9}),
        LoanEvent(loan32(22), 4, 0, b"\x03" * 32, "CreditLines", "disbursed", {"amount": 1}),
    ])
    w.add_events([LoanEvent(loan32(21), 6, 0, b"\x01" * 32, "LoanLedger", "repaid", {"amount": 5})])  # again
    t = index.timeline(21)
    assert [(e.kind, e.block_number, e.log_index, e.leaf_index) for e in t] == [
        ("loan_opened", 3, 2, 0), ("disbursed", 4, 0, 0), ("evidence", 4, 1, 0), ("evidence", 4, 1, 1),
        ("repaid", 6, 0, 0)]
    assert t[0].payload == {"principal": 9} and t[0].timestamp == 5
    assert t[2].evidence_id is not None and t[2].payload["kind"] == "other"


def test_schema_version_and_deployment_are_checked(tmp_path: Path) -> None:
    path = str(tmp_path / "i.sqlite")
    EvidenceIndex(path, None, {"EvidenceRegistry": REGISTRY}).close()
    with pytest.raises(IndexDeploymentMismatchError) as e:
        EvidenceIndex(path, None, {"EvidenceRegistry": "0x" + "11" * 20})
    assert e.value.field == "contracts"
    EvidenceIndex(path).close()  # read-only open: no addresses to compare
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(IndexSchemaError) as s:
        EvidenceIndex(path)
    assert (s.value.found, s.value.expected) == (99, 1)


def test_load_batch_accepts_only_the_anchored_root_and_size(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path / "vault")
    sub = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    recs = vault_records(vault, 1, 3, sub)
    root = bulk(recs, 1).root
    assert load_batch(vault, root, 3)[1][0] == "missing_manifest"  # type: ignore[index]
    assert load_batch(None, root, 3)[1][0] == "missing_manifest"  # type: ignore[index]
    assert load_batch(vault, os.urandom(32), 3)[1][0] == "missing_manifest"  # type: ignore[index]
    vault.put_batch(root, 3, [r.evidence_id for r in recs])
    assert load_batch(vault, root, 3) == (recs, None)
    assert load_batch(vault, root, 4)[1][0] == "size_mismatch"  # type: ignore[index]
    swapped = bulk([recs[1], recs[0], recs[2]], 1).root
    (vault.root / "batches" / f"{swapped.hex()}.json").write_text(
        (vault.root / "batches" / f"{root.hex()}.json").read_text().replace(root.hex(), swapped.hex()))
    records, problem = load_batch(vault, swapped, 3)
    assert records is None and problem is not None and problem[0] == "root_mismatch"
    ghost = os.urandom(32)
    vault.put_batch(b"\x01" * 32, 2, [recs[0].evidence_id, ghost])
    assert load_batch(vault, b"\x01" * 32, 2)[1] == (
        "missing_record", f"the vault has no record of evidence 0x{ghost.hex()} of the manifest")
    (vault.root / "batches" / f"{'02' * 32}.json").write_text("{not json")
    assert load_batch(vault, b"\x02" * 32, 2)[1][0] == "manifest_unreadable"  # type: ignore[index]


def test_event_signatures_match_the_compiled_contracts() -> None:
    def topics(name: str) -> dict[str, bytes]:
        from eth_utils import keccak

        from client._abi import canonical_type

        return {e["name"]: keccak(text=f"{e['name']}({','.join(canonical_type(i) for i in e['inputs'])})")
                for e in load_artifact(name).abi if e["type"] == "event"}

    reg, cases = topics("EvidenceRegistry"), topics("ArbitrationCases")
    assert reg["EvidenceAnchored"] == ev.EVIDENCE_ANCHORED
    assert reg["EvidenceBatchAnchored"] == ev.BATCH_ANCHORED
    assert reg["ReaderKeyRegistered"] == ev.READER_KEY
    assert cases["CaseOpened"] == ev.CASE_OPENED
    assert cases["AwardRecorded"] == ev.AWARD_RECORDED
    assert cases["AccessLogAnchored"] == ev.ACCESS_LOG


def _signed_case(arbitrator: Account, signer: Account | None = None) -> dict:  # type: ignore[type-arg]
    from eth_account.messages import encode_typed_data

    contract = "0x" + "ab" * 20
    typed = ev.award_typed_data(1337, contract, 4, 9, b"\x07" * 32)
    sig = Account.sign_message(encode_typed_data(full_message=typed), (signer or arbitrator).key).signature
    return {"case_id": 4, "loan_id": 9, "arbitrator": arbitrator.address,
            "eip712_domain": typed["domain"],
            "award": {"award_hash": "0x" + "07" * 32, "signature": "0x" + bytes(sig).hex(), "eip712": typed}}


def test_check_award_recovers_the_arbitrator_offline() -> None:
    arb = Account.create()
    doc = _signed_case(arb)
    assert check_award(json.loads(json.dumps(doc))) == arb.address
    assert check_award({**doc, "award": None}) is None
    with pytest.raises(AwardSignatureError) as e:
        check_award(_signed_case(arb, Account.create()))
    assert e.value.expected == arb.address and e.value.recovered != arb.address
    tampered = json.loads(json.dumps(doc))
    tampered["award"]["eip712"]["message"]["awardHash"] = "0x" + "08" * 32
    with pytest.raises(CaseMismatchError) as m:
        check_award(tampered)
    assert m.value.field == "award.eip712.message.awardHash"
    moved = json.loads(json.dumps(doc))
    moved["award"]["eip712"]["domain"]["chainId"] = 1
    moved["eip712_domain"]["chainId"] = 1
    with pytest.raises(AwardSignatureError):
        check_award(moved)


def test_case_ids_beyond_sqlite_integers_are_simply_unknown(tmp_path: Path) -> None:
    """The API's fuzzer sent 2**63: the index must answer "no such case", not overflow."""
    index = EvidenceIndex(tmp_path / "index.sqlite3")
    try:
        assert index.case(2**63) is None
        assert index.case(2**256) is None
        assert index.case(-1) is None
        assert index.case(1) is None
    finally:
        index.close()
