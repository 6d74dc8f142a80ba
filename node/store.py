"""Durable key/value store for py-evm plus the node's side tables, on SQLite.

Why this shape: py-evm writes many trie nodes, headers and indexes while a block is built.
If those writes went straight to disk, a crash in the middle of building a block would
leave a half-written chain.  Instead they land in an in-memory *pending overlay*; the
sealer then calls :meth:`SqliteStore.commit_block`, which writes the overlay and the
node's own rows (block/tx/receipt JSON, log index, seal, meta) in ONE SQLite transaction
with ``synchronous=FULL``.  Each sealed block is therefore a single atomic, durable
commit, and a kill -9 at any moment leaves the last committed block intact.

A full disk: SQLite answers SQLITE_FULL and has already rolled the transaction back (a ROLLBACK
after it fails with "cannot rollback - no transaction is active", which used to hide the real
error). The store raises :class:`StoreFullError` and remembers it (:attr:`SqliteStore.cannot_commit`)
until a commit succeeds again, so whoever takes transactions in can refuse them meanwhile; the
store itself knows nothing of who produces blocks.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eth.db.backends.base import BaseDB

from ._diskspace import is_disk_full, space_words
from ._private import precreate_private_file
from .errors import StoreCorruptError, StoreError, StoreFullError

__all__ = ["SqliteStore", "SideWrite", "PooledReader", "READ_POOL_SIZE"]

#: A side-table write: one SQL statement executed for every row given.
SideWrite = tuple[str, Sequence[Sequence[Any]]]

#: Read connections open at most (each holds the database, its WAL and shared-memory files).
READ_POOL_SIZE = 16
#: How long a reader waits for a free connection before the read fails.
READ_WAIT_SECONDS = 30.0

log = logging.getLogger("coledger.node.store")

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
    the side tables borrow one of a bounded pool of read-only connections
    (:meth:`reading`, :meth:`reader`), which only ever see committed transactions (WAL
    snapshot isolation).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            precreate_private_file(self.path)  # 0600 before SQLite creates it 0644
        except OSError as exc:
            raise StoreError(f"cannot create store {self.path}: {exc}") from exc
        try:
            self._conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.OperationalError as exc:  # cannot open, locked, read-only, disk full...
            if is_disk_full(exc, self.path.parent):
                raise StoreFullError(f"cannot open store {self.path}: database or disk is full "
                                     f"({space_words(self.path.parent)})") from exc
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed": damage
            raise StoreCorruptError(str(self.path), None, "", [str(exc)]) from exc
        self._pending: dict[bytes, object] = {}
        self._cache: dict[bytes, bytes] = {}
        self._pool_cond = threading.Condition()
        self._idle: list[sqlite3.Connection] = []
        self._opened = 0
        self._closed = False
        #: why commits fail (a full disk), from the failed commit until the next one succeeds
        self._cannot_commit: str | None = None

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
        store stays at the previous block; a full disk raises :class:`StoreFullError`.
        """
        puts = [(k, v) for k, v in self._pending.items() if v is not _TOMBSTONE]
        dels = [(k,) for k, v in self._pending.items() if v is _TOMBSTONE]

        def write(conn: sqlite3.Connection) -> None:
            if puts:
                conn.executemany("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", puts)
            if dels:
                conn.executemany("DELETE FROM kv WHERE key=?", dels)
            for sql, rows in extra_writes:
                conn.executemany(sql, rows)

        try:
            self._transaction("block commit", write)
        finally:
            self._pending.clear()  # committed, or rolled back: the overlay is done either way
        for k, v in puts:
            self._remember(k, v)  # type: ignore[arg-type]
        for (k,) in dels:
            self._cache.pop(k, None)

    def _transaction(self, what: str, write: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``write`` in one IMMEDIATE transaction and commit it; on any failure roll back
        (unless SQLite already did) and raise :class:`StoreError`, or :class:`StoreFullError`
        when the disk is full, which also sets :attr:`cannot_commit` until a commit succeeds."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                write(conn)
                conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as exc:
            if is_disk_full(exc, self.path.parent):
                self._cannot_commit = ("database or disk is full (no space left on the filesystem "
                                       "of the node's store)")
                raise StoreFullError(f"{what} failed: database or disk is full "
                                     f"({space_words(self.path.parent)})") from exc
            raise StoreError(f"{what} failed: {exc}") from exc
        self._cannot_commit = None

    def _rollback(self) -> None:
        """Roll back the open transaction. On SQLITE_FULL (and a few other errors) SQLite has
        already rolled it back itself, and a ROLLBACK would only fail with "cannot rollback -
        no transaction is active", replacing the real error; so only roll back what is open."""
        if not self._conn.in_transaction:
            return
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:  # the first error is the one to report
            log.warning("rollback after a failed write of %s failed: %s", self.path, exc)

    @property
    def cannot_commit(self) -> str | None:
        """Why the store cannot commit (a full disk), or None while commits succeed; words for a
        client, so without the path (the exception and the log name it). Set by the
        failed commit, cleared by the next successful one (a block or :meth:`probe_commit`)."""
        return self._cannot_commit

    def probe_commit(self) -> None:
        """Commit a transaction that changes nothing (a meta row written and deleted), to learn
        whether the store can commit again when no block is waiting; raises like a commit."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('write_probe', '')")
            conn.execute("DELETE FROM meta WHERE key='write_probe'")

        self._transaction("write probe", write)

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
        rows = list(items.items())

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", rows)

        self._transaction("meta write", write)

    # ---- readers ----------------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """Borrow a read connection from the pool (at most :data:`READ_POOL_SIZE` are open).

        WAL lets these read concurrently with each other and with the writer; each statement
        sees only committed blocks. When every connection is lent out, the caller waits for
        one (up to :data:`READ_WAIT_SECONDS`, then :class:`StoreError`). The pool is what
        keeps the open files flat however many RPC connections come and go.
        """
        conn = self._borrow()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def reader(self) -> PooledReader:
        """A handle whose ``execute(sql, args)`` runs on a pooled connection and returns the
        rows already fetched (``fetchone``/``fetchall``), so no connection is held between calls."""
        return PooledReader(self)

    def _borrow(self) -> sqlite3.Connection:
        with self._pool_cond:
            while True:
                if self._closed:
                    raise StoreError("store is closed")
                if self._idle:
                    return self._idle.pop()
                if self._opened < READ_POOL_SIZE:
                    self._opened += 1
                    break
                if not self._pool_cond.wait(READ_WAIT_SECONDS):
                    raise StoreError(
                        f"no read connection free within {READ_WAIT_SECONDS:g} s "
                        f"({READ_POOL_SIZE} in use)")
        try:
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=1")
        except sqlite3.Error as exc:
            with self._pool_cond:
                self._opened -= 1
                self._pool_cond.notify()
            raise StoreError(f"cannot open a read connection to {self.path}: {exc}") from exc
        return conn

    def _give_back(self, conn: sqlite3.Connection) -> None:
        with self._pool_cond:
            if not self._closed:
                self._idle.append(conn)
                self._pool_cond.notify()
                return
            self._opened -= 1
        conn.close()

    def close(self) -> None:
        """Close every connection; pending (uncommitted) writes are dropped.

        Read connections lent out at this moment are closed when they are given back.
        """
        self._closed = True
        self._pending.clear()
        with self._pool_cond:
            idle, self._idle = self._idle, []
            self._opened -= len(idle)
            self._pool_cond.notify_all()
        for conn in idle:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        try:
            self._conn.close()
        except sqlite3.Error:
            pass


class PooledReader:
    """``store.reader().execute(sql, args).fetchone()`` on a connection borrowed per statement."""

    __slots__ = ("_store",)

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def execute(self, sql: str, args: Sequence[Any] = ()) -> _Rows:
        with self._store.reading() as conn:
            try:
                return _Rows(conn.execute(sql, args).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"read failed: {exc}") from exc


class _Rows:
    """The fetched rows of one statement, with the cursor methods the readers use."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)
