"""Malformed and refused input: right JSON-RPC error code, clear message, node keeps serving."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import rlp
from eth_account import Account


def post(url: str, body: Any, raw: bool = False) -> Any:
    data = body if raw else json.dumps(body)
    resp = requests.post(url, data=data, headers={"Content-Type": "application/json"},
                         timeout=30)
    assert resp.status_code == 200
    return resp.json()


def call(url: str, method: str, params: Any = None, rid: int = 1) -> Any:
    return post(url, {"jsonrpc": "2.0", "id": rid, "method": method,
                      "params": [] if params is None else params})


def signed(account: Any, **tx: Any) -> str:
    base = {"chainId": 1337, "nonce": 0, "to": account.address, "value": 0, "gas": 21_000,
            "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
    base.update(tx)
    return account.sign_transaction(base).raw_transaction.to_0x_hex()


def assert_serving(url: str) -> None:
    assert call(url, "eth_chainId")["result"] == "0x539"


def test_bad_json_returns_parse_error_and_node_keeps_serving(node_handle: Any) -> None:
    url = node_handle.node.url
    out = post(url, b'{"jsonrpc": "2.0", "method": ', raw=True)
    assert out["error"]["code"] == -32700 and out["id"] is None
    assert_serving(url)


@pytest.mark.parametrize("body", [42, {"method": "eth_chainId"}, {"jsonrpc": "2.0", "id": 1},
                                  []])
def test_invalid_request_objects_return_invalid_request(node_handle: Any, body: Any) -> None:
    out = post(node_handle.node.url, body)
    assert out["error"]["code"] == -32600
    assert_serving(node_handle.node.url)


def test_unknown_method_returns_method_not_found_naming_it(node_handle: Any) -> None:
    out = call(node_handle.node.url, "eth_mineGold")
    assert out["error"]["code"] == -32601 and "eth_mineGold" in out["error"]["message"]


@pytest.mark.parametrize("method,params", [
    ("eth_getBalance", ["0x1234"]),
    ("eth_getBalance", ["not-hex", "latest"]),
    ("eth_getBlockByNumber", ["tomorrow", False]),
    ("eth_getTransactionReceipt", ["0xabc"]),
    ("eth_getLogs", ["nope"]),
    ("eth_getLogs", [{"fromBlock": "0x0", "topics": ["0x12"]}]),
    ("eth_call", [{"to": "0x12"}]),
    ("eth_sendRawTransaction", ["zz"]),
    ("eth_chainId", {"not": "a list"}),
])
def test_bad_params_return_invalid_params(node_handle: Any, method: str, params: Any) -> None:
    out = call(node_handle.node.url, method, params)
    assert out["error"]["code"] == -32602, out
    assert out["error"]["message"]


def test_batch_returns_one_response_per_request_in_order(node_handle: Any) -> None:
    url = node_handle.node.url
    out = post(url, [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "nope", "params": []},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber", "params": []},
        7,
    ])
    assert [r.get("id") for r in out] == [1, 2, 3, None]
    assert out[0]["result"] == "0x539"
    assert out[1]["error"]["code"] == -32601
    assert out[2]["result"] == "0x0"
    assert out[3]["error"]["code"] == -32600


def test_bad_rlp_is_rejected(node_handle: Any) -> None:
    out = call(node_handle.node.url, "eth_sendRawTransaction", ["0xf8deadbeef"])
    assert out["error"]["code"] == -32000 and "RLP" in out["error"]["message"]
    out = call(node_handle.node.url, "eth_sendRawTransaction", ["0x02c0"])
    assert out["error"]["code"] == -32000


def test_invalid_signature_is_rejected(node_handle: Any) -> None:
    raw = bytes.fromhex(signed(node_handle.bootstrap)[2:])
    fields = rlp.decode(raw[1:])
    fields[-1] = b"\xff" * 32  # s out of range
    bad = "0x02" + rlp.encode(fields).hex()
    out = call(node_handle.node.url, "eth_sendRawTransaction", [bad])
    assert out["error"]["code"] == -32000
    assert "signature" in out["error"]["message"] or "RLP" in out["error"]["message"]


def test_wrong_chain_id_and_unprotected_legacy_are_rejected(node_handle: Any) -> None:
    boot = node_handle.bootstrap
    out = call(node_handle.node.url, "eth_sendRawTransaction", [signed(boot, chainId=1)])
    assert out["error"]["code"] == -32000 and "chain id" in out["error"]["message"]
    legacy = {"nonce": 0, "to": boot.address, "value": 0, "gas": 21_000, "gasPrice": 0}
    raw = boot.sign_transaction(legacy).raw_transaction.to_0x_hex()  # no chainId: pre-EIP-155
    out = call(node_handle.node.url, "eth_sendRawTransaction", [raw])
    assert out["error"]["code"] == -32000 and "EIP-155" in out["error"]["message"]


def test_nonce_too_low_and_too_high_are_rejected(node_handle: Any) -> None:
    url, boot = node_handle.node.url, node_handle.bootstrap
    node_handle.send(boot, {"to": boot.address, "gas": 21_000})
    out = call(url, "eth_sendRawTransaction", [signed(boot, nonce=0)])
    assert out["error"]["code"] == -32000 and "nonce too low" in out["error"]["message"]
    out = call(url, "eth_sendRawTransaction", [signed(boot, nonce=1 + 65)])
    assert out["error"]["code"] == -32000 and "nonce too high" in out["error"]["message"]
    assert boot.address in out["error"]["message"]


def test_gas_below_intrinsic_or_above_block_limit_is_rejected(node_handle: Any) -> None:
    url, boot = node_handle.node.url, node_handle.bootstrap
    out = call(url, "eth_sendRawTransaction", [signed(boot, gas=20_000)])
    assert out["error"]["code"] == -32000 and "intrinsic gas" in out["error"]["message"]
    out = call(url, "eth_sendRawTransaction", [signed(boot, gas=60_000_001)])
    assert out["error"]["code"] == -32000 and "block gas limit" in out["error"]["message"]


def test_mempool_full_is_rejected(node_factory: Any) -> None:
    handle = node_factory(block_period=3600, mempool_limit=2)
    boot = handle.bootstrap
    for n in range(2):
        assert "result" in call(handle.node.url, "eth_sendRawTransaction",
                                [signed(boot, nonce=n)])
    out = call(handle.node.url, "eth_sendRawTransaction", [signed(boot, nonce=2)])
    assert out["error"]["code"] == -32000 and "mempool full" in out["error"]["message"]


def test_send_transaction_is_refused_because_keys_never_reach_the_node(node_handle: Any) -> None:
    out = call(node_handle.node.url, "eth_sendTransaction",
               [{"from": node_handle.bootstrap.address, "to": node_handle.bootstrap.address}])
    assert out["error"]["code"] == -32000
    assert "eth_sendRawTransaction" in out["error"]["message"]


def test_time_controls_are_refused_without_allow_time_travel(node_factory: Any) -> None:
    handle = node_factory()
    for method, params in (("evm_mine", []), ("evm_increaseTime", [10]),
                           ("evm_setNextBlockTimestamp", ["0xffffffff"])):
        out = call(handle.node.url, method, params)
        assert out["error"]["code"] == -32601 and "allow_time_travel" in out["error"]["message"]
    assert handle.w3.eth.block_number == 0


def test_log_range_over_limit_is_refused_with_clear_error(node_factory: Any) -> None:
    handle = node_factory(allow_time_travel=True, max_log_block_range=2)
    for _ in range(3):
        call(handle.node.url, "evm_mine")
    out = call(handle.node.url, "eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest"}])
    assert out["error"]["code"] == -32005 and "narrow" in out["error"]["message"]


def test_non_member_sender_is_rejected_before_consortium_exists(node_handle: Any) -> None:
    stranger = Account.create()
    out = call(node_handle.node.url, "eth_sendRawTransaction", [signed(stranger)])
    assert out["error"]["code"] == -32003
    assert stranger.address in out["error"]["message"]
