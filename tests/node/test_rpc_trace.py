"""debug_traceTransaction / debug_traceBlockBy* with the call tracer (the call tree of a
committed transaction, re-executed at its place in its block, nothing written) and with geth's
default struct logger (one entry per opcode)."""

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
    other = node_handle.rpc("debug_traceTransaction", [receipt["transactionHash"].to_0x_hex(),
                                                       {"tracer": "prestateTracer"}])
    assert other["error"]["code"] == -32602 and "callTracer" in other["error"]["message"]
    unknown = node_handle.rpc("debug_traceTransaction", ["0x" + "ab" * 32, {"tracer": "callTracer"}])
    assert unknown["error"]["code"] == -32602 and "not committed" in unknown["error"]["message"]


def _struct(node_handle: Any, receipt: Any, options: dict[str, Any] | None = None) -> Any:
    params: list[Any] = [receipt["transactionHash"].to_0x_hex()]
    if options is not None:
        params.append(options)
    return node_handle.rpc("debug_traceTransaction", params)


def test_the_struct_log_walks_every_opcode_into_the_child_frames(node_handle: Any,
                                                                 traced: dict[str, Any]) -> None:
    receipt, counter = traced["receipt"], traced["counter"]
    out = _struct(node_handle, receipt)["result"]
    logs = out["structLogs"]
    assert out["gas"] == receipt["gasUsed"] and out["failed"] is False
    assert out["returnValue"] == "0x"
    assert (logs[0]["pc"], logs[0]["op"], logs[0]["depth"], logs[0]["stack"]) == \
        (0, "PUSH4", 1, [])
    assert logs[0]["gas"] == 300_000 - 21_000  # the gas left after the intrinsic cost
    assert logs[-1]["op"] == "STOP" and logs[-1]["depth"] == 1
    calls = [i for i, e in enumerate(logs) if e["op"] in ("CALL", "STATICCALL")]
    assert [logs[i]["op"] for i in calls] == ["CALL", "STATICCALL"]
    call = logs[calls[0]]
    assert len(call["stack"]) == 7 and int(call["stack"][-2], 16) == int(counter.address, 16)
    assert logs[calls[0] + 1]["depth"] == 2 and logs[calls[0] + 1]["pc"] == 0  # the child's start
    stores = [e for e in logs if e["op"] == "SSTORE"]
    assert len(stores) == 1 and stores[0]["depth"] == 2
    assert stores[0]["storage"] == {"00" * 32: "00" * 31 + "01"}  # count 0 -> 1
    for a, b in zip(logs, logs[1:], strict=False):  # gas accounting holds step to step
        if a["depth"] == b["depth"] and a["op"] not in ("CALL", "STATICCALL"):
            assert b["gas"] == a["gas"] - a["gasCost"], (a, b)
    assert [e["op"] for e in logs[:3]] == ["PUSH4", "PUSH1", "SHL"]


def test_struct_log_options_are_honoured_and_bounded(node_handle: Any,
                                                     traced: dict[str, Any]) -> None:
    receipt = traced["receipt"]
    bare = _struct(node_handle, receipt, {"disableStack": True, "disableStorage": True})["result"]
    assert all("stack" not in e and "storage" not in e for e in bare["structLogs"])
    with_memory = _struct(node_handle, receipt, {"enableMemory": True})["result"]["structLogs"]
    after_mstore = with_memory[[e["op"] for e in with_memory].index("MSTORE") + 1]
    assert after_mstore["memory"][0] == keccak(text="increment()")[:4].hex() + "00" * 28
    first = _struct(node_handle, receipt, {"limit": 5})["result"]["structLogs"]
    assert [e["pc"] for e in first] == [e["pc"] for e in bare["structLogs"][:5]]
    too_many = _struct(node_handle, receipt, {"limit": 10**9})["error"]
    assert too_many["code"] == -32005 and "limit 1000000000" in too_many["message"]
    wrong = _struct(node_handle, receipt, {"disableStak": True})["error"]
    assert wrong["code"] == -32602 and "'disableStak'" in wrong["message"]
    block = node_handle.rpc("debug_traceBlockByNumber", [hex(receipt["blockNumber"]), {}])
    assert block["result"][0]["result"]["structLogs"] == \
        _struct(node_handle, receipt, {})["result"]["structLogs"]
