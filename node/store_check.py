"""The full check of a chain store (`coledger node check`): every block, receipt, log row and the
state trie, proven against the hashes in the headers.

Why beyond the start-time check (:mod:`node.integrity`): that one proves the store is complete
and linked, cheaply, on every start. This one proves that what the node *serves* is what the
chain committed to, reading everything once:

1. SQLite's ``PRAGMA integrity_check`` (every page, and every index against its table, so the
   log index by address and topic too).
2. For each block 0..head: py-evm's canonical hash for the number equals the block row's hash;
   the stored header hashes to that hash and names the previous block as parent; the
   transactions and receipts tries under the header's roots are complete and every node hashes
   to its key; the header's gas used is the last receipt's cumulative gas and its logs bloom the
   union of the receipts' blooms, each receipt's bloom that of its logs; the block, transaction,
   receipt and log rows the JSON-RPC serves are exactly what :mod:`node.serialize` renders from
   those proven objects (senders recovered from the signatures); the block's seal (solo chains)
   recovers to its signer; no rows exist beyond the head.
3. The state trie under the head's state root (every state root with ``all_states``): every
   node, every account's storage trie and code, each proven by its hash.

It opens the file read-only and reads one SQLite snapshot, so it can run while the node serves
(WAL): it checks the chain as of its start; blocks sealed meanwhile are not checked.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import rlp
from eth.abc import BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.db.header import _decode_block_header
from eth.db.schema import SchemaV1
from eth_typing import BlockNumber
from eth_utils import encode_hex, keccak

from .errors import StoreError
from .evm import ColedgerVM
from .fastevm import logs_bloom
from .seal import SealError, recover_seal_signer
from .serialize import block_json, receipt_json, tx_json
from .trie_check import StateCounts, TrieNodeError, check_state, ordered_leaves

__all__ = ["CheckReport", "Failure", "Progress", "StoreCheckError", "check_store"]

#: ``progress(blocks_done, blocks_total, transactions_done)`` after each block.
Progress = Callable[[int, int, int], None]

#: Keys a newer version renders that rows written by an older one lack (not damage).
_ADDED_LATER = frozenset({"blockTimestamp"})
_MAX_SQLITE_PROBLEMS = 10


class StoreCheckError(StoreError):
    """The store cannot be checked at all (no such file, not openable); not a finding about it."""


class _Bad(Exception):
    """Internal: the block being checked differs from what its header commits to."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(f"{what}: {detail}")
        self.what = what
        self.detail = detail


@dataclass(frozen=True)
class Failure:
    """The first thing found wrong: its block (None when not tied to one), what, and how."""

    block: int | None
    what: str
    detail: str


@dataclass
class CheckReport:
    """The JSON report of `coledger node check`."""

    store: str
    ok: bool = False
    head: int | None = None
    head_hash: str | None = None
    blocks: int = 0
    blocks_total: int = 0
    transactions: int = 0
    receipts: int = 0
    logs: int = 0
    seals: int = 0
    state_roots: int = 0
    state: dict[str, int] = field(default_factory=dict)
    sqlite_integrity: list[str] = field(default_factory=list)
    first_failure: Failure | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_store(path: Path, *, all_states: bool = False, progress: Progress | None = None) -> CheckReport:
    """Check the chain store at ``path`` (see the module docstring); never writes to it.

    Raises :class:`StoreCheckError` only when the file cannot be opened; every finding about its
    content is in the report (``ok`` False, ``first_failure`` naming the first bad block).
    """
    started = time.perf_counter()
    report = CheckReport(store=str(path))
    conn = _open_read_only(Path(path))
    try:
        conn.execute("BEGIN")  # one snapshot for the whole check (the node may keep writing)
        _Checker(conn, report, all_states, progress).run()
    except sqlite3.DatabaseError as exc:  # what the checker could not attribute to a block
        if report.first_failure is None:
            report.first_failure = Failure(None, "unreadable", f"SQLite: {exc}")
    finally:
        conn.close()
    report.ok = report.first_failure is None and not report.sqlite_integrity
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _open_read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise StoreCheckError(f"no chain store at {path}")
    if path.stat().st_size == 0:
        raise StoreCheckError(f"chain store {path} is empty (0 bytes)")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        conn.execute("PRAGMA query_only=1")
    except sqlite3.Error as exc:
        raise StoreCheckError(f"cannot open chain store {path} read-only: {exc}") from exc
    return conn


class _Checker:
    def __init__(self, conn: sqlite3.Connection, report: CheckReport, all_states: bool,
                 progress: Progress | None) -> None:
        self.conn = conn
        self.report = report
        self.all_states = all_states
        self.progress = progress or (lambda done, total, txs: None)
        self.tx_builder = ColedgerVM.get_transaction_builder()
        self.receipt_builder = ColedgerVM.get_receipt_builder()
        self.block_class = ColedgerVM.get_block_class()

    def get(self, key: bytes) -> bytes | None:
        row = self.conn.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return None if row is None or not isinstance(row[0], bytes) else bytes(row[0])

    def fail(self, block: int | None, what: str, detail: str) -> None:
        self.report.first_failure = Failure(block, what, detail)

    def run(self) -> None:
        report = self.report
        try:
            rows = self.conn.execute(f"PRAGMA integrity_check({_MAX_SQLITE_PROBLEMS})").fetchall()
            problems = [str(r[0]) for r in rows]
        except sqlite3.DatabaseError as exc:
            problems = [f"cannot run: {exc}"]
        report.sqlite_integrity = [] if problems == ["ok"] else problems
        head, head_problem = self._head()
        if head is None:  # neither the recorded head nor the last block row can be read:
            return self._walk_unknown_head(head_problem)  # name the first unreadable block
        report.head, report.blocks_total = head, head + 1
        try:
            has_seals = self._scalar("SELECT count(*) FROM seals") not in (0, None)
        except sqlite3.DatabaseError:
            has_seals = True  # cannot tell: a seal that cannot be read is then a finding
        parent: bytes | None = None
        state_roots: list[bytes] = []
        for number in range(head + 1):
            try:
                header = self._block(number, parent, has_seals)
            except _Bad as bad:
                return self.fail(number, bad.what, bad.detail)
            except sqlite3.DatabaseError as exc:
                return self.fail(number, "unreadable", f"SQLite: {exc}")
            except Exception as exc:  # noqa: BLE001 - damaged bytes may break any decoder: a finding
                return self.fail(number, "undecodable", f"{type(exc).__name__}: {exc}")
            parent = header.hash
            state_roots.append(header.state_root)
            report.blocks += 1
            self.progress(report.blocks, report.blocks_total, report.transactions)
        report.head_hash = encode_hex(parent) if parent else None
        if head_problem is not None:
            return self.fail(head, head_problem.what, head_problem.detail)
        try:
            if self._beyond_head(head):
                return
        except sqlite3.DatabaseError as exc:
            return self.fail(head + 1, "unreadable", f"rows after the head cannot be counted (SQLite: {exc})")
        self._states(state_roots)

    def _scalar(self, sql: str, *args: object) -> Any:
        row = self.conn.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def _head(self) -> tuple[int | None, _Bad | None]:
        """(the head to walk to, why the head itself is wrong or None).

        When the recorded head is unreadable or disagrees with py-evm's, the walk still goes up to
        the last block row, so that a bad block below the head is named first.
        """
        problem: _Bad | None = None
        try:
            recorded = self._scalar("SELECT value FROM meta WHERE key='head'")
            if recorded is None and self._scalar("SELECT count(*) FROM blocks") == 1:
                recorded = "0"  # only genesis has been committed (its commit writes no head)
            if not (isinstance(recorded, str) and recorded.isdigit()):
                problem = _Bad("head", f"the store records no head block (meta head = {recorded!r:.40})")
        except sqlite3.DatabaseError as exc:
            recorded, problem = None, _Bad("head", f"the recorded head cannot be read (SQLite: {exc})")
        try:
            if problem is not None:
                last = self._scalar("SELECT max(number) FROM blocks")
                return (last, problem) if isinstance(last, int) else (None, problem)
            head = int(recorded)
            canonical = self.get(SchemaV1.make_canonical_head_hash_lookup_key())
            row = self._scalar("SELECT hash FROM blocks WHERE number=?", head)
        except sqlite3.DatabaseError as exc:
            return None, _Bad("unreadable", f"the store's head cannot be read (SQLite: {exc})")
        if canonical is not None and row is not None and canonical != row:
            problem = _Bad("head", f"py-evm's canonical head {encode_hex(canonical)} is not the head "
                           f"block row's hash {encode_hex(row) if isinstance(row, bytes) else row!r:.80}")
        return head, problem

    def _walk_unknown_head(self, problem: _Bad | None) -> None:
        """Check blocks 0, 1, ... as far as they go: the first one that fails is the first bad
        block; if every stored block passes, the head record itself is the failure."""
        parent: bytes | None = None
        number = 0
        while True:
            try:
                header = self._block(number, parent, has_seals=False)
            except _Bad as bad:
                if bad.what == "block row" and bad.detail == "missing" and number > 0:  # past the last
                    detail = problem.detail if problem else "the head cannot be determined"
                    return self.fail(None, "head", f"{detail}; blocks 0..{number - 1} pass")
                return self.fail(number, bad.what, bad.detail)
            except sqlite3.DatabaseError as exc:
                return self.fail(number, "unreadable", f"SQLite: {exc}")
            except Exception as exc:  # noqa: BLE001 - damaged bytes may break any decoder: a finding
                return self.fail(number, "undecodable", f"{type(exc).__name__}: {exc}")
            parent = header.hash
            self.report.blocks += 1
            number += 1

    def _block(self, number: int, parent: bytes | None, has_seals: bool) -> BlockHeaderAPI:
        row = self.conn.execute("SELECT hash, json FROM blocks WHERE number=?", (number,)).fetchone()
        if row is None:
            raise _Bad("block row", "missing")
        bhash, text = row
        if not isinstance(bhash, bytes) or len(bhash) != 32:
            raise _Bad("block row", f"its hash column is not 32 bytes ({bhash!r:.80})")
        canonical = self.get(SchemaV1.make_block_number_to_hash_lookup_key(BlockNumber(number)))
        if canonical is None or rlp.decode(canonical, sedes=rlp.sedes.binary) != bhash:
            raise _Bad("canonical index", f"py-evm's hash for block {number} is "
                       f"{'missing' if canonical is None else encode_hex(rlp.decode(canonical))}, "
                       f"the block row's {encode_hex(bhash)}")
        raw_header = self.get(bhash)
        if raw_header is None:
            raise _Bad("header", f"the header of {encode_hex(bhash)} is missing")
        if keccak(raw_header) != bhash:
            raise _Bad("header", f"the stored header hashes to {encode_hex(keccak(raw_header))}, "
                       f"not to the block hash {encode_hex(bhash)}")
        header = _decode_block_header(raw_header)
        if header.block_number != number:
            raise _Bad("header", f"the header says block {header.block_number}")
        if parent is not None and header.parent_hash != parent:
            raise _Bad("parent link", f"parentHash {encode_hex(header.parent_hash)} is not block "
                       f"{number - 1}'s hash {encode_hex(parent)}")
        txs, receipts = self._bodies(header)
        block = self.block_class(header, txs, [], [])
        _same("block row", json.loads(text), block_json(block), "the header")
        self._rows(header, txs, receipts)
        if has_seals and number > 0:
            self._seal(number, bhash)
        return header

    def _bodies(self, header: BlockHeaderAPI) -> tuple[list[SignedTransactionAPI], list[ReceiptAPI]]:
        try:
            raw_txs = ordered_leaves(self.get, header.transaction_root)
        except TrieNodeError as exc:
            raise _Bad("transactions root", f"transactions trie {encode_hex(header.transaction_root)}: {exc}") from exc
        try:
            raw_receipts = ordered_leaves(self.get, header.receipt_root)
        except TrieNodeError as exc:
            raise _Bad("receipts root", f"receipts trie {encode_hex(header.receipt_root)}: {exc}") from exc
        if len(raw_txs) != len(raw_receipts):
            raise _Bad("receipts root", f"{len(raw_receipts)} receipts for {len(raw_txs)} transactions")
        txs = [self.tx_builder.decode(raw) for raw in raw_txs]
        receipts = [self.receipt_builder.decode(raw) for raw in raw_receipts]
        gas = receipts[-1].gas_used if receipts else 0
        if gas != header.gas_used:
            raise _Bad("gas used", f"the header's gasUsed {header.gas_used} is not the last receipt's "
                       f"cumulative gas {gas}")
        union = 0
        for i, receipt in enumerate(receipts):
            own = logs_bloom(receipt.logs)  # type: ignore[arg-type]  # py-evm's Log objects
            if int(receipt.bloom) != own:
                raise _Bad("logs bloom", f"receipt {i}'s bloom is not the bloom of its logs")
            union |= own
        if int(header.bloom) != union:
            raise _Bad("logs bloom", "the header's logsBloom is not the union of its receipts' blooms")
        return txs, receipts

    def _rows(self, header: BlockHeaderAPI, txs: list[SignedTransactionAPI],
              receipts: list[ReceiptAPI]) -> None:
        number, bhash, ts = header.block_number, header.hash, header.timestamp
        stored = self.conn.execute(
            "SELECT hash, idx, tx_json, receipt_json FROM txs WHERE block_number=? ORDER BY idx",
            (number,)).fetchall()
        if [(bytes(h) if isinstance(h, bytes) else h, i) for h, i, _, _ in stored] != \
                [(tx.hash, i) for i, tx in enumerate(txs)]:
            raise _Bad("transaction rows", f"{len(stored)} rows stored for its {len(txs)} transactions "
                       "(or their hashes or order differ from the transactions trie)")
        log_rows = self.conn.execute(
            "SELECT log_index, address, topic0, topic1, topic2, topic3, json FROM logs "
            "WHERE block_number=? ORDER BY log_index", (number,)).fetchall()
        rendered_logs: list[tuple[Any, ...]] = []
        previous = 0
        for i, (tx, receipt, (_, _, tx_text, receipt_text)) in enumerate(zip(txs, receipts, stored, strict=True)):
            sender = tx.sender
            where = f"transaction {i} ({encode_hex(tx.hash)})"
            _same("transaction row", json.loads(tx_text), tx_json(tx, sender, bhash, number, i, ts),
                  "the transactions trie", where)
            rj, logs = receipt_json(tx, sender, receipt, receipt.gas_used - previous, bhash, number, i,
                                    len(rendered_logs), ts)
            previous = receipt.gas_used
            _same("receipt row", json.loads(receipt_text), rj, "the receipts trie", where)
            for lg, raw in zip(logs, receipt.logs, strict=True):
                topics = [t.to_bytes(32, "big") for t in raw.topics] + [None] * 4
                rendered_logs.append((len(rendered_logs), bytes(raw.address), *topics[:4], lg))
        if len(log_rows) != len(rendered_logs):
            raise _Bad("log rows", f"{len(log_rows)} log rows stored, its receipts have {len(rendered_logs)} logs")
        for stored_log, (index, address, t0, t1, t2, t3, lg) in zip(log_rows, rendered_logs, strict=True):
            columns = tuple(bytes(c) if isinstance(c, bytes) else c for c in stored_log[:6])
            if columns != (index, address, t0, t1, t2, t3):
                raise _Bad("log rows", f"log {index}'s index columns (address, topics) differ from its receipt's log")
            _same("log rows", json.loads(stored_log[6]), lg, "the receipts trie", f"log {index}")
        self.report.transactions += len(txs)
        self.report.receipts += len(receipts)
        self.report.logs += len(rendered_logs)

    def _seal(self, number: int, bhash: bytes) -> None:
        row = self.conn.execute("SELECT hash, signer, signature FROM seals WHERE number=?", (number,)).fetchone()
        if row is None:
            raise _Bad("seal", "missing (every other block of this chain is sealed)")
        sealed, signer, signature = row
        if sealed != bhash:
            raise _Bad("seal", f"it seals {encode_hex(sealed) if isinstance(sealed, bytes) else sealed!r}, "
                       f"not the block's hash {encode_hex(bhash)}")
        try:
            recovered = recover_seal_signer(bhash, bytes(signature))
        except (SealError, TypeError) as exc:
            raise _Bad("seal", str(exc)) from exc
        if recovered != signer:
            raise _Bad("seal", f"its signature recovers to {recovered}, the row names {signer}")
        self.report.seals += 1

    def _beyond_head(self, head: int) -> bool:
        for table, column in (("blocks", "number"), ("txs", "block_number"), ("logs", "block_number"),
                              ("seals", "number")):
            extra = self._scalar(f"SELECT count(*) FROM {table} WHERE {column} > ?", head)
            if extra:
                self.fail(head + 1, "rows beyond the head", f"{extra} {table} rows after the head block {head}")
                return True
        return False

    def _states(self, state_roots: list[bytes]) -> None:
        counts = StateCounts()
        head = len(state_roots) - 1
        numbers = range(head + 1) if self.all_states else [head]
        for number in numbers:
            try:
                check_state(self.get, state_roots[number], counts)
            except TrieNodeError as exc:
                return self.fail(number, "state trie", f"state root {encode_hex(state_roots[number])}: {exc}")
            except sqlite3.DatabaseError as exc:
                return self.fail(number, "state trie", f"unreadable (SQLite: {exc})")
            self.report.state_roots += 1
        self.report.state = {"nodes": counts.nodes, "accounts": counts.accounts,
                             "storage_slots": counts.storage_slots, "codes": counts.codes}


def _same(what: str, stored: Any, rendered: dict[str, Any], source: str, where: str = "") -> None:
    """Raise :class:`_Bad` naming the fields in which a stored row differs from its rendering."""
    if not isinstance(stored, dict):
        raise _Bad(what, f"{where + ': ' if where else ''}the stored JSON is not an object")
    keys = (set(stored) | set(rendered)) - {k for k in _ADDED_LATER if k not in stored}
    differ = sorted(k for k in keys if _differs(stored.get(k, _MISSING), rendered.get(k, _MISSING)))
    if differ:
        shown = "; ".join(f"{k} stored {_short(stored.get(k, _MISSING))}, {source} says "
                          f"{_short(rendered.get(k, _MISSING))}" for k in differ[:3])
        more = f" (+{len(differ) - 3} more fields)" if len(differ) > 3 else ""
        raise _Bad(what, f"{where + ': ' if where else ''}{shown}{more}")


_MISSING = object()


def _differs(stored: Any, rendered: Any) -> bool:
    """True when ``stored`` differs from ``rendered`` beyond keys an older version did not write."""
    if isinstance(stored, list) and isinstance(rendered, list) and len(stored) == len(rendered):
        return any(_differs(s, r) for s, r in zip(stored, rendered, strict=True))
    if isinstance(stored, dict) and isinstance(rendered, dict):
        keys = (set(stored) | set(rendered)) - {k for k in _ADDED_LATER if k not in stored}
        return any(_differs(stored.get(k, _MISSING), rendered.get(k, _MISSING)) for k in keys)
    return bool(stored != rendered)


def _short(value: Any) -> str:
    if value is _MISSING:
        return "nothing"
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."
