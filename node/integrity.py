"""Start-time integrity check of the chain store (issue 13, defect 1).

Why: overwriting a few random pages of ``chain.sqlite`` left the node starting normally and then
answering ``null`` or errors for receipts it had acknowledged. Damage must be found before the
first request, and named. Two checks, cheap enough for every start:

1. ``PRAGMA quick_check``: SQLite's structural check of every b-tree page (page format, cell
   order, free list). It is O(file size) but skips ``integrity_check``'s index-to-table
   comparison, which is what makes that one slow.
2. The head walk, over the node's own side tables only (no py-evm decoding): every block 0..head
   present, its row's hash equal to the hash in its header JSON, its ``parentHash`` equal to the
   previous block's hash, and its transactions' rows (each holding its receipt) present in order;
   the head equal to the header py-evm reads as canonical, and its state root node present.

The first failure becomes :class:`~node.errors.StoreCorruptError`, which names the first bad block
and the recovery path; nothing is written.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass

from eth.constants import BLANK_ROOT_HASH
from eth_utils import encode_hex

from .errors import StoreCorruptError
from .store import SqliteStore

__all__ = ["StoreCheck", "check_head", "check_structure", "quick_check"]

#: quick_check stops after this many messages (the first few name the damage well enough).
_MAX_PROBLEMS = 10


@dataclass(frozen=True)
class StoreCheck:
    """What a passing start-time check covered, and how long it took."""

    head: int
    transactions: int
    quick_check_seconds: float
    walk_seconds: float


def quick_check(store: SqliteStore) -> list[str]:
    """SQLite's structural problems of the store's file (empty list: none found)."""
    try:
        with store.reading() as conn:
            rows = conn.execute(f"PRAGMA quick_check({_MAX_PROBLEMS})").fetchall()
    except sqlite3.DatabaseError as exc:
        return [f"cannot run: {exc}"]
    problems = [str(r[0]) for r in rows]
    return [] if problems == ["ok"] else problems


def check_structure(store: SqliteStore) -> float:
    """Run ``quick_check`` before anything reads the chain; seconds taken.

    On damage, the head walk still runs as far as it can (up to the head recorded in ``meta``) so
    the error names the first bad block when the damage reaches the block tables.
    """
    started = time.perf_counter()
    problems = quick_check(store)
    if problems:
        try:
            recorded = store.get_meta("head")
        except sqlite3.DatabaseError:
            recorded = None
        head = int(recorded) if recorded is not None and recorded.isdigit() else 0
        bad, reason, _ = _walk(store, head, None, None)
        raise StoreCorruptError(str(store.path), bad, reason, problems)
    return time.perf_counter() - started


def check_head(store: SqliteStore, head_number: int, head_hash: bytes, state_root: bytes,
               structure_seconds: float = 0.0) -> StoreCheck:
    """Walk blocks 0..head (see the module docstring); :class:`StoreCorruptError` names the first bad one."""
    started = time.perf_counter()
    bad, reason, transactions = _walk(store, head_number, head_hash, state_root)
    if bad is not None:
        raise StoreCorruptError(str(store.path), bad, reason, [])
    return StoreCheck(head_number, transactions, structure_seconds, time.perf_counter() - started)


def _walk(store: SqliteStore, head_number: int, head_hash: bytes | None, state_root: bytes | None
          ) -> tuple[int | None, str, int]:
    """(first bad block or None, why, transactions seen) of blocks 0..head."""
    expected = 0
    try:
        with store.reading() as conn:
            tx_hashes: dict[int, list[str]] = defaultdict(list)
            transactions = 0
            # covered by the txs_by_block index (block_number, idx, hash): no receipt is read
            for number, txh in conn.execute(
                    "SELECT block_number, hash FROM txs WHERE block_number <= ? ORDER BY block_number, idx",
                    (head_number,)):
                # a damaged row's column may hold another type: it then differs from the header's list
                tx_hashes[number].append(encode_hex(txh) if isinstance(txh, bytes) else repr(txh))
                transactions += 1
            previous = ""
            for number, bhash, text in conn.execute(
                    "SELECT number, hash, json FROM blocks ORDER BY number"):
                if not (isinstance(number, int) and isinstance(bhash, bytes) and isinstance(text, str)):
                    return expected, "its row is damaged (a column holds the wrong type)", transactions
                if number != expected:
                    if number > head_number >= expected:
                        break
                    return expected, f"missing (the next stored block is {number})", transactions
                why = _block_problem(number, bytes(bhash), text, previous, tx_hashes.get(number, []))
                if why:
                    return number, why, transactions
                previous = encode_hex(bhash)
                if number == head_number:
                    if head_hash is not None and bytes(bhash) != head_hash:
                        return number, (f"the head block's row is {encode_hex(bhash)}, the canonical "
                                        f"header {encode_hex(head_hash)}"), transactions
                    expected += 1
                    break
                expected += 1
            if expected <= head_number:
                return expected, f"missing (the head is block {head_number})", transactions
            if state_root not in (None, BLANK_ROOT_HASH) and conn.execute(
                    "SELECT 1 FROM kv WHERE key = ?", (state_root,)).fetchone() is None:
                return head_number, f"its state root {encode_hex(state_root)} is not in the store", transactions
    except sqlite3.DatabaseError as exc:
        return expected, f"unreadable: {exc}", 0
    return None, "", transactions


def _block_problem(number: int, bhash: bytes, text: str, parent: str, stored_txs: list[str]) -> str:
    """Why the stored block ``number`` is not consistent ('' when it is)."""
    try:
        doc = json.loads(text)
        own, parent_hash, txs = doc["hash"], doc["parentHash"], doc["transactions"]
    except (ValueError, KeyError, TypeError) as exc:
        return f"its header JSON is unreadable ({type(exc).__name__})"
    if own != encode_hex(bhash):
        return f"its row hash {encode_hex(bhash)} differs from its header's {own}"
    if number > 0 and parent_hash != parent:
        return f"its parentHash {parent_hash} is not block {number - 1}'s hash {parent}"
    if stored_txs != txs:
        return (f"{len(stored_txs)} of its {len(txs)} transactions (with their receipts) are stored"
                if len(stored_txs) != len(txs) else "its stored transactions differ from its header's list")
    return ""
