"""Merkle-Patricia proofs of receipts (and their transactions), so that a third party can check an anchor offline.

Why the node serves them: an arbitrator who holds a block's header (or, on a network, the
validators' commit on its app hash) can check that a transaction's receipt — and the event in
it — is in that block only with the trie nodes on the path from the receipts root. py-evm keeps
those nodes when it builds the block; this reads them under the chain lock.
"""

from __future__ import annotations

from typing import Any

import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth_utils import encode_hex, keccak, to_checksum_address
from trie import HexaryTrie
from trie.exceptions import MissingTrieNode

from .errors import InternalRpcError

__all__ = ["receipt_proof", "account_proof"]


def receipt_proof(core: Any, block_number: int, tx_index: int) -> dict[str, Any]:
    """The header of ``block_number`` (RLP: its keccak is the block hash) and the trie nodes
    that prove the receipt at ``tx_index`` under its receipts root and the transaction at that
    index under its transactions root (which binds the receipt to the transaction's hash)."""
    with core.lock:
        header = core.chain.get_canonical_block_header_by_number(block_number)
        db = core.chain.chaindb.db
        key = rlp.encode(tx_index)
        try:
            nodes = HexaryTrie(db, header.receipt_root).get_proof(key)
            tx_nodes = HexaryTrie(db, header.transaction_root).get_proof(key)
        except MissingTrieNode as exc:
            raise InternalRpcError(
                f"the receipts trie of block {block_number} is incomplete in this node's store"
            ) from exc
    return {
        "blockNumber": hex(block_number),
        "blockHash": encode_hex(header.hash),
        "transactionIndex": hex(tx_index),
        "headerRlp": encode_hex(rlp.encode(header)),
        "receiptsRoot": encode_hex(header.receipt_root),
        "proof": [encode_hex(rlp.encode(node)) for node in nodes],
        "transactionProof": [encode_hex(rlp.encode(node)) for node in tx_nodes],
    }


def account_proof(core: Any, address: bytes, slots: list[int], number: int | None) -> dict[str, Any]:
    """EIP-1186 ``eth_getProof``: the account's Merkle-Patricia proof under the block's state
    root and, for each slot, its proof under the account's storage root."""
    with core.lock:
        header = core.header_at(number)
        db = core.chain.chaindb.db
        state_trie = HexaryTrie(db, header.state_root)
        key = keccak(address)
        try:
            nodes = state_trie.get_proof(key)
            encoded = state_trie.get(key)
            if encoded:
                nonce, balance, storage_root, code_hash = rlp.decode(encoded)
            else:  # no such account: the proof shows its absence
                nonce, balance, storage_root, code_hash = b"", b"", BLANK_ROOT_HASH, EMPTY_SHA3
            storage_trie = HexaryTrie(db, storage_root)
            storage = []
            for slot in slots:
                slot_key = keccak(slot.to_bytes(32, "big"))
                value = storage_trie.get(slot_key)
                storage.append({
                    "key": encode_hex(slot.to_bytes(32, "big")),
                    "value": hex(int.from_bytes(rlp.decode(value), "big")) if value else "0x0",
                    "proof": [encode_hex(rlp.encode(n)) for n in storage_trie.get_proof(slot_key)],
                })
        except MissingTrieNode as exc:
            raise InternalRpcError(
                f"the state trie of block {header.block_number} is incomplete in this node's "
                f"store") from exc
    return {
        "address": to_checksum_address(address),
        "accountProof": [encode_hex(rlp.encode(n)) for n in nodes],
        "balance": hex(int.from_bytes(balance, "big")),
        "nonce": hex(int.from_bytes(nonce, "big")),
        "codeHash": encode_hex(code_hash),
        "storageHash": encode_hex(storage_root),
        "storageProof": storage,
    }
