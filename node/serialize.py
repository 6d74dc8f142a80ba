"""JSON-RPC shapes of blocks, transactions, receipts and logs (geth-compatible).

Why precomputed: the sealer renders these once, inside the block's commit, so that
receipt/transaction/block/log queries are single SQLite lookups that never touch py-evm
and never wait for the chain lock.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import rlp
from eth._utils.address import generate_contract_address
from eth.abc import BlockAPI, ReceiptAPI, SignedTransactionAPI
from eth_utils import encode_hex
from eth_utils import to_checksum_address as _to_checksum_address

__all__ = ["block_json", "tx_json", "receipt_json", "hexint", "effective_gas_price"]


#: EIP-55 form of an address, remembered: the same senders, contracts and miner recur in every
#: block, and eth-utils' checksum costs a keccak plus validation each time (the full store check,
#: which re-renders every row, spent a sixth of its time here).
to_checksum_address = lru_cache(maxsize=16_384)(_to_checksum_address)


def hexint(value: int) -> str:
    """Quantity encoding of the JSON-RPC spec."""
    return hex(value)


def _addr(value: bytes | None) -> str | None:
    return None if not value else to_checksum_address(value)


def effective_gas_price(tx: SignedTransactionAPI) -> int:
    """Price actually paid per gas: 0 whatever the transaction offered, because coledger
    charges no fee (base fee 0, tips not charged: :class:`node.evm.ColedgerState`). A receipt
    that said otherwise would tell a client it paid what no balance ever lost."""
    return 0


def tx_json(
    tx: SignedTransactionAPI,
    sender: bytes,
    block_hash: bytes | None,
    block_number: int | None,
    index: int | None,
    block_timestamp: int | None = None,
) -> dict[str, Any]:
    """eth_getTransactionByHash object; block fields null while pending."""
    out: dict[str, Any] = {
        "hash": encode_hex(tx.hash),
        "nonce": hexint(tx.nonce),
        "blockHash": None if block_hash is None else encode_hex(block_hash),
        "blockNumber": None if block_number is None else hexint(block_number),
        "blockTimestamp": None if block_timestamp is None else hexint(block_timestamp),
        "transactionIndex": None if index is None else hexint(index),
        "from": to_checksum_address(sender),
        "to": _addr(tx.to),
        "value": hexint(tx.value),
        "gas": hexint(tx.gas),
        "input": encode_hex(tx.data),
        "r": hexint(tx.r),
        "s": hexint(tx.s),
    }
    if tx.type_id is None:
        out["type"] = "0x0"
        out["gasPrice"] = hexint(tx.gas_price)
        out["v"] = hexint(tx.v)
        if tx.v >= 35:
            out["chainId"] = hexint((tx.v - 35) // 2)
        return out
    out["type"] = hexint(tx.type_id)
    out["chainId"] = hexint(tx.chain_id)
    out["yParity"] = hexint(tx.y_parity)
    out["v"] = hexint(tx.y_parity)
    out["accessList"] = [
        {"address": to_checksum_address(a), "storageKeys": [encode_hex(k.to_bytes(32, "big"))
                                                             if isinstance(k, int) else
                                                             encode_hex(k) for k in keys]}
        for a, keys in tx.access_list
    ]
    if tx.type_id == 4:  # EIP-7702: the signed authorizations, as geth renders them
        out["authorizationList"] = [
            {"chainId": hexint(a.chain_id), "address": to_checksum_address(a.address),
             "nonce": hexint(a.nonce), "yParity": hexint(a.y_parity), "r": hexint(a.r),
             "s": hexint(a.s)}
            for a in tx.authorization_list
        ]
    if tx.type_id == 1:
        out["gasPrice"] = hexint(tx.gas_price)
    else:
        out["maxFeePerGas"] = hexint(tx.max_fee_per_gas)
        out["maxPriorityFeePerGas"] = hexint(tx.max_priority_fee_per_gas)
        out["gasPrice"] = hexint(effective_gas_price(tx))
    return out


def receipt_json(
    tx: SignedTransactionAPI,
    sender: bytes,
    receipt: ReceiptAPI,
    gas_used: int,
    block_hash: bytes,
    block_number: int,
    index: int,
    first_log_index: int,
    block_timestamp: int | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """eth_getTransactionReceipt object and its log objects (also used by eth_getLogs).

    A batch transaction has hundreds of logs from one contract: the per-transaction fields
    are rendered once and each distinct address is checksummed once.
    """
    block_hash_hex = "0x" + block_hash.hex()
    tx_hash_hex = "0x" + tx.hash.hex()
    number_hex = hexint(block_number)
    timestamp_hex = None if block_timestamp is None else hexint(block_timestamp)
    index_hex = hexint(index)
    checksummed: dict[bytes, str] = {}
    logs = []
    for offset, log in enumerate(receipt.logs):
        address = checksummed.get(log.address)
        if address is None:
            address = checksummed[log.address] = to_checksum_address(log.address)
        logs.append({
            "address": address,
            "topics": ["0x" + t.to_bytes(32, "big").hex() for t in log.topics],
            "data": "0x" + log.data.hex(),
            "blockNumber": number_hex,
            "blockHash": block_hash_hex,
            "blockTimestamp": timestamp_hex,
            "transactionHash": tx_hash_hex,
            "transactionIndex": index_hex,
            "logIndex": hexint(first_log_index + offset),
            "removed": False,
        })
    contract = None
    if not tx.to:
        contract = to_checksum_address(generate_contract_address(sender, tx.nonce))
    out = {
        "transactionHash": encode_hex(tx.hash),
        "transactionIndex": hexint(index),
        "blockHash": encode_hex(block_hash),
        "blockNumber": hexint(block_number),
        "from": to_checksum_address(sender),
        "to": _addr(tx.to),
        "cumulativeGasUsed": hexint(receipt.gas_used),
        "gasUsed": hexint(gas_used),
        "effectiveGasPrice": hexint(effective_gas_price(tx)),
        "contractAddress": contract,
        "logs": logs,
        "logsBloom": encode_hex(int(receipt.bloom).to_bytes(256, "big")),
        "status": hexint(1 if receipt.state_root == b"\x01" else 0),
        "type": hexint(tx.type_id or 0),
    }
    return out, logs


def block_json(block: BlockAPI) -> dict[str, Any]:
    """eth_getBlockByNumber object with transaction hashes (full form is built on read)."""
    h = block.header
    out: dict[str, Any] = {
        "number": hexint(h.block_number),
        "hash": encode_hex(h.hash),
        "parentHash": encode_hex(h.parent_hash),
        "nonce": encode_hex(h.nonce),
        "mixHash": encode_hex(h.mix_hash),
        "sha3Uncles": encode_hex(h.uncles_hash),
        "logsBloom": encode_hex(int(h.bloom).to_bytes(256, "big")),
        "transactionsRoot": encode_hex(h.transaction_root),
        "stateRoot": encode_hex(h.state_root),
        "receiptsRoot": encode_hex(h.receipt_root),
        "miner": to_checksum_address(h.coinbase),
        "difficulty": hexint(h.difficulty),
        "totalDifficulty": hexint(h.difficulty),
        "extraData": encode_hex(h.extra_data),
        "size": hexint(len(rlp.encode(block))),
        "gasLimit": hexint(h.gas_limit),
        "gasUsed": hexint(h.gas_used),
        "timestamp": hexint(h.timestamp),
        "baseFeePerGas": hexint(getattr(h, "base_fee_per_gas", 0)),
        "transactions": [encode_hex(tx.hash) for tx in block.transactions],
        "uncles": [],
        "withdrawals": [],
    }
    for attr, key in (
        ("withdrawals_root", "withdrawalsRoot"),
        ("parent_beacon_block_root", "parentBeaconBlockRoot"),
        ("requests_hash", "requestsHash"),
    ):
        if hasattr(h, attr):
            out[key] = encode_hex(getattr(h, attr))
    for attr, key in (("blob_gas_used", "blobGasUsed"), ("excess_blob_gas", "excessBlobGas")):
        if hasattr(h, attr):
            out[key] = hexint(getattr(h, attr))
    return out
