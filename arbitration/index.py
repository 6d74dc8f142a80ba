"""The evidence index: a SQLite read model of the evidence anchors, cases and loan events on chain.

``EvidenceIndex.sync()`` follows the logs of EvidenceRegistry, ArbitrationCases and the loan
contracts (LoanLedger, CreditLines, FundFlows) with ``eth_getLogs`` in block ranges, from a
stored cursor to the head. Each range is written in one SQLite transaction together with the new
cursor, so a crash never half-indexes a range and re-running ``sync`` indexes nothing twice.
Every block that holds an indexed log is stored once, with its hash and time (the anchors of a
bundle need both; a changed hash on a later sync raises ``IndexReorgError``).

Items: an ``EvidenceAnchored`` log is a batch of one (root = item hash, size 1, leaf 0), its
record rebuilt from the event. An ``EvidenceBatchAnchored`` log names only a root and a size, so
its items come from the vault's batch manifest, accepted only if the records recompute to that
root and size (RFC 6962). A missing, unreadable or mismatching manifest becomes a row of
``problems`` and the batch's items stay out; every later sync retries it. An evidence id anchored
twice (possible across batches: the contract cannot see inside them) keeps its first anchor;
later leaves go to ``duplicates``.

Queries return small frozen dataclasses and are index range scans: ``items_of_loan`` walks
``items(loan, position)``; ``timeline`` merges a loan's events (clustered by loan, block, log
index) with its items. Each thread gets its own read connection (WAL: readers never block the
syncing writer), so one ``EvidenceIndex`` may serve a threaded web server.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from . import _evidence_abi as ev
from . import _index_schema as schema
from ._index_types import (
    CASE_SQL,
    ITEM_SQL,
    AnchorInfo,
    BulkAnchor,
    ChainStatus,
    DuplicateItem,
    IndexedCase,
    IndexedItem,
    IndexProblem,
    SyncStats,
    case_from_row,
    checksum,
    item_from_row,
    role_names,
)
from ._index_write import AnchorRow, ManifestSource, Writer, load_batch, single_record
from .errors import EvidenceIndexError, IndexDeploymentMismatchError, IndexReorgError, IndexSchemaError
from .merkle import MerkleTree
from .record import GENESIS_PREV, EvidenceKind, EvidenceRecord
from .timeline import LoanEventDecoder, TimelineEntry, loan32

__all__ = [
    "INDEXED_CONTRACTS",
    "AnchorInfo",
    "BulkAnchor",
    "ChainStatus",
    "DuplicateItem",
    "EvidenceIndex",
    "IndexProblem",
    "IndexedCase",
    "IndexedItem",
    "SyncStats",
    "TimelineEntry",
]

#: The contracts whose logs the index follows (keys of ``addresses``); EvidenceRegistry is required.
INDEXED_CONTRACTS = ("EvidenceRegistry", "ArbitrationCases", "LoanLedger", "CreditLines", "FundFlows")
_LOG_RANGE = 2_000
_LIMIT_EXCEEDED = -32005
_HEADERS_PER_BATCH = 500


class EvidenceIndex:
    """The index file at ``sqlite_path`` over the deployment ``addresses`` (contract name -> address).

    ``w3`` and ``vault`` are needed by ``sync`` only (a read-only index may pass ``None``).
    ``start_block`` is where a new index starts reading (the deployment block saves scanning).
    """

    def __init__(self, sqlite_path: str, w3: Any = None, addresses: dict[str, str] | None = None,
                 vault: ManifestSource | None = None, *, start_block: int = 0, log_range: int = _LOG_RANGE) -> None:
        self.path = str(sqlite_path)
        self.w3 = w3
        self.vault = vault
        self._log_range = max(1, log_range)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._lock = threading.Lock()  # one sync (or bulk load) at a time per object
        self.last_sync: SyncStats | None = None
        conn = self._conn()
        version = schema.create(conn)
        if version != schema.SCHEMA_VERSION:
            self.close()
            raise IndexSchemaError(self.path, version, schema.SCHEMA_VERSION)
        meta = self._meta()
        if addresses is not None:
            given = {n: str(a).lower() for n, a in addresses.items() if n in INDEXED_CONTRACTS}
            if "EvidenceRegistry" not in given:
                raise EvidenceIndexError("the index needs the EvidenceRegistry address")
            stored = json.loads(meta["addresses"]) if "addresses" in meta else None
            if stored is None:
                self._set_meta(addresses=json.dumps(given, sort_keys=True), cursor=str(start_block - 1))
            elif stored != given:
                raise IndexDeploymentMismatchError("contracts", json.dumps(stored, sort_keys=True),
                                                   json.dumps(given, sort_keys=True))
        self._addresses: dict[str, str] = json.loads(meta.get("addresses", "{}")) if addresses is None else given
        self._loan_decoder: LoanEventDecoder | None = None

    # -- connections and meta -------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = schema.connect(self.path)
            self._local.conn = conn
            with self._conns_lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close the connections this index opened (on every thread)."""
        with self._conns_lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:  # opened by another, finished thread
                    pass
            self._all.clear()
        self._local = threading.local()

    def __enter__(self) -> EvidenceIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _meta(self) -> dict[str, str]:
        return dict(self._conn().execute("SELECT key, value FROM meta").fetchall())

    def _set_meta(self, **values: str) -> None:
        self._conn().executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    @property
    def addresses(self) -> dict[str, str]:
        """The indexed contracts (name -> lower-case address), as the file records them."""
        if not self._addresses:  # a read-only object opened before the first writer named them
            self._addresses = json.loads(self._meta().get("addresses", "{}"))
        return self._addresses

    @property
    def cursor(self) -> int:
        """The last block fully indexed (-1 before the first sync)."""
        return int(self._meta().get("cursor", "-1"))

    @property
    def chain_id(self) -> int | None:
        value = self._meta().get("chain_id")
        return None if value is None else int(value)

    # -- sync ---------------------------------------------------------------------------------------

    def _rpc(self, method: str, params: list[Any]) -> Any:
        reply = self.w3.provider.make_request(method, params)
        if "error" in reply:
            raise EvidenceIndexError(f"{method} failed: {reply['error']}")
        return reply.get("result")

    def _headers(self, numbers: Sequence[int]) -> list[tuple[int, bytes, int]]:
        out = []
        for i in range(0, len(numbers), _HEADERS_PER_BATCH):
            chunk = numbers[i : i + _HEADERS_PER_BATCH]
            replies = self.w3.provider.make_batch_request([("eth_getBlockByNumber", [hex(n), False]) for n in chunk])
            if isinstance(replies, dict):
                raise EvidenceIndexError(f"block header batch failed: {replies.get('error')}")
            for n, reply in zip(chunk, replies, strict=True):
                block = reply.get("result")
                if not isinstance(block, dict):
                    raise EvidenceIndexError(f"block {n} is missing: {reply.get('error')}")
                out.append((n, ev.hexbytes(block["hash"]), ev.hexint(block["timestamp"])))
        return out

    def _logs(self, start: int, end: int) -> tuple[list[dict[str, Any]], int]:
        """Logs of the indexed contracts in ``start..end`` (narrowed if the node refuses the range)."""
        while True:
            reply = self.w3.provider.make_request("eth_getLogs", [{
                "address": list(self.addresses.values()), "fromBlock": hex(start), "toBlock": hex(end)}])
            err = reply.get("error")
            if err is None:
                return list(reply.get("result") or []), end
            code = err.get("code") if isinstance(err, dict) else None
            if code == _LIMIT_EXCEEDED and end > start:
                end = start + (end - start) // 4
                continue
            raise EvidenceIndexError(f"eth_getLogs {start}..{end} failed: {err}")

    def _check_deployment(self) -> None:
        if self.w3 is None or not self.addresses:
            raise EvidenceIndexError("this index is read-only: give it w3 and the contract addresses to sync")
        chain_id = ev.hexint(self._rpc("eth_chainId", []))
        stored = self.chain_id
        if stored is None:
            self._set_meta(chain_id=str(chain_id))
        elif stored != chain_id:
            raise IndexDeploymentMismatchError("chain id", str(stored), str(chain_id))
        row = self._conn().execute("SELECT number, hash FROM blocks ORDER BY number DESC LIMIT 1").fetchone()
        if row is not None:
            ((n, served, _),) = self._headers([row[0]])
            if served != row[1]:
                raise IndexReorgError(n, "0x" + bytes(row[1]).hex(), "0x" + served.hex())

    def sync(self, to_block: int | None = None) -> int:
        """Index everything from the cursor to ``to_block`` (default: the head), and retry the
        problem anchors; returns the number of items newly indexed (details in ``last_sync``)."""
        with self._lock:
            t0 = time.perf_counter()
            self._check_deployment()
            head = ev.hexint(self._rpc("eth_blockNumber", []))
            last = head if to_block is None else min(head, to_block)
            first = self.cursor + 1
            totals = Writer(self._conn())
            self._retry_pending(totals)
            start = first
            while start <= last:
                logs, end = self._logs(start, min(last, start + self._log_range - 1))
                self._ingest_range(logs, start, end, totals)
                start = end + 1
            self.last_sync = SyncStats(first, last, totals.items, totals.duplicates, totals.problems,
                                       totals.events, totals.cases, time.perf_counter() - t0)
            return totals.items

    def _prepare(self, logs: Sequence[dict[str, Any]]) -> list[tuple[ev.LogPosition, Any, Any]]:
        """Decode the evidence logs and read batch manifests (outside any transaction)."""
        registry = ev.hexbytes(self.addresses["EvidenceRegistry"])
        cases = ev.hexbytes(self.addresses.get("ArbitrationCases", "0x"))
        out: list[tuple[ev.LogPosition, Any, Any]] = []
        for log in logs:
            pos = ev.position(log)
            if pos.address not in (registry, cases):
                continue
            decoded = ev.decode(log)
            if decoded is None:
                continue
            is_registry_event = isinstance(decoded, ev.ItemAnchoredLog | ev.BatchAnchoredLog)
            if is_registry_event != (pos.address == registry):
                continue  # an evidence event from the wrong contract: not ours
            loaded: Any = None
            if isinstance(decoded, ev.ItemAnchoredLog):
                d = decoded
                loaded = single_record(d.evidence_id, d.loan_id, d.kind, d.sha256, d.sm3, d.ciphertext_sha256,
                                       d.prev, d.item_hash)
            elif isinstance(decoded, ev.BatchAnchoredLog):
                loaded = load_batch(self.vault, decoded.root, decoded.size)
            out.append((pos, decoded, loaded))
        out.sort(key=lambda t: (t[0].block_number, t[0].log_index))
        return out

    def _ingest_range(self, logs: list[dict[str, Any]], start: int, end: int, totals: Writer) -> None:
        prepared = self._prepare(logs)
        loan_logs = [log for log in logs if str(log.get("address", "")).lower() in self._loans().names]
        numbers = sorted({ev.hexint(log["blockNumber"]) for log in logs})
        headers = self._headers([n for n in numbers if not self._has_block(n)])
        served = {n: h for n, h, _ in headers}
        for log in logs:
            n, h = ev.hexint(log["blockNumber"]), ev.hexbytes(log["blockHash"])
            if served.get(n, h) != h:
                raise IndexReorgError(n, "0x" + h.hex(), "0x" + served[n].hex())
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self.cursor >= end:  # another process indexed this range meanwhile
                conn.execute("ROLLBACK")
                return
            w = Writer(conn)
            w.add_blocks(headers)
            for pos, decoded, loaded in prepared:
                self._apply(w, pos, decoded, loaded)
            w.add_events(self._loans().decode(loan_logs, w))
            w.finish()
            self._set_meta(cursor=str(end))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        for name in ("items", "duplicates", "problems", "events", "cases"):
            setattr(totals, name, getattr(totals, name) + getattr(w, name))

    def _apply(self, w: Writer, pos: ev.LogPosition, d: Any, loaded: Any) -> None:
        n, li, tx = pos.block_number, pos.log_index, pos.tx_hash
        if isinstance(d, ev.ItemAnchoredLog):
            w.add_anchor(AnchorRow(d.item_hash, None, 1, n, li, tx, d.submitter), *loaded)
        elif isinstance(d, ev.BatchAnchoredLog):
            w.add_anchor(AnchorRow(d.root, d.batch_id, d.size, n, li, tx, d.submitter), *loaded)
        elif isinstance(d, ev.CaseOpenedLog):
            w.case_opened(d.case_id, loan32(d.loan_id), d.arbitrator, d.opener, d.frozen_head, d.frozen_count,
                          n, li, tx)
        elif isinstance(d, ev.AwardRecordedLog):
            w.award_recorded(d.case_id, d.arbitrator, d.award_hash, d.signature, n, li, tx)
        elif isinstance(d, ev.AccessLogAnchoredLog):
            w.access_log_anchored(d.case_id, d.log_head, d.entries, d.operator, n, li, tx)

    def _retry_pending(self, totals: Writer) -> None:
        conn = self._conn()
        pending = conn.execute(
            "SELECT root, batch_id, size, block, log_index, tx_hash, submitter FROM anchors "
            "WHERE indexed = 0 AND batch_id IS NOT NULL ORDER BY block, log_index").fetchall()
        if not pending:
            return
        loaded = [(AnchorRow(*row), load_batch(self.vault, row[0], row[2])) for row in pending]
        conn.execute("BEGIN IMMEDIATE")
        try:
            w = Writer(conn)
            for anchor, (records, problem) in loaded:
                w.add_anchor(anchor, records, problem)
            w.finish()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        totals.items += w.items
        totals.duplicates += w.duplicates

    def _loans(self) -> LoanEventDecoder:
        if self._loan_decoder is None:
            self._loan_decoder = LoanEventDecoder(self.addresses)
        return self._loan_decoder

    def _has_block(self, n: int) -> bool:
        return self._conn().execute("SELECT 1 FROM blocks WHERE number = ?", (n,)).fetchone() is not None

    def bulk_index(self, anchors: Iterable[BulkAnchor]) -> int:
        """Index anchors whose records are already at hand, in one transaction (no RPC, no vault):
        for benchmarks and imports. Roots are recomputed; a mismatch raises. Returns items indexed."""
        conn = self._conn()
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                w = Writer(conn)
                for a in anchors:
                    root = MerkleTree([r.item_hash() for r in a.records]).root
                    if root != a.root:
                        raise EvidenceIndexError(f"records of anchor 0x{a.root.hex()} hash to 0x{root.hex()}")
                    w.add_blocks([(a.block_number, a.block_hash, a.timestamp)])
                    w.add_anchor(AnchorRow(a.root, a.batch_id, len(a.records), a.block_number, a.log_index,
                                           a.tx_hash, a.submitter), a.records, None)
                w.finish()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return w.items

    # -- queries ------------------------------------------------------------------------------------

    def _case_block(self, loan: bytes) -> int | None:
        row = self._conn().execute(
            "SELECT block FROM cases WHERE loan = ? ORDER BY case_id DESC LIMIT 1", (loan,)).fetchone()
        return None if row is None else int(row[0])

    def items_of_loan(self, loan_id: int | bytes, limit: int | None = None, after: int | None = None
                      ) -> list[IndexedItem]:
        """The loan's items in chain order; ``after`` = a position (items after it), ``limit`` = page size."""
        loan = loan32(loan_id)
        rows = self._conn().execute(
            ITEM_SQL + " WHERE i.loan = ? AND i.position > ? ORDER BY i.position LIMIT ?",
            (loan, -1 if after is None else after, -1 if limit is None else limit),
        ).fetchall()
        case_block = self._case_block(loan)
        return [item_from_row(r, case_block) for r in rows]

    def item(self, evidence_id: bytes) -> IndexedItem | None:
        row = self._conn().execute(ITEM_SQL + " WHERE i.evidence_id = ?", (bytes(evidence_id),)).fetchone()
        return None if row is None else item_from_row(row, self._case_block(row[2]))

    def batch_records(self, root: bytes) -> list[EvidenceRecord]:
        """Every leaf record of an indexed anchor in leaf order (duplicates included: they are leaves too)."""
        conn = self._conn()
        cols = "leaf_index, evidence_id, kind, loan, sha256, sm3, ciphertext_sha256, prev"
        rows = conn.execute(f"SELECT {cols} FROM items WHERE root = ?", (root,)).fetchall()
        rows += conn.execute(f"SELECT {cols} FROM duplicates WHERE root = ?", (root,)).fetchall()
        rows.sort(key=lambda r: r[0])
        return [EvidenceRecord(r[1], EvidenceKind(r[2]), r[3], r[4], r[5], r[6], r[7]) for r in rows]

    def anchor(self, root: bytes) -> AnchorInfo | None:
        row = self._conn().execute(
            "SELECT a.root, a.batch_id, a.size, a.block, b.hash, b.timestamp, a.tx_hash, a.log_index, a.submitter,"
            " a.indexed FROM anchors a JOIN blocks b ON b.number = a.block WHERE a.root = ?", (root,)).fetchone()
        if row is None:
            return None
        return AnchorInfo(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], checksum(row[8]),
                          bool(row[9]))

    def case(self, case_id: int) -> IndexedCase | None:
        """The case, or ``None``; ids outside SQLite's integer range cannot exist (case ids count from 1)."""
        if not 0 <= case_id < 2**63:
            return None
        row = self._conn().execute(CASE_SQL + " WHERE c.case_id = ?", (case_id,)).fetchone()
        return None if row is None else case_from_row(row)

    def cases_for(self, address: str, roles: Iterable[Any]) -> list[IndexedCase]:
        """Cases ``address`` may see: an auditor all, an arbitrator those assigned to it, a lead
        bank those it opened (``roles``: ``client.consortium.Role`` values or their names)."""
        names = role_names(roles)
        conn = self._conn()
        if "AUDITOR" in names:
            rows = conn.execute(CASE_SQL + " ORDER BY c.case_id").fetchall()
        else:
            raw = ev.hexbytes(address)
            where = [w for r, w in (("ARBITRATOR", "c.arbitrator = ?"), ("LEAD_BANK", "c.opener = ?")) if r in names]
            if not where:
                return []
            rows = conn.execute(CASE_SQL + " WHERE " + " OR ".join(where) + " ORDER BY c.case_id",
                                [raw] * len(where)).fetchall()
        return [case_from_row(r) for r in rows]

    def case_of_loan(self, loan_id: int | bytes) -> IndexedCase | None:
        """The loan's most recent case."""
        row = self._conn().execute(CASE_SQL + " WHERE c.loan = ? ORDER BY c.case_id DESC LIMIT 1",
                                   (loan32(loan_id),)).fetchone()
        return None if row is None else case_from_row(row)

    def timeline(self, loan_id: int | bytes) -> list[TimelineEntry]:
        """The loan's events and evidence items, sorted by (block, log index, leaf index)."""
        loan = loan32(loan_id)
        conn = self._conn()
        out = [
            TimelineEntry(r[0], r[1], 0, r[2], r[3], r[4], r[5], json.loads(r[6]))
            for r in conn.execute(
                "SELECT e.block, e.log_index, e.tx_hash, b.timestamp, e.kind, e.contract, e.payload FROM events e"
                " JOIN blocks b ON b.number = e.block WHERE e.loan = ? ORDER BY e.block, e.log_index", (loan,))
        ]
        for it in self.items_of_loan(loan):
            payload = {"evidenceId": "0x" + it.evidence_id.hex(), "kind": it.kind.json_name,
                       "itemHash": "0x" + it.item_hash.hex(), "batchRoot": "0x" + it.batch_root.hex(),
                       "position": it.position, "submitter": it.submitter, "later": it.later}
            out.append(TimelineEntry(it.block_number, it.log_index, it.leaf_index, it.tx_hash, it.block_timestamp,
                                     "evidence", "EvidenceRegistry", payload, it.evidence_id))
        out.sort(key=lambda e: (e.block_number, e.log_index, e.leaf_index))
        return out

    def chain_status(self, loan_id: int | bytes) -> ChainStatus:
        """Walk the loan's items in anchoring order: each ``prev`` must be the previous item's hash."""
        loan = loan32(loan_id)
        expected, n = GENESIS_PREV, 0
        for eid, prev, item_hash, position in self._conn().execute(
                "SELECT evidence_id, prev, item_hash, position FROM items WHERE loan = ? ORDER BY position", (loan,)):
            if prev != expected:
                count = self._conn().execute("SELECT count(*) FROM items WHERE loan = ?", (loan,)).fetchone()[0]
                return ChainStatus(loan, count, None, False, position, eid, expected, prev)
            expected, n = item_hash, n + 1
        return ChainStatus(loan, n, None if n == 0 else expected, True)

    def problems(self, include_resolved: bool = False) -> list[IndexProblem]:
        sql = "SELECT root, kind, detail, block, tx_hash, attempts, resolved FROM problems"
        sql += "" if include_resolved else " WHERE resolved = 0"
        rows = self._conn().execute(sql + " ORDER BY block, root").fetchall()
        return [IndexProblem(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]

    def duplicates(self, evidence_id: bytes | None = None) -> list[DuplicateItem]:
        sql = ("SELECT d.evidence_id, d.root, d.leaf_index, d.block, d.item_hash, i.root FROM duplicates d"
               " LEFT JOIN items i ON i.evidence_id = d.evidence_id")
        args: tuple[Any, ...] = ()
        if evidence_id is not None:
            sql, args = sql + " WHERE d.evidence_id = ?", (bytes(evidence_id),)
        rows = self._conn().execute(sql + " ORDER BY d.block, d.log_index, d.leaf_index", args).fetchall()
        return [DuplicateItem(*r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables (for health checks and benchmarks)."""
        conn = self._conn()
        return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # noqa: S608 - fixed names
                for t in ("items", "anchors", "duplicates", "problems", "cases", "events", "blocks")}
