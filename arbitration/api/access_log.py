"""The per-case, hash-chained log of every evidence content read and bundle download.

Why hash-chained and anchored: the issue asks that every content access be logged and the log's
hash anchored, so that nobody — the platform operator included — can later delete or reorder a
read without the anchored head giving it away. Each entry commits to its predecessor:

    entry  = 0x01 || case_id (32) || seq (8) || at (8) || actor (20) || action (1) || target (32) || prev (32)
    hash   = SHA-256("coledger/access-log/v1" || 0x00 || entry)

with big-endian integers, ``prev`` of the first entry 32 zero bytes, and ``seq`` counting from 1.
The head of a case is the hash of its last entry; ``entries`` is its count. Reads outside any case
(e.g. a lead bank reading its own loan before a case exists) go to case 0, which the contract
accepts for that purpose.

Anchoring policy (`Anchorer`): batched — a background thread anchors, every `anchor_interval`
seconds, each case whose log grew since its last anchor, with
`ArbitrationCasesClient.anchor_access_log(case_id, head, entries)` (the signer holds Operator).
A read is never delayed by a transaction, the gas cost is one transaction per active case per
interval, and the window in which an entry is local-only is bounded by the interval. The anchored
(head, entries) pairs are recorded here and, authoritatively, on chain (`caseInfo`).

Storage: one SQLite file beside the evidence index; writes are serialized by a lock and each
append is one transaction, so a crash never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from eth_utils import to_canonical_address, to_checksum_address

from client.private_files import ensure_private_dir, precreate_private_file

__all__ = ["AccessAction", "AccessEntry", "AnchoredHead", "AccessLog", "Anchorer", "entry_hash", "GENESIS"]

GENESIS = bytes(32)
_LABEL = b"coledger/access-log/v1\x00"
_VERSION = 1
log = logging.getLogger("arbitration.api.access_log")


class AccessAction(IntEnum):
    CONTENT = 1  # GET /evidence/{id}/content
    BUNDLE = 2  # GET /cases/{id}/bundle

    @property
    def json_name(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class AccessEntry:
    case_id: int
    seq: int
    at: int
    actor: str
    action: AccessAction
    target: bytes
    prev: bytes
    hash: bytes


@dataclass(frozen=True)
class AnchoredHead:
    case_id: int
    head: bytes
    entries: int
    tx_hash: str
    block_number: int


def encode_entry(case_id: int, seq: int, at: int, actor: str, action: AccessAction, target: bytes,
                 prev: bytes) -> bytes:
    if len(target) != 32 or len(prev) != 32:
        raise ValueError("target and prev must be 32 bytes")
    return (
        bytes([_VERSION])
        + case_id.to_bytes(32, "big")
        + seq.to_bytes(8, "big")
        + at.to_bytes(8, "big")
        + to_canonical_address(actor)
        + bytes([int(action)])
        + target
        + prev
    )


def entry_hash(case_id: int, seq: int, at: int, actor: str, action: AccessAction, target: bytes,
               prev: bytes) -> bytes:
    return hashlib.sha256(_LABEL + encode_entry(case_id, seq, at, actor, action, target, prev)).digest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS access_entries (
    case_id TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, actor TEXT NOT NULL,
    action INTEGER NOT NULL, target BLOB NOT NULL, prev BLOB NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE TABLE IF NOT EXISTS access_anchors (
    case_id TEXT NOT NULL, entries INTEGER NOT NULL, head BLOB NOT NULL, tx_hash TEXT NOT NULL,
    block_number INTEGER NOT NULL, PRIMARY KEY (case_id, entries)
);
"""


def _key(case_id: int) -> str:
    return f"{case_id:064x}"


class AccessLog:
    """The access log of every case, in one SQLite file."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        ensure_private_dir(path.parent, tighten=False)
        precreate_private_file(path)  # who read which evidence: 0600 from the first byte
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._clock = clock

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def append(self, case_id: int, actor: str, action: AccessAction, target: bytes) -> AccessEntry:
        actor = str(to_checksum_address(actor))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT seq, hash FROM access_entries WHERE case_id = ? ORDER BY seq DESC LIMIT 1",
                    (_key(case_id),),
                ).fetchone()
                seq, prev = (1, GENESIS) if row is None else (int(row[0]) + 1, bytes(row[1]))
                at = int(self._clock())
                digest = entry_hash(case_id, seq, at, actor, action, target, prev)
                self._db.execute(
                    "INSERT INTO access_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (_key(case_id), seq, at, actor, int(action), target, prev, digest),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return AccessEntry(case_id, seq, at, actor, action, target, prev, digest)

    def head(self, case_id: int) -> tuple[bytes, int]:
        """(head hash, entry count); (GENESIS, 0) for an empty log."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, hash FROM access_entries WHERE case_id = ? ORDER BY seq DESC LIMIT 1", (_key(case_id),)
            ).fetchone()
        return (GENESIS, 0) if row is None else (bytes(row[1]), int(row[0]))

    def entries(self, case_id: int, after: int = 0, limit: int = 1000) -> list[AccessEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, at, actor, action, target, prev, hash FROM access_entries "
                "WHERE case_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (_key(case_id), after, limit),
            ).fetchall()
        return [
            AccessEntry(case_id, int(r[0]), int(r[1]), str(r[2]), AccessAction(int(r[3])), bytes(r[4]),
                        bytes(r[5]), bytes(r[6]))
            for r in rows
        ]

    def verify(self, case_id: int) -> bool:
        """Recompute the whole chain of `case_id` from its stored fields."""
        prev, expected_seq = GENESIS, 1
        after = 0
        while True:
            batch = self.entries(case_id, after)
            if not batch:
                return True
            for e in batch:
                if e.seq != expected_seq or e.prev != prev:
                    return False
                if entry_hash(case_id, e.seq, e.at, e.actor, e.action, e.target, e.prev) != e.hash:
                    return False
                prev, expected_seq = e.hash, e.seq + 1
            after = batch[-1].seq

    def pending(self) -> list[tuple[int, bytes, int]]:
        """(case id, head, entries) of every case whose log grew since its last recorded anchor."""
        with self._lock:
            rows = self._db.execute(
                "SELECT e.case_id, MAX(e.seq), COALESCE((SELECT MAX(a.entries) FROM access_anchors a "
                "WHERE a.case_id = e.case_id), 0) FROM access_entries e GROUP BY e.case_id"
            ).fetchall()
            out = []
            for key, count, anchored in rows:
                if int(count) > int(anchored):
                    head = self._db.execute(
                        "SELECT hash FROM access_entries WHERE case_id = ? AND seq = ?", (key, count)
                    ).fetchone()[0]
                    out.append((int(key, 16), bytes(head), int(count)))
        return out

    def record_anchor(self, case_id: int, head: bytes, entries: int, tx_hash: str, block_number: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO access_anchors VALUES (?, ?, ?, ?, ?)",
                (_key(case_id), entries, head, tx_hash, block_number),
            )

    def last_anchor(self, case_id: int) -> AnchoredHead | None:
        with self._lock:
            row = self._db.execute(
                "SELECT entries, head, tx_hash, block_number FROM access_anchors WHERE case_id = ? "
                "ORDER BY entries DESC LIMIT 1",
                (_key(case_id),),
            ).fetchone()
        return None if row is None else AnchoredHead(case_id, bytes(row[1]), int(row[0]), str(row[2]), int(row[3]))


class Anchorer:
    """Background thread anchoring grown access logs every `interval` seconds (see module doc)."""

    def __init__(self, access_log: AccessLog, cases_client: Any, interval: float) -> None:
        self._log = access_log
        self._cases = cases_client
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._round = threading.Lock()
        self.failures = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        stop = self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(stop,), name="access-log-anchorer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None and thread.is_alive():
            thread.join(timeout=60)

    def anchor_pending(self) -> int:
        """Anchor every grown log now; returns how many were anchored."""
        with self._round:
            return self._anchor_pending()

    def _anchor_pending(self) -> int:
        done = 0
        for case_id, head, entries in self._log.pending():
            try:
                receipt = self._cases.anchor_access_log(case_id, head, entries)
            except Exception as exc:  # noqa: BLE001 - retried next round; a read never fails for it
                self.failures += 1
                log.warning("anchoring the access log of case %d (%d entries) failed: %s", case_id, entries, exc)
                continue
            tx = receipt["transactionHash"]
            tx_hex = tx.hex() if isinstance(tx, bytes | bytearray) else str(tx)
            self._log.record_anchor(case_id, head, entries, "0x" + tx_hex.removeprefix("0x"),
                                    int(receipt["blockNumber"]))
            done += 1
        return done

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self._interval):
            try:
                self.anchor_pending()
            except Exception:  # noqa: BLE001
                log.exception("access-log anchoring round failed")
