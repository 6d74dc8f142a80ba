"""Fixed inputs for the golden test and the JSON vectors.

Deterministic randomness lives here only, injected through ``rng=`` — production code always
uses ``os.urandom``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from arbitration.bundle import Anchor, Bundle, build_bundle
from arbitration.record import GENESIS_PREV, EvidenceKind, EvidenceRecord
from arbitration.sealing import generate_reader_key, new_evidence_id, seal


class DeterministicRng:
    """SHA-256 in counter mode over a label: reproducible bytes, for tests only."""

    def __init__(self, label: bytes) -> None:
        self._label = label
        self._counter = 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self._label + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        return out[:n]


def h(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


LOAN_1, LOAN_2, LOAN_3 = h("coledger test loan 1"), h("coledger test loan 2"), h("coledger test loan 3")
CASE_1 = h("coledger test case 1")
CONTRACT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
SUBMITTER = bytes.fromhex("f39fd6e51aad88f6f4ce6ab8827279cfffb92266")
FIXTURE_RNG_LABEL = b"coledger evidence fixture v1"
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z

K = EvidenceKind
# (batch, loan, kind, plaintext); batches are anchored in order.
ITEMS: list[tuple[int, bytes, EvidenceKind, bytes]] = [
    (0, LOAN_1, K.LOAN_AGREEMENT, b"Loan agreement L1: 30,000.00 RMB, 10 installments, 1,825 bp.\n"),
    (0, LOAN_2, K.LOAN_AGREEMENT, b"Loan agreement L2: 12,000.00 RMB, 5 installments.\n"),
    (0, LOAN_1, K.DISBURSEMENT_RECEIPT, b"Disbursed 3,000,000 fen to virtual account VA-1.\n"),
    (0, LOAN_3, K.LOAN_AGREEMENT, b"Loan agreement L3 (not in the case).\n"),
    (0, LOAN_2, K.DISBURSEMENT_RECEIPT, b"Disbursed 1,200,000 fen to virtual account VA-2.\n"),
    (1, LOAN_1, K.REPAYMENT_SCHEDULE, b"Schedule L1: 10 x 308,712 fen, last 308,710.\n"),
    (2, LOAN_3, K.REPAYMENT_RECORD, b"L3 repaid installment 1.\n"),
    (2, LOAN_1, K.OVERDUE_NOTICE, b"L1 installment 3 overdue 31 days.\n"),
    (2, LOAN_3, K.REPAYMENT_RECORD, b"L3 repaid installment 2.\n"),
    (2, LOAN_2, K.COLLECTION_LOG, b"L2 call log: 3 attempts, no answer.\n"),
    (2, LOAN_3, K.REPAYMENT_RECORD, b"L3 repaid installment 3.\n"),
    (2, LOAN_3, K.VERIFICATION_RECORD, b"L3 merchant verified.\n"),
    (2, LOAN_1, K.FUND_FLOW_TRACE, b"L1 flow: P2P 50,000 fen to unrelated account, FLAG.\n"),
]

ANCHORS = [
    Anchor(1337, CONTRACT, 100, h("block 100"), h("tx a"), T0, SUBMITTER),
    Anchor(1337, CONTRACT, 100, h("block 100"), h("tx b"), T0, SUBMITTER),
    Anchor(1337, CONTRACT, 107, h("block 107"), h("tx c"), T0 + 35, SUBMITTER),
]


@dataclass(frozen=True)
class Fixture:
    records: list[EvidenceRecord]
    plaintexts: dict[bytes, bytes]
    blobs: dict[bytes, bytes]
    bundle: Bundle  # the case bundle: loans 1 and 2, anchored
    unanchored: Bundle  # the same items before anchoring


def build_fixture() -> Fixture:
    rng = DeterministicRng(FIXTURE_RNG_LABEL)
    reader = generate_reader_key()  # wrapped keys are not part of the pinned formats
    heads: dict[bytes, bytes] = {}
    records: list[EvidenceRecord] = []
    plaintexts: dict[bytes, bytes] = {}
    blobs: dict[bytes, bytes] = {}
    for _, loan, kind, text in ITEMS:
        eid = new_evidence_id(rng)
        sealed = seal(text, eid, [reader.public_key()], rng=rng)
        d = sealed.digests
        rec = EvidenceRecord(
            eid, kind, loan, d.sha256, d.sm3, d.ciphertext_sha256, heads.get(loan, GENESIS_PREV)
        )
        heads[loan] = rec.item_hash()
        records.append(rec)
        plaintexts[eid] = text
        blobs[eid] = sealed.blob
    by_batch = [[r for r, it in zip(records, ITEMS, strict=True) if it[0] == b] for b in range(3)]
    include = {r.evidence_id for r in records if r.loan_id in (LOAN_1, LOAN_2)}
    bundle = build_bundle(list(zip(by_batch, ANCHORS, strict=True)), include, CASE_1)
    unanchored = build_bundle([(b, Anchor()) for b in by_batch], include, CASE_1)
    return Fixture(records, plaintexts, blobs, bundle, unanchored)
