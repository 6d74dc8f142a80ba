"""The evidence index's write side (private to ``arbitration.index``).

Everything here runs inside one SQLite transaction the caller opened: network and vault reads
happen before it (``load_batch``), so a transaction only ever writes. Every insert is keyed so
that replaying the same logs changes nothing — the cursor makes that rare, the keys make it safe.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import VaultError
from .merkle import MerkleTree
from .record import EvidenceKind, EvidenceRecord
from .timeline import LoanEvent

__all__ = ["AnchorRow", "Writer", "load_batch", "single_record"]


@dataclass(frozen=True, slots=True)
class AnchorRow:
    """One anchoring event: a batch root, or a single item's hash (``batch_id`` None, size 1)."""

    root: bytes
    batch_id: int | None
    size: int
    block: int
    log_index: int
    tx_hash: bytes
    submitter: bytes  # 20 bytes


class ManifestSource(Protocol):
    """What the index needs of an ``EvidenceVault``: batch manifests and records."""

    def batch(self, root: bytes) -> list[bytes] | None: ...

    def record(self, evidence_id: bytes) -> Any: ...


Problem = tuple[str, str]  # (kind, detail)


def load_batch(
    vault: ManifestSource | None, root: bytes, size: int
) -> tuple[list[EvidenceRecord] | None, Problem | None]:
    """The records of batch ``root`` from the vault's manifest, checked against the anchored root and size."""
    if vault is None:
        return None, ("missing_manifest", "the index has no vault to read batch manifests from")
    try:
        eids = vault.batch(root)
    except VaultError as e:
        return None, ("manifest_unreadable", str(e))
    if eids is None:
        return None, ("missing_manifest", f"the vault has no manifest for batch 0x{root.hex()}")
    if len(eids) != size:
        return None, ("size_mismatch", f"the manifest lists {len(eids)} evidence ids, the chain anchored size {size}")
    records: list[EvidenceRecord] = []
    for eid in eids:
        try:
            stored = vault.record(eid)
        except LookupError:
            return None, ("missing_record", f"the vault has no record of evidence 0x{eid.hex()} of the manifest")
        except VaultError as e:
            return None, ("record_unreadable", str(e))
        rec = getattr(stored, "record", stored)
        if not isinstance(rec, EvidenceRecord) or rec.evidence_id != eid:
            return None, ("record_unreadable", f"the vault's record under 0x{eid.hex()} is another item")
        records.append(rec)
    got = MerkleTree([r.item_hash() for r in records]).root
    if got != root:
        detail = f"the manifest's records hash to root 0x{got.hex()}, the chain anchored 0x{root.hex()}"
        return None, ("root_mismatch", detail)
    return records, None


def single_record(
    evidence_id: bytes, loan_id: bytes, kind: int, sha256: bytes, sm3: bytes, ciphertext_sha256: bytes,
    prev: bytes, item_hash: bytes,
) -> tuple[list[EvidenceRecord] | None, Problem | None]:
    """The record of a single-item anchor, rebuilt from its event and checked against its item hash."""
    try:
        rec = EvidenceRecord(evidence_id, EvidenceKind(kind), loan_id, sha256, sm3, ciphertext_sha256, prev)
    except ValueError as e:
        return None, ("bad_record", f"EvidenceAnchored of 0x{evidence_id.hex()} does not form a record: {e}")
    if rec.item_hash() != item_hash:
        detail = f"the event's fields hash to 0x{rec.item_hash().hex()}, it says 0x{item_hash.hex()}"
        return None, ("item_hash_mismatch", detail)
    return [rec], None


class Writer:
    """Inserts anchors, items, cases and timeline rows; also the ``LoanMaps`` of the timeline decoder."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._next: dict[bytes, tuple[int, tuple[int, int, int]]] = {}  # loan -> (count, last key)
        self._late: set[bytes] = set()
        self.items = 0
        self.duplicates = 0
        self.problems = 0
        self.events = 0
        self.cases = 0

    # -- blocks and anchors -------------------------------------------------------------------

    def add_blocks(self, blocks: Sequence[tuple[int, bytes, int]]) -> None:
        self.conn.executemany("INSERT OR IGNORE INTO blocks VALUES (?, ?, ?)", blocks)

    def add_anchor(self, a: AnchorRow, records: Sequence[EvidenceRecord] | None, problem: Problem | None) -> int:
        """Record anchor ``a`` and index its items (or its problem); returns the items indexed."""
        self.conn.execute(
            "INSERT OR IGNORE INTO anchors VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            (a.root, a.batch_id, a.size, a.block, a.log_index, a.tx_hash, a.submitter),
        )
        (indexed,) = self.conn.execute("SELECT indexed FROM anchors WHERE root = ?", (a.root,)).fetchone()
        if indexed:
            return 0
        if problem is not None or records is None:
            kind, detail = problem or ("missing_manifest", "no records")
            self.conn.execute(
                "INSERT INTO problems VALUES (?, ?, ?, ?, ?, 1, 0) ON CONFLICT(root) DO UPDATE SET "
                "kind = excluded.kind, detail = excluded.detail, attempts = attempts + 1",
                (a.root, kind, detail, a.block, a.tx_hash),
            )
            self.problems += 1
            return 0
        n = self._add_items(a, records)
        self.conn.execute("UPDATE anchors SET indexed = 1 WHERE root = ?", (a.root,))
        self.conn.execute("UPDATE problems SET resolved = 1 WHERE root = ?", (a.root,))
        return n

    def _add_items(self, a: AnchorRow, records: Sequence[EvidenceRecord]) -> int:
        conn = self.conn
        rows = []
        seen: set[bytes] = set()
        for leaf, r in enumerate(records):
            first = conn.execute("SELECT root, leaf_index FROM items WHERE evidence_id = ?",
                                 (r.evidence_id,)).fetchone()
            if first is None and r.evidence_id in seen:
                first = (a.root, -1)  # twice in this very batch: the earlier leaf wins
            seen.add(r.evidence_id)
            if first is not None:
                if (first[0], first[1]) != (a.root, leaf):
                    conn.execute(
                        "INSERT OR IGNORE INTO duplicates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (a.root, leaf, r.evidence_id, r.loan_id, int(r.kind), r.sha256, r.sm3,
                         r.ciphertext_sha256, r.prev, r.item_hash(), a.block, a.log_index),
                    )
                    self.duplicates += 1
                continue
            key = (a.block, a.log_index, leaf)
            rows.append((r.evidence_id, r.loan_id, self._position(r.loan_id, key), int(r.kind), r.sha256, r.sm3,
                         r.ciphertext_sha256, r.prev, r.item_hash(), a.root, leaf, a.block, a.log_index))
        conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self.items += len(rows)
        return len(rows)

    def _position(self, loan: bytes, key: tuple[int, int, int]) -> int:
        cached = self._next.get(loan)
        if cached is None:
            row = self.conn.execute(
                "SELECT position, block, log_index, leaf_index FROM items WHERE loan = ?"
                " ORDER BY position DESC LIMIT 1",
                (loan,),
            ).fetchone()
            cached = (0, (-1, -1, -1)) if row is None else (row[0] + 1, (row[1], row[2], row[3]))
        count, last = cached
        if key < last:
            self._late.add(loan)
        self._next[loan] = (count + 1, max(last, key))
        return count

    def finish(self) -> None:
        """Renumber the chain positions of loans that got an item before their last one (a retried batch)."""
        for loan in self._late:
            rowids = self.conn.execute(
                "SELECT rowid FROM items WHERE loan = ? ORDER BY block, log_index, leaf_index", (loan,)
            ).fetchall()
            self.conn.executemany("UPDATE items SET position = ? WHERE rowid = ?",
                                  [(i, rid) for i, (rid,) in enumerate(rowids)])
        self._late.clear()

    # -- cases ----------------------------------------------------------------------------------

    def case_opened(self, case_id: int, loan: bytes, arbitrator: bytes, opener: bytes, frozen_head: bytes,
                    frozen_count: int, block: int, log_index: int, tx_hash: bytes) -> None:
        if case_id >= 1 << 63:
            return  # not a case id this contract hands out
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO cases (case_id, loan, arbitrator, opener, frozen_head, frozen_count, block, "
            "log_index, tx_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (case_id, loan, arbitrator, opener, frozen_head, frozen_count, block, log_index, tx_hash),
        )
        self.cases += cur.rowcount
        self.add_events([LoanEvent(loan, block, log_index, tx_hash, "ArbitrationCases", "case_opened", {
            "caseId": case_id, "arbitrator": "0x" + arbitrator.hex(), "opener": "0x" + opener.hex(),
            "frozenHead": "0x" + frozen_head.hex(), "frozenCount": frozen_count})])

    def _case_loan(self, case_id: int) -> bytes | None:
        if case_id >= 1 << 63:
            return None
        row = self.conn.execute("SELECT loan FROM cases WHERE case_id = ?", (case_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def award_recorded(self, case_id: int, arbitrator: bytes, award_hash: bytes, signature: bytes,
                       block: int, log_index: int, tx_hash: bytes) -> None:
        loan = self._case_loan(case_id)
        if loan is None:
            return
        self.conn.execute(
            "UPDATE cases SET award_hash = ?, award_signature = ?, award_block = ?, award_tx = ? "
            "WHERE case_id = ? AND award_hash IS NULL",
            (award_hash, signature, block, tx_hash, case_id),
        )
        self.add_events([LoanEvent(loan, block, log_index, tx_hash, "ArbitrationCases", "award_recorded", {
            "caseId": case_id, "arbitrator": "0x" + arbitrator.hex(), "awardHash": "0x" + award_hash.hex(),
            "signature": "0x" + signature.hex()})])

    def access_log_anchored(self, case_id: int, head: bytes, entries: int, operator: bytes,
                            block: int, log_index: int, tx_hash: bytes) -> None:
        loan = self._case_loan(case_id)
        if loan is None:
            return  # case 0 (reads outside any case) has no loan timeline
        self.conn.execute(
            "UPDATE cases SET access_log_head = ?, access_log_entries = ?, access_log_block = ? "
            "WHERE case_id = ? AND coalesce(access_log_entries, -1) < ?",
            (head, entries, block, case_id, entries),
        )
        self.add_events([LoanEvent(loan, block, log_index, tx_hash, "ArbitrationCases", "access_log_anchored", {
            "caseId": case_id, "logHead": "0x" + head.hex(), "entries": entries, "operator": "0x" + operator.hex()})])

    # -- timeline -------------------------------------------------------------------------------

    def add_events(self, events: Sequence[LoanEvent]) -> None:
        cur = self.conn.executemany(
            "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(e.loan, e.block, e.log_index, e.tx_hash, e.contract, e.kind,
              json.dumps(e.payload, separators=(",", ":"), sort_keys=True)) for e in events],
        )
        self.events += max(cur.rowcount, 0)

    # LoanMaps
    def link_account(self, account: bytes, loan: bytes) -> None:
        self.conn.execute("INSERT OR IGNORE INTO account_loans VALUES (?, ?)", (account, loan))

    def link_flow(self, flow_id: int, loan: bytes, amount: int) -> None:
        self.conn.execute("INSERT OR IGNORE INTO flow_loans VALUES (?, ?, ?)", (flow_id, loan, amount))

    def loans_of_account(self, account: bytes) -> list[bytes]:
        rows = self.conn.execute("SELECT loan FROM account_loans WHERE account = ? ORDER BY loan", (account,))
        return [bytes(r[0]) for r in rows]

    def lineage_of_flow(self, flow_id: int) -> list[tuple[bytes, int]]:
        rows = self.conn.execute("SELECT loan, amount FROM flow_loans WHERE flow_id = ? ORDER BY loan", (flow_id,))
        return [(bytes(r[0]), int(r[1])) for r in rows]
