"""Records, chains and vault items for the evidence index tests."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from arbitration.index import BulkAnchor, EvidenceIndex
from arbitration.merkle import MerkleTree
from arbitration.record import GENESIS_PREV, EvidenceKind, EvidenceRecord
from arbitration.vault import EvidenceVault, ItemMeta

SUBMITTER = bytes.fromhex("f39fd6e51aad88f6f4ce6ab8827279cfffb92266")
REGISTRY = "0x5fbdb2315678afecb367f032d93f642f64180aa3"


def loan32(n: int) -> bytes:
    return n.to_bytes(32, "big")


def record(loan: int, prev: bytes = GENESIS_PREV, kind: EvidenceKind = EvidenceKind.OTHER,
           blob: bytes | None = None) -> EvidenceRecord:
    """A record with random content hashes (or those of ``blob`` as its ciphertext)."""
    cipher = hashlib.sha256(blob).digest() if blob is not None else os.urandom(32)
    return EvidenceRecord(os.urandom(32), kind, loan32(loan), os.urandom(32), os.urandom(32), cipher, prev)


def chain_of(loan: int, n: int, prev: bytes = GENESIS_PREV) -> list[EvidenceRecord]:
    """``n`` records of ``loan`` linked by ``prev`` from ``prev``."""
    out = []
    for _ in range(n):
        r = record(loan, prev)
        out.append(r)
        prev = r.item_hash()
    return out


def bulk(records: Sequence[EvidenceRecord], block: int, log_index: int = 0, batch_id: int | None = 1) -> BulkAnchor:
    root = MerkleTree([r.item_hash() for r in records]).root
    return BulkAnchor(root, list(records), block, hashlib.sha256(b"block%d" % block).digest(), 1_700_000_000 + block,
                      os.urandom(32), log_index, SUBMITTER, batch_id)


def new_index(path: str) -> EvidenceIndex:
    idx = EvidenceIndex(path, None, {"EvidenceRegistry": REGISTRY})
    idx._set_meta(chain_id="1337")  # what a first sync would store
    return idx


def vault_records(vault: EvidenceVault, loan: int, n: int, submitter: str, prev: bytes = GENESIS_PREV,
                  ) -> list[EvidenceRecord]:
    """``n`` linked records of ``loan`` whose (random) ciphertexts are stored in ``vault``."""
    out = []
    for i in range(n):
        blob = os.urandom(64 + i)
        r = record(loan, prev, EvidenceKind.COLLECTION_LOG, blob)
        vault.put_item(r, blob, [], ItemMeta(submitter, "text/plain", "test"))
        out.append(r)
        prev = r.item_hash()
    return out
