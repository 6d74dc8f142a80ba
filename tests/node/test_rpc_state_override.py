"""eth_call / eth_estimateGas state overrides (web3.py's ``state_override``): answered for the
changed state, never applied to the chain, malformed ones refused naming the field."""

from __future__ import annotations

from typing import Any

from eth_account import Account

from tests.node.conftest import NodeHandle

#: SLOAD(0) returned as a word
_RETURN_SLOT0 = "0x60005460005260206000f3"
#: BALANCE(CALLER) returned as a word
_RETURN_CALLER_BALANCE = "0x333160005260206000f3"


def test_code_storage_and_balance_overrides_answer_for_the_changed_state(node_handle: NodeHandle) -> None:
    w3 = node_handle.w3
    target = Account.create().address
    caller = Account.create().address
    tx = {"from": caller, "to": target}
    assert w3.eth.call(tx) == b""  # no code there
    override: Any = {target: {"code": _RETURN_SLOT0, "stateDiff": {"0x" + "00" * 32: "0x" + "00" * 31 + "2a"}}}
    assert int.from_bytes(w3.eth.call(tx, "latest", override), "big") == 42
    replaced: Any = {target: {"code": _RETURN_SLOT0, "state": {"0x" + "00" * 32: "0x" + "00" * 31 + "07"}}}
    assert int.from_bytes(w3.eth.call(tx, "latest", replaced), "big") == 7
    rich: Any = {target: {"code": _RETURN_CALLER_BALANCE}, caller: {"balance": hex(12_345)}}
    assert int.from_bytes(w3.eth.call(tx, "latest", rich), "big") == 12_345
    assert w3.eth.estimate_gas(tx, "latest", rich) > 21_000
    # nothing reached the chain
    assert w3.eth.get_code(target) == b"" and w3.eth.get_balance(caller) == 0
    assert w3.eth.get_storage_at(target, 0) == b"\x00" * 32


def test_a_value_the_sender_only_has_under_the_override_is_sent(node_handle: NodeHandle) -> None:
    w3 = node_handle.w3
    poor, target = Account.create().address, Account.create().address
    refused = node_handle.rpc("eth_call", [{"from": poor, "to": target, "value": "0x10"}, "latest"])
    assert refused["error"]["code"] == -32602 and "value" in refused["error"]["message"]
    ok = node_handle.rpc("eth_call", [{"from": poor, "to": target, "value": "0x10"}, "latest",
                                      {poor: {"balance": "0x100", "nonce": "0x5"}}])
    assert ok["result"] == "0x", ok
    assert w3.eth.get_balance(poor) == 0 and w3.eth.get_transaction_count(poor) == 0


def test_malformed_overrides_are_refused_naming_the_field(node_handle: NodeHandle) -> None:
    target = Account.create().address
    call = {"to": target}
    for override, words in [
        ({target: {"state": {}, "stateDiff": {}}}, "state and stateDiff cannot both"),
        ({"0xnothex": {"balance": "0x1"}}, "stateOverride[0xnothex]"),
        ({target: {"balanse": "0x1"}}, "expected an object with"),
        ({target: {"stateDiff": {"0x01": "0x02"}}}, "stateDiff"),
        ([1, 2], "stateOverride: expected an object"),
    ]:
        error = node_handle.rpc("eth_call", [call, "latest", override])["error"]
        assert error["code"] == -32602 and words in error["message"], (override, error)
