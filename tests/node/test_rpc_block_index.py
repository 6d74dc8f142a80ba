"""Index-based block reads, block receipts and the pending-transaction filter, through web3.py."""

from __future__ import annotations

from typing import Any

from tests.node.conftest import NodeHandle


def _two_tx_block(node_handle: NodeHandle) -> tuple[int, list[Any]]:
    boot, w3 = node_handle.bootstrap, node_handle.w3
    hashes = [node_handle.send(boot, {"to": boot.address, "value": 0, "gas": 21_000,
                                      "nonce": n}, wait=False) for n in range(2)]
    node_handle.rpc("evm_mine", [])
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=30) for h in hashes]
    assert receipts[0]["blockNumber"] == receipts[1]["blockNumber"]
    return receipts[0]["blockNumber"], hashes


def test_transactions_by_block_and_index_and_counts(node_factory: Any) -> None:
    handle = node_factory(block_period=3600, allow_time_travel=True)
    w3 = handle.w3
    number, hashes = _two_tx_block(handle)
    block = w3.eth.get_block(number)
    for i, h in enumerate(hashes):
        assert w3.eth.get_transaction_by_block(number, i)["hash"] == h
        assert w3.eth.get_transaction_by_block(block["hash"], i)["hash"] == h
    assert handle.rpc("eth_getTransactionByBlockNumberAndIndex", [hex(number), "0x2"])["result"] is None
    assert handle.rpc("eth_getTransactionByBlockHashAndIndex",
                      ["0x" + "ab" * 32, "0x0"])["result"] is None
    assert w3.eth.get_block_transaction_count(block["hash"]) == 2
    assert handle.rpc("eth_getBlockTransactionCountByHash", ["0x" + "ab" * 32])["result"] is None
    bad = handle.rpc("eth_getTransactionByBlockNumberAndIndex", [hex(number), "zz"])["error"]
    assert bad["code"] == -32602 and bad["message"].startswith("index")


def test_block_receipts_by_number_tag_and_hash(node_factory: Any) -> None:
    handle = node_factory(block_period=3600, allow_time_travel=True)
    w3 = handle.w3
    number, hashes = _two_tx_block(handle)
    receipts = w3.eth.get_block_receipts(number)
    assert [r["transactionHash"] for r in receipts] == hashes
    assert [r["transactionIndex"] for r in receipts] == [0, 1]
    by_hash = handle.rpc("eth_getBlockReceipts", [w3.eth.get_block(number)["hash"].to_0x_hex()])
    assert [r["transactionHash"] for r in by_hash["result"]] == [h.to_0x_hex() for h in hashes]
    assert handle.rpc("eth_getBlockReceipts", ["latest"])["result"][1]["transactionHash"] == \
        hashes[1].to_0x_hex()
    assert handle.rpc("eth_getBlockReceipts", [hex(number + 50)])["result"] is None


def test_pending_transaction_filter_reports_each_new_transaction_once(node_factory: Any) -> None:
    handle = node_factory(block_period=3600, allow_time_travel=True)
    pending = handle.w3.eth.filter("pending")
    assert pending.get_new_entries() == []
    _, hashes = _two_tx_block(handle)
    assert pending.get_new_entries() == hashes
    assert pending.get_new_entries() == []
