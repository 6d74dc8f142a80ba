"""Restart resumes exactly; dev time controls move block time and persist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests


def test_restart_resumes_same_head_state_root_and_receipts(
    node_factory: Any, node_artifacts: dict[str, Any], tmp_path: Path
) -> None:
    data_dir = tmp_path / "persist"
    first = node_factory(data_dir=data_dir)
    boot = first.bootstrap
    first.deploy(boot, node_artifacts["AllowList"])
    counter = first.deploy(boot, node_artifacts["Counter"])
    receipts = [first.send(boot, {"to": counter.address, "gas": 100_000,
                                  "data": counter.encode_abi("increment", [])})
                for _ in range(3)]
    head = first.w3.eth.get_block("latest")
    seal = first.rpc("coledger_getBlockSeal", ["latest"])["result"]
    first.node.stop()

    second = node_factory(data_dir=data_dir, bootstrap=boot)
    w3 = second.w3
    again = w3.eth.get_block("latest")
    assert (again["number"], again["hash"], again["stateRoot"]) == \
        (head["number"], head["hash"], head["stateRoot"])
    for r in receipts:
        assert w3.eth.get_transaction_receipt(r["transactionHash"]) == r
    assert second.rpc("coledger_getBlockSeal", ["latest"])["result"] == seal
    c2 = w3.eth.contract(address=counter.address, abi=node_artifacts["Counter"]["abi"])
    assert c2.functions.count().call() == 3
    more = second.send(boot, {"to": counter.address, "gas": 100_000,
                              "data": counter.encode_abi("increment", [])})
    assert more["blockNumber"] == head["number"] + 1
    assert c2.functions.count().call() == 4


def test_increase_time_moves_next_block_time_and_survives_restart(
    node_factory: Any, tmp_path: Path
) -> None:
    data_dir = tmp_path / "clock"
    handle = node_factory(data_dir=data_dir, allow_time_travel=True)
    before = handle.w3.eth.get_block("latest")["timestamp"]
    month = 30 * 86_400
    assert handle.rpc("evm_increaseTime", [month])["result"] == month
    handle.rpc("evm_mine", [])
    mined = handle.w3.eth.get_block("latest")
    assert mined["number"] == 1 and mined["timestamp"] >= before + month
    handle.node.stop()
    again = node_factory(data_dir=data_dir, bootstrap=handle.bootstrap, allow_time_travel=True)
    again.rpc("evm_mine", [])
    assert again.w3.eth.get_block("latest")["timestamp"] >= before + month


def test_set_next_block_timestamp_is_used_exactly_and_must_increase(
    node_handle: Any, node_artifacts: dict[str, Any]
) -> None:
    handle = node_handle
    handle.deploy(handle.bootstrap, node_artifacts["AllowList"])
    counter = handle.deploy(handle.bootstrap, node_artifacts["Counter"])
    head = handle.w3.eth.get_block("latest")["timestamp"]
    target = head + 400 * 86_400
    assert handle.rpc("evm_setNextBlockTimestamp", [hex(target)])["result"] is True
    receipt = handle.send(handle.bootstrap, {"to": counter.address, "gas": 100_000,
                                             "data": counter.encode_abi("increment", [])})
    assert handle.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == target
    assert counter.functions.now_().call() == target
    out = requests.post(handle.node.url, json={"jsonrpc": "2.0", "id": 1,
                                               "method": "evm_setNextBlockTimestamp",
                                               "params": [hex(target)]}, timeout=10).json()
    assert out["error"]["code"] == -32602 and "greater" in out["error"]["message"]


def test_empty_blocks_from_evm_mine_have_strictly_increasing_timestamps(
    node_handle: Any,
) -> None:
    for _ in range(3):
        node_handle.rpc("evm_mine", [])
    stamps = [node_handle.w3.eth.get_block(n)["timestamp"] for n in range(4)]
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))
    assert node_handle.w3.eth.get_block(3)["transactions"] == []


def test_increase_time_counts_from_head_even_when_blocks_ran_ahead_of_the_clock(
    node_factory: Any, tmp_path: Path
) -> None:
    handle = node_factory(data_dir=tmp_path / "ahead", allow_time_travel=True)
    for _ in range(30):  # 30 empty blocks at once: each at least parent + 1, ahead of the clock
        handle.rpc("evm_mine", [])
    head = handle.w3.eth.get_block("latest")["timestamp"]
    handle.rpc("evm_increaseTime", [3_600])
    handle.rpc("evm_mine", [])
    assert handle.w3.eth.get_block("latest")["timestamp"] >= head + 3_600
