"""The evidence index's SQLite schema (private to ``arbitration.index``).

Why these tables: every query the API answers is a range scan of one index — a loan's items by
chain position (``items_by_loan``), a loan's timeline by (block, log index) (``events`` is
clustered on it), an arbitrator's or lead bank's cases (``cases_by_*``). Blocks are stored once
(hash and time), anchors once per batch; items reference both, so a row stays small.

Ids: loan ids are stored as the 32-byte big-endian form evidence records use (on-chain ``uint64``
ids are widened), so items, events and cases join on one representation and no ``uint64``
overflows SQLite's signed 64-bit integers. Hashes and ids are BLOBs, addresses 20-byte BLOBs.

A loan's chain ``position`` is its items' order by (block, log index, leaf index), from 0; it is
assigned at insert and recomputed for a loan when a retried batch lands before later items.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from client.private_files import precreate_private_file

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    timestamp INTEGER NOT NULL
);

-- One row per anchoring event: a batch root (EvidenceBatchAnchored) or a single item's hash
-- (EvidenceAnchored, a batch of one). indexed = 0 while its manifest is missing or wrong.
CREATE TABLE IF NOT EXISTS anchors (
    root BLOB PRIMARY KEY,
    batch_id INTEGER,
    size INTEGER NOT NULL,
    block INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    tx_hash BLOB NOT NULL,
    submitter BLOB NOT NULL,
    indexed INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS anchors_pending ON anchors(indexed, block, log_index);

CREATE TABLE IF NOT EXISTS items (
    evidence_id BLOB NOT NULL UNIQUE,
    loan BLOB NOT NULL,
    position INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    sha256 BLOB NOT NULL,
    sm3 BLOB NOT NULL,
    ciphertext_sha256 BLOB NOT NULL,
    prev BLOB NOT NULL,
    item_hash BLOB NOT NULL,
    root BLOB NOT NULL,
    leaf_index INTEGER NOT NULL,
    block INTEGER NOT NULL,
    log_index INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS items_by_loan ON items(loan, position);
CREATE INDEX IF NOT EXISTS items_by_root ON items(root, leaf_index);

-- Leaves whose evidence id was already indexed from an earlier anchor (first anchor wins).
CREATE TABLE IF NOT EXISTS duplicates (
    root BLOB NOT NULL,
    leaf_index INTEGER NOT NULL,
    evidence_id BLOB NOT NULL,
    loan BLOB NOT NULL,
    kind INTEGER NOT NULL,
    sha256 BLOB NOT NULL,
    sm3 BLOB NOT NULL,
    ciphertext_sha256 BLOB NOT NULL,
    prev BLOB NOT NULL,
    item_hash BLOB NOT NULL,
    block INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    PRIMARY KEY (root, leaf_index)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS duplicates_by_id ON duplicates(evidence_id);

-- One open or resolved problem per anchor root (updated on every retry).
CREATE TABLE IF NOT EXISTS problems (
    root BLOB PRIMARY KEY,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    block INTEGER NOT NULL,
    tx_hash BLOB NOT NULL,
    attempts INTEGER NOT NULL,
    resolved INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS cases (
    case_id INTEGER PRIMARY KEY,
    loan BLOB NOT NULL,
    arbitrator BLOB NOT NULL,
    opener BLOB NOT NULL,
    frozen_head BLOB NOT NULL,
    frozen_count INTEGER NOT NULL,
    block INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    tx_hash BLOB NOT NULL,
    award_hash BLOB,
    award_signature BLOB,
    award_block INTEGER,
    award_tx BLOB,
    access_log_head BLOB,
    access_log_entries INTEGER,
    access_log_block INTEGER
);
CREATE INDEX IF NOT EXISTS cases_by_arbitrator ON cases(arbitrator);
CREATE INDEX IF NOT EXISTS cases_by_opener ON cases(opener);
CREATE INDEX IF NOT EXISTS cases_by_loan ON cases(loan, block);

-- Timeline entries of the loan contracts and the cases, one row per (loan, log).
CREATE TABLE IF NOT EXISTS events (
    loan BLOB NOT NULL,
    block INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    tx_hash BLOB NOT NULL,
    contract TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (loan, block, log_index)
) WITHOUT ROWID;

-- FundFlows keys its events by virtual account and flow; these map them to loans.
CREATE TABLE IF NOT EXISTS account_loans (
    account BLOB NOT NULL,
    loan BLOB NOT NULL,
    PRIMARY KEY (account, loan)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS flow_loans (
    flow_id INTEGER NOT NULL,
    loan BLOB NOT NULL,
    amount INTEGER NOT NULL,
    PRIMARY KEY (flow_id, loan)
) WITHOUT ROWID;
"""


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit ``BEGIN``s), WAL.

    The index confines each connection to one thread (``threading.local``); ``check_same_thread``
    is off only so that ``close()`` may close them all from any thread.
    """
    if path != ":memory:" and not path.startswith("file:"):
        # who holds evidence on which loan is not for other local users: 0600 from the first byte
        precreate_private_file(Path(path))
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-32000")
    return conn


def create(conn: sqlite3.Connection) -> int:
    """Create the tables if absent (idempotent); return the stored schema version.

    A file of another version is left untouched: the caller compares and refuses it.
    """
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if has_meta is not None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None and int(row[0]) != SCHEMA_VERSION:
            return int(row[0])
    conn.executescript(DDL)
    conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0])
