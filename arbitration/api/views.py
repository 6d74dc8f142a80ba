"""Storage models -> response models (the only place that knows both)."""

from __future__ import annotations

from ..index import EvidenceIndex, IndexedCase, IndexedItem
from ..record import GENESIS_PREV
from ..timeline import TimelineEntry
from .access_log import GENESIS, AccessEntry, AccessLog
from .schemas import (
    AccessEntryPublic,
    AccessLogPublic,
    AnchorPublic,
    CaseBase,
    CasePublic,
    EvidenceItemPublic,
    TimelineEntryPublic,
)

__all__ = ["hx", "case_base", "case_public", "item_public", "items_with_links", "timeline_entry", "access_entry"]


def hx(value: bytes | None) -> str | None:
    return None if value is None else "0x" + bytes(value).hex()


def _hx(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def case_base(c: IndexedCase) -> CaseBase:
    return CaseBase(
        case_id=c.case_id, loan_id=c.loan_id, arbitrator=c.arbitrator, opener=c.opener,
        status="awarded" if c.status == "awarded" else "open", frozen_head=_hx(c.frozen_head),
        frozen_count=c.frozen_count, opened_block=c.opened_block, opened_tx=hx(c.opened_tx),
    )


def case_public(c: IndexedCase, access_log: AccessLog, anchoring: bool) -> CasePublic:
    head, entries = access_log.head(c.case_id)
    return CasePublic(
        **case_base(c).model_dump(),
        opened_at=c.opened_at,
        award_hash=hx(c.award_hash),
        award_signature=hx(c.award_signature),
        access_log=AccessLogPublic(
            head=_hx(head), entries=entries,
            anchored_head=_hx(c.access_log_head or GENESIS), anchored_entries=c.access_log_entries,
            anchoring=anchoring,
        ),
    )


def item_public(it: IndexedItem, link_ok: bool) -> EvidenceItemPublic:
    return EvidenceItemPublic(
        evidence_id=_hx(it.evidence_id), kind=it.kind.json_name, loan_id=it.loan_number, sha256=_hx(it.sha256),
        sm3=_hx(it.sm3), ciphertext_sha256=_hx(it.ciphertext_sha256), prev=_hx(it.prev), item_hash=_hx(it.item_hash),
        chain_position=it.position, chain_link_ok=link_ok, later=it.later,
        anchor=AnchorPublic(
            block_number=it.block_number, block_timestamp=it.block_timestamp, block_hash=_hx(it.block_hash),
            tx_hash=_hx(it.tx_hash), log_index=it.log_index, submitter=it.submitter, batch_root=_hx(it.batch_root),
            batch_size=it.batch_size, leaf_index=it.leaf_index,
        ),
    )


def expected_prev(index: EvidenceIndex, it: IndexedItem) -> bytes:
    """The item hash the item's `prev` must equal: its predecessor's in the loan chain."""
    if it.position == 0:
        return GENESIS_PREV
    before = index.items_of_loan(it.loan_id, limit=1, after=it.position - 2)
    return before[0].item_hash if before and before[0].position == it.position - 1 else b""


def items_with_links(index: EvidenceIndex, items: list[IndexedItem]) -> list[EvidenceItemPublic]:
    """Items of one loan in chain order, each with its hash-chain link checked."""
    out = []
    prev_hash: bytes | None = None
    for it in items:
        want = prev_hash if prev_hash is not None and it.position > 0 else expected_prev(index, it)
        out.append(item_public(it, it.prev == want))
        prev_hash = it.item_hash
    return out


def timeline_entry(e: TimelineEntry) -> TimelineEntryPublic:
    return TimelineEntryPublic(
        block_number=e.block_number, log_index=e.log_index, leaf_index=e.leaf_index, timestamp=e.timestamp,
        tx_hash=_hx(e.tx_hash), kind=e.kind, contract=e.contract, evidence_id=hx(e.evidence_id),
        payload=dict(e.payload),
    )


def access_entry(e: AccessEntry) -> AccessEntryPublic:
    return AccessEntryPublic(seq=e.seq, at=e.at, actor=e.actor, action=e.action.json_name, target=_hx(e.target),
                             prev=_hx(e.prev), hash=_hx(e.hash))
