"""Spec details of the execution-apis the node follows (issue 12): a block hash where the spec allows
one (EIP-1898), storage keys of at most 32 bytes, ``blockTimestamp`` on transactions and logs."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def counted(node_handle: Any, node_artifacts: dict[str, Any]) -> tuple[Any, Any, Any]:
    """A Counter, the receipt of its deployment (count 0) and of one increment (count 1)."""
    boot = node_handle.bootstrap
    node_handle.deploy(boot, node_artifacts["AllowList"])
    deployed = node_handle.send(boot, {"data": node_artifacts["Counter"]["bytecode"],
                                       "gas": 3_000_000})
    counter = node_handle.w3.eth.contract(address=deployed["contractAddress"],
                                          abi=node_artifacts["Counter"]["abi"])
    incremented = node_handle.send(boot, {"to": counter.address, "gas": 100_000,
                                          "data": counter.encode_abi("increment", [])})
    return counter, deployed, incremented


def test_state_reads_and_calls_accept_a_block_hash_bare_or_as_an_eip1898_object(
        node_handle: Any, counted: Any) -> None:
    counter, deployed, incremented = counted
    w3, boot = node_handle.w3, node_handle.bootstrap
    before, after = deployed["blockHash"].to_0x_hex(), incremented["blockHash"].to_0x_hex()
    slot = "0x" + "00" * 32
    for at, count in ((before, 0), (after, 1)):
        for tag in (at, {"blockHash": at}, {"blockHash": at, "requireCanonical": True}):
            got = node_handle.rpc("eth_getStorageAt", [counter.address, slot, tag])["result"]
            assert int(got, 16) == count, (tag, got)
            call = {"to": counter.address, "data": counter.encode_abi("count", [])}
            assert int(node_handle.rpc("eth_call", [call, tag])["result"], 16) == count
        assert w3.eth.get_storage_at(counter.address, 0, block_identifier=at) == \
            count.to_bytes(32, "big")  # web3.py sends the hash as it is
        assert counter.functions.count().call(block_identifier=at) == count
    nonce_before = node_handle.rpc("eth_getTransactionCount", [boot.address, before])["result"]
    assert (int(nonce_before, 16), w3.eth.get_transaction_count(boot.address, after)) == (2, 3)
    assert node_handle.rpc("eth_getCode", [counter.address, {"blockHash": after}])["result"] != "0x"
    assert node_handle.rpc("eth_getBalance", [boot.address, after])["result"] == "0x0"


@pytest.mark.parametrize(("tag", "starts"), [
    ("0x" + "ab" * 32, "block: unknown block hash 0xabab"),
    ({"blockHash": "0x" + "ab" * 32}, "block: unknown block hash 0xabab"),
    ({"blockHash": "0x" + "ab" * 31}, "blockHash: expected 32 bytes"),
    ({"blockNumber": "0x0", "blockHash": "0x" + "ab" * 32}, "block: expected {\"blockNumber\""),
    ({"blockNum": "0x0"}, "block: expected {\"blockNumber\""),
])
def test_an_unknown_or_malformed_block_hash_is_invalid_params(node_handle: Any, tag: Any,
                                                              starts: str) -> None:
    out = node_handle.rpc("eth_getBalance", [node_handle.bootstrap.address, tag])
    assert out["error"]["code"] == -32602 and out["error"]["message"].startswith(starts), out


@pytest.mark.parametrize("key", ["0x" + "00" * 33, "0x01" + "00" * 32, "0x" + "f" * 65])
def test_a_storage_key_longer_than_32_bytes_is_invalid_params(node_handle: Any, key: str) -> None:
    out = node_handle.rpc("eth_getStorageAt", ["0x" + "00" * 20, key, "latest"])
    assert out["error"]["code"] == -32602
    assert out["error"]["message"].startswith("slot: a storage key is at most 32 bytes"), out


@pytest.mark.parametrize("key", ["0x0", "0x" + "00" * 32, "0x" + "f" * 64])
def test_storage_keys_up_to_32_bytes_are_read(node_handle: Any, key: str) -> None:
    out = node_handle.rpc("eth_getStorageAt", ["0x" + "00" * 20, key, "latest"])
    assert out["result"] == "0x" + "00" * 32


def test_transactions_receipt_logs_and_get_logs_carry_the_block_timestamp(
        node_handle: Any, counted: Any) -> None:
    counter, _, incremented = counted
    h, number = incremented["transactionHash"].to_0x_hex(), hex(incremented["blockNumber"])
    block = node_handle.rpc("eth_getBlockByNumber", [number, True])["result"]
    stamp = block["timestamp"]
    assert node_handle.rpc("eth_getTransactionByHash", [h])["result"]["blockTimestamp"] == stamp
    assert block["transactions"][0]["blockTimestamp"] == stamp
    receipt = node_handle.rpc("eth_getTransactionReceipt", [h])["result"]
    assert [lg["blockTimestamp"] for lg in receipt["logs"]] == [stamp]
    logs = node_handle.rpc("eth_getLogs", [{"address": counter.address, "fromBlock": number,
                                            "toBlock": number}])["result"]
    assert [lg["blockTimestamp"] for lg in logs] == [stamp]
    assert counter.events.Incremented().process_receipt(
        node_handle.w3.eth.get_transaction_receipt(h))[0]["args"]["newCount"] == 1
