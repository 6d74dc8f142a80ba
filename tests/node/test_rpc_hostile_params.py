"""Hostile parameters never reach a client as the interpreter's or a library's words (issue 12,
defect 7): out-of-range and malformed values are invalid params naming the parameter, decoder
failures are said in the node's words, and a client's value is never echoed at full length."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests

ZERO = "0x" + "00" * 20
HOSTILE: list[Any] = [
    None, True, 1.5, -1, 2**300, "0x", "0xzz", "0x" + "f" * 200, "0x" + "0" * 5_000, "latest",
    "x" * 100, {}, [], [[[]]], {"a": 1}, {"blockHash": 5}, {"blockNumber": {}},
    {"blockHash": "0x" + "11" * 32}, {"to": ZERO, "data": "0x" + "01" * 20_000, "gas": "0x5208"},
    {"to": ZERO, "accessList": [{"address": 5}]}, {"from": 5}, {"to": ZERO, "value": "0x" + "f" * 64},
]
#: words of Python, py-evm, rlp or the json module that say nothing about the request
INTERNAL = re.compile(r"Traceback|NoneType|object has no|not subscriptable|unhashable|int\(\)|"
                      r"sedes|Deserializ|Message\.gas|limit \(4300|has no len|argument")


def post(url: str, body: Any) -> Any:
    resp = requests.post(url, data=json.dumps(body), timeout=60,
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def call(url: str, method: str, params: list[Any]) -> Any:
    return post(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params})


def test_every_method_answers_hostile_params_without_internal_errors_or_words(
        node_handle: Any) -> None:
    url = node_handle.node.url
    shapes = [[h] for h in HOSTILE] + [[ZERO, h] for h in HOSTILE] + [[h, h] for h in HOSTILE]
    for method in sorted(node_handle.node.dispatcher.methods):
        batch = [{"jsonrpc": "2.0", "id": i, "method": method, "params": p}
                 for i, p in enumerate(shapes)]
        for answer in post(url, batch):
            error = answer.get("error")
            if error is None:
                continue
            sent = shapes[answer["id"]]
            assert error["code"] != -32603, (method, sent, error)
            assert not INTERNAL.search(error["message"]), (method, sent, error)
            assert len(error["message"]) < 400, (method, sent, error)
    assert call(url, "eth_chainId", [])["result"] == "0x539"


@pytest.mark.parametrize(("raw", "message"), [
    ("0x02c0", "invalid transaction encoding: the RLP items do not have the fields of a type-2 "
               "transaction (wrong count, or a field of the wrong kind or size)"),
    ("0xc28078", "invalid transaction encoding: the RLP items do not have the fields of a legacy "
                 "transaction (wrong count, or a field of the wrong kind or size)"),
    ("0x01", "invalid transaction encoding: not well-formed RLP for a type-1 transaction"),
    ("0x05c0", "transaction type 5 is not supported (use legacy, 1, 2 or 4)"),
    ("0x03c0", "transaction type 3 is not supported (use legacy, 1, 2 or 4)"),
])
def test_undecodable_transactions_are_refused_in_the_nodes_words(node_handle: Any, raw: str,
                                                                 message: str) -> None:
    error = call(node_handle.node.url, "eth_sendRawTransaction", [raw])["error"]
    assert error == {"code": -32000, "message": message}


def test_a_huge_method_name_is_not_echoed_at_full_length(node_handle: Any) -> None:
    error = call(node_handle.node.url, "eth_" + "x" * 100_000, [])["error"]
    assert error["code"] == -32601
    assert error["message"].startswith("the method eth_xxx") and "(100004 characters)" in \
        error["message"] and len(error["message"]) < 200


@pytest.mark.parametrize(("method", "value", "named"), [
    ("evm_setNextBlockTimestamp", "0x" + "f" * 64, "timestamp: "),
    ("evm_setNextBlockTimestamp", hex(2**64), "timestamp: "),
    ("evm_increaseTime", "0x" + "f" * 64, "seconds: "),
    ("evm_increaseTime", 2**64, "seconds: "),
])
def test_a_time_beyond_a_uint64_block_timestamp_is_refused_and_the_chain_goes_on(
        node_handle: Any, method: str, value: Any, named: str) -> None:
    """A block with such a timestamp would be sealed and no later block could follow it."""
    url = node_handle.node.url
    error = call(url, method, [value])["error"]
    assert error["code"] == -32602 and error["message"].startswith(named), error
    for _ in range(2):
        call(url, "evm_mine", [])
    block = call(url, "eth_getBlockByNumber", ["latest", False])["result"]
    assert block["number"] == "0x2" and int(block["timestamp"], 16) < 2**40
