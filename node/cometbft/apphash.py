"""The application hash every validator must agree on after each block.

Why these inputs: CometBFT puts the app hash of block H into the header of block H+1, and with
``create_empty_blocks = false`` it makes a new block only while that hash keeps changing. So the
hash commits to what block H did — its state root, transactions root and receipts root — and not
to its block hash (which changes at every height and would force empty blocks forever). A block
without transactions changes nothing, so its app hash is its parent's (the application walks
back to the last block with transactions): after a burst CometBFT makes one proof block, then
the idle network is quiet. An auditor recomputes it from the headers it re-executes.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

__all__ = ["APP_HASH_DOMAIN", "app_hash", "app_hash_of_roots"]

#: Domain separation: a coledger v1 app hash can never equal a hash of anything else.
APP_HASH_DOMAIN = b"coledger/app-hash/v1"


class _Roots(Protocol):
    state_root: bytes
    transaction_root: bytes
    receipt_root: bytes


def app_hash_of_roots(state_root: bytes, transaction_root: bytes, receipt_root: bytes) -> bytes:
    """SHA-256(domain || stateRoot || transactionsRoot || receiptsRoot), 32 bytes."""
    for name, root in (("state", state_root), ("transactions", transaction_root),
                       ("receipts", receipt_root)):
        if len(root) != 32:
            raise ValueError(f"{name} root must be 32 bytes, got {len(root)}")
    return hashlib.sha256(APP_HASH_DOMAIN + state_root + transaction_root + receipt_root).digest()


def app_hash(header: _Roots) -> bytes:
    """The app hash of a py-evm header."""
    return app_hash_of_roots(bytes(header.state_root), bytes(header.transaction_root),
                             bytes(header.receipt_root))
