"""Typed rows of the evidence index (private; re-exported by ``arbitration.index``).

Hashes and ids are ``bytes`` (32 bytes; loan ids in the records' 32-byte form unless named
``loan_id: int``), addresses are checksum strings, block times are seconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_utils import to_checksum_address

from .record import EvidenceKind, EvidenceRecord


@lru_cache(maxsize=4096)
def checksum(raw: bytes) -> str:
    return str(to_checksum_address(raw))


@dataclass(frozen=True, slots=True)
class IndexedItem:
    """One anchored evidence item. Hashes and ids are 32 bytes; ``submitter`` a checksum address.

    ``position`` is the item's place (from 0) in its loan's hash chain, i.e. in anchoring order;
    ``batch_id`` is None for a single-item anchor (then ``batch_root`` is the item hash, size 1);
    ``later`` is True when the loan has a case opened in a block before the item's block.
    """

    evidence_id: bytes
    kind: EvidenceKind
    loan_id: bytes
    sha256: bytes
    sm3: bytes
    ciphertext_sha256: bytes
    prev: bytes
    item_hash: bytes
    submitter: str
    block_number: int
    block_timestamp: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int
    batch_root: bytes
    batch_size: int
    batch_id: int | None
    leaf_index: int
    position: int
    later: bool

    @property
    def loan_number(self) -> int:
        """The loan id as the on-chain ``uint64`` (the 32-byte id read as an integer)."""
        return int.from_bytes(self.loan_id, "big")

    def record(self) -> EvidenceRecord:
        return EvidenceRecord(self.evidence_id, self.kind, self.loan_id, self.sha256, self.sm3,
                              self.ciphertext_sha256, self.prev)


@dataclass(frozen=True, slots=True)
class IndexedCase:
    """An arbitration case as its events tell it; ``status`` is ``"open"`` or ``"awarded"``."""

    case_id: int
    loan_id: int
    arbitrator: str
    opener: str
    frozen_head: bytes
    frozen_count: int
    opened_block: int
    opened_block_hash: bytes
    opened_at: int
    opened_tx: bytes
    status: str
    award_hash: bytes | None
    award_signature: bytes | None
    award_block: int | None
    award_tx: bytes | None
    access_log_head: bytes | None
    access_log_entries: int


@dataclass(frozen=True, slots=True)
class ChainStatus:
    """A loan's hash chain as indexed: intact, or where it first breaks.

    At a break, the item at ``break_position`` (``break_evidence_id``) has ``found_prev`` where
    ``expected_prev`` (the previous item's hash, or ``GENESIS_PREV`` for the first) was due.
    """

    loan_id: bytes
    items: int
    head: bytes | None
    intact: bool
    break_position: int | None = None
    break_evidence_id: bytes | None = None
    expected_prev: bytes | None = None
    found_prev: bytes | None = None


@dataclass(frozen=True, slots=True)
class AnchorInfo:
    """Where a batch root (or single item hash) was anchored."""

    root: bytes
    batch_id: int | None
    size: int
    block_number: int
    block_hash: bytes
    timestamp: int
    tx_hash: bytes
    log_index: int
    submitter: str
    indexed: bool


@dataclass(frozen=True, slots=True)
class IndexProblem:
    """An anchor whose items could not be indexed. ``kind``: missing_manifest, manifest_unreadable,
    size_mismatch, missing_record, record_unreadable, root_mismatch, bad_record, item_hash_mismatch."""

    root: bytes
    kind: str
    detail: str
    block_number: int
    tx_hash: bytes
    attempts: int
    resolved: bool


@dataclass(frozen=True, slots=True)
class DuplicateItem:
    """A leaf whose evidence id was already indexed from ``first_root`` (the first anchor wins)."""

    evidence_id: bytes
    batch_root: bytes
    leaf_index: int
    block_number: int
    item_hash: bytes
    first_root: bytes


@dataclass(frozen=True, slots=True)
class SyncStats:
    """What one ``sync()`` did."""

    from_block: int
    to_block: int
    items: int
    duplicates: int
    problems: int
    events: int
    cases: int
    seconds: float


@dataclass(frozen=True, slots=True)
class BulkAnchor:
    """An anchor with its records, for ``EvidenceIndex.bulk_index`` (benchmarks, imports)."""

    root: bytes
    records: Sequence[EvidenceRecord]
    block_number: int
    block_hash: bytes
    timestamp: int
    tx_hash: bytes
    log_index: int
    submitter: bytes
    batch_id: int | None = None


ITEM_SQL = (
    "SELECT i.evidence_id, i.kind, i.loan, i.sha256, i.sm3, i.ciphertext_sha256, i.prev, i.item_hash, a.submitter,"
    " i.block, b.timestamp, b.hash, a.tx_hash, i.log_index, i.root, a.size, a.batch_id, i.leaf_index, i.position"
    " FROM items i JOIN anchors a ON a.root = i.root JOIN blocks b ON b.number = i.block"
)
CASE_SQL = (
    "SELECT c.case_id, c.loan, c.arbitrator, c.opener, c.frozen_head, c.frozen_count, c.block, b.hash, b.timestamp,"
    " c.tx_hash, c.award_hash, c.award_signature, c.award_block, c.award_tx, c.access_log_head,"
    " c.access_log_entries FROM cases c JOIN blocks b ON b.number = c.block"
)


def item_from_row(row: Sequence[Any], case_block: int | None) -> IndexedItem:
    return IndexedItem(
        row[0], EvidenceKind(row[1]), row[2], row[3], row[4], row[5], row[6], row[7], checksum(row[8]),
        row[9], row[10], row[11], row[12], row[13], row[14], row[15], row[16], row[17], row[18],
        case_block is not None and row[9] > case_block,
    )


def case_from_row(row: Sequence[Any]) -> IndexedCase:
    return IndexedCase(
        row[0], int.from_bytes(row[1], "big"), checksum(row[2]), checksum(row[3]), row[4], row[5], row[6], row[7],
        row[8], row[9], "open" if row[10] is None else "awarded", row[10], row[11], row[12], row[13], row[14],
        row[15] or 0,
    )


def role_names(roles: Iterable[Any]) -> set[str]:
    return {str(getattr(r, "name", r)).upper() for r in roles}
