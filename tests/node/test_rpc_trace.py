"""debug_traceTransaction / debug_traceBlockBy* with the call tracer: the call tree of a
committed transaction, re-executed at its place in its block, nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak


def _runtime_calling(counter: str) -> bytes:
    """CALL counter.increment(), then STATICCALL counter.count(), then stop."""
    addr = bytes.fromhex(counter[2:])

    def call(opcode: int, selector: bytes, with_value: bool) -> bytes:
        return (b"\x63" + selector + b"\x60\xe0\x1b\x60\x00\x52"  # selector << 224 at memory 0
                + b"\x60\x00\x60\x00\x60\x04\x60\x00" + (b"\x60\x00" if with_value else b"")
                + b"\x73" + addr + b"\x5a" + bytes([opcode]) + b"\x50")
    return (call(0xF1, keccak(text="increment()")[:4], True)
            + call(0xFA, keccak(text="count()")[:4], False) + b"\x00")


def _initcode(runtime: bytes) -> bytes:
    return bytes([0x60, len(runtime), 0x80, 0x60, 12, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3, 0x00]) + runtime


@pytest.fixture
def traced(node_handle: Any, node_artifacts: dict[str, Any]) -> dict[str, Any]:
    boot = node_handle.bootstrap
    node_handle.deploy(boot, node_artifacts["AllowList"])  # the consortium (admission)
    counter = node_handle.deploy(boot, node_artifacts["Counter"])
    made = node_handle.send(boot, {"data": "0x" + _initcode(_runtime_calling(counter.address)).hex(),
                                   "gas": 500_000})
    caller = made["contractAddress"]
    receipt = node_handle.send(boot, {"to": caller, "gas": 300_000})
    assert receipt["status"] == 1 and counter.functions.count().call() == 1
    return {"counter": counter, "caller": caller, "receipt": receipt}


def test_the_call_tree_of_a_transaction(node_handle: Any, traced: dict[str, Any]) -> None:
    receipt, counter = traced["receipt"], traced["counter"]
    tree = node_handle.rpc("debug_traceTransaction", [receipt["transactionHash"].to_0x_hex(),
                                                      {"tracer": "callTracer"}])["result"]
    assert tree["type"] == "CALL" and tree["to"] == traced["caller"]
    assert tree["from"] == node_handle.bootstrap.address
    assert int(tree["gasUsed"], 16) == receipt["gasUsed"] and tree["gas"] == hex(300_000)
    assert [c["type"] for c in tree["calls"]] == ["CALL", "STATICCALL"]
    inc, view = tree["calls"]
    assert inc["to"] == counter.address and inc["input"] == "0x" + keccak(text="increment()")[:4].hex()
    assert view["output"] == "0x" + (1).to_bytes(32, "big").hex()  # it saw the increment
    assert counter.functions.count().call() == 1  # tracing wrote nothing


def test_block_traces_and_refusals(node_handle: Any, traced: dict[str, Any]) -> None:
    receipt = traced["receipt"]
    block = node_handle.rpc("debug_traceBlockByNumber", [hex(receipt["blockNumber"]),
                                                         {"tracer": "callTracer"}])["result"]
    assert [t["txHash"] for t in block] == [receipt["transactionHash"].to_0x_hex()]
    by_hash = node_handle.rpc("debug_traceBlockByHash", [receipt["blockHash"].to_0x_hex(),
                                                         {"tracer": "callTracer"}])["result"]
    assert by_hash == block
    struct = node_handle.rpc("debug_traceTransaction", [receipt["transactionHash"].to_0x_hex()])
    assert struct["error"]["code"] == -32602 and "callTracer" in struct["error"]["message"]
    unknown = node_handle.rpc("debug_traceTransaction", ["0x" + "ab" * 32, {"tracer": "callTracer"}])
    assert unknown["error"]["code"] == -32602 and "not committed" in unknown["error"]["message"]
