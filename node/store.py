"""Durable key/value store for py-evm plus the node's side tables, on SQLite.

Why this shape: py-evm writes many trie nodes, headers and indexes while a block is built.
If those writes went straight to disk, a crash in the middle of building a block would
leave a half-written chain.  Instead they land in an in-memory *pending overlay*; the
sealer then calls :meth:`SqliteStore.commit_block`, which writes the overlay and the
node's own rows (block/tx/receipt JSON, log index, seal, meta) in ONE SQLite transaction
with ``synchronous=FULL``.  Each sealed block is therefore a single atomic, durable
commit, and a kill -9 at any moment leaves the last committed block intact.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from eth.db.backends.base import BaseDB

from .errors import StoreError

__all__ = ["SqliteStore", "SideWrite"]

#: A side-table write: one SQL statement executed for every row given.
SideWrite = tuple[str, Sequence[Sequence[Any]]]

_TOMBSTONE = object()
_CACHE_LIMIT = 400_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS txs (
    hash BLOB PRIMARY KEY, block_number INTEGER NOT NULL, idx INTEGER NOT NULL,
    tx_json TEXT NOT NULL, receipt_json TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS txs_by_block ON txs (block_number, idx);
CREATE TABLE IF NOT EXISTS logs (
    block_number INTEGER NOT NULL, log_index INTEGER NOT NULL, address BLOB NOT NULL,
    topic0 BLOB, topic1 BLOB, topic2 BLOB, topic3 BLOB, json TEXT NOT NULL,
    PRIMARY KEY (block_number, log_index)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS logs_by_address ON logs (address, block_number);
CREATE INDEX IF NOT EXISTS logs_by_topic0 ON logs (topic0, block_number);
CREATE INDEX IF NOT EXISTS logs_by_topic1 ON logs (topic1, block_number);
CREATE INDEX IF NOT EXISTS logs_by_topic2 ON logs (topic2, block_number);
CREATE INDEX IF NOT EXISTS logs_by_topic3 ON logs (topic3, block_number);
CREATE TABLE IF NOT EXISTS seals (
    number INTEGER PRIMARY KEY, hash BLOB NOT NULL, signer TEXT NOT NULL,
    signature BLOB NOT NULL);
"""


class SqliteStore(BaseDB):
    """py-evm database backed by SQLite with a pending overlay committed once per block.

    Thread model: py-evm access (``__getitem__`` etc.) and :meth:`commit_block` happen
    only while the node's chain lock is held, on one writer connection.  RPC readers of
    the side tables use :meth:`reader`, one read-only connection per thread, which only
    ever sees committed transactions (WAL snapshot isolation).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        self._pending: dict[bytes, object] = {}
        self._cache: dict[bytes, bytes] = {}
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False

    # ---- py-evm BaseDB interface -------------------------------------------------
    def __getitem__(self, key: bytes) -> bytes:
        value = self._pending.get(key)
        if value is not None:
            if value is _TOMBSTONE:
                raise KeyError(key)
            return value  # type: ignore[return-value]
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        row = self._conn.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        data = bytes(row[0])
        self._remember(key, data)
        return data

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[bytes(key)] = bytes(value)

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._pending[bytes(key)] = _TOMBSTONE

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    # ---- block commit ---------------------------------------------------------------
    @property
    def has_pending(self) -> bool:
        """True while py-evm writes of an unfinished block sit in the overlay."""
        return bool(self._pending)

    def discard(self) -> None:
        """Drop the overlay (a block build failed); committed data is untouched."""
        self._pending.clear()

    def commit_block(self, extra_writes: Iterable[SideWrite] = ()) -> None:
        """Write the overlay and the side-table rows in ONE durable SQLite transaction.

        On failure the transaction is rolled back and the overlay discarded, so the
        store stays at the previous block.
        """
        puts = [(k, v) for k, v in self._pending.items() if v is not _TOMBSTONE]
        dels = [(k,) for k, v in self._pending.items() if v is _TOMBSTONE]
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if puts:
                    conn.executemany(
                        "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", puts
                    )
                if dels:
                    conn.executemany("DELETE FROM kv WHERE key=?", dels)
                for sql, rows in extra_writes:
                    conn.executemany(sql, rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self._pending.clear()
            raise StoreError(f"block commit failed: {exc}") from exc
        except BaseException:
            self._pending.clear()
            raise
        for k, v in puts:
            self._remember(k, v)  # type: ignore[arg-type]
        for (k,) in dels:
            self._cache.pop(k, None)
        self._pending.clear()

    def _remember(self, key: bytes, value: bytes) -> None:
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = value

    # ---- meta -------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """Read a committed meta value (writer connection; call under the chain lock)."""
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def meta_write(items: dict[str, str]) -> SideWrite:
        """Side write that upserts meta keys inside a block commit."""
        return ("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(items.items()))

    def set_meta(self, items: dict[str, str]) -> None:
        """Durably upsert meta keys on their own (no overlay involved)."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(items.items())
            )
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"meta write failed: {exc}") from exc

    # ---- readers ----------------------------------------------------------------
    def reader(self) -> sqlite3.Connection:
        """Per-thread read connection that sees only committed blocks."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreError("store is closed")
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=1")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection; pending (uncommitted) writes are dropped."""
        self._closed = True
        self._pending.clear()
        with self._readers_lock:
            for conn in self._readers:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._readers.clear()
        try:
            self._conn.close()
        except sqlite3.Error:
            pass
