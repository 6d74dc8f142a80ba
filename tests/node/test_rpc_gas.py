"""Gas the node reports and checks (issue 12, defects 5 and 6): intrinsic gas refusals say what is
needed and what was given, a member's large-calldata transaction is admitted whatever the
admission cache holds, and eth_estimateGas honours an EIP-2930 access list."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from web3.exceptions import Web3RPCError

ZERO = "0x" + "00" * 20
#: an address the Counter never touches: listing it costs 2,400 gas and saves nothing
UNTOUCHED = "0x" + "5a" * 20


@pytest.fixture
def counter(node_handle: Any, node_artifacts: dict[str, Any]) -> Any:
    node_handle.deploy(node_handle.bootstrap, node_artifacts["AllowList"])  # the consortium
    return node_handle.deploy(node_handle.bootstrap, node_artifacts["Counter"])


# ---- defect 5: intrinsic gas, said plainly ---------------------------------------------------

def test_a_raw_transaction_below_its_intrinsic_gas_says_what_it_needs_and_has(
        node_handle: Any) -> None:
    boot = node_handle.bootstrap
    raw = boot.sign_transaction({"chainId": 1337, "nonce": 0, "to": ZERO, "value": 0,
                                 "gas": 30_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0,
                                 "data": b"\x01" * 10_000}).raw_transaction.to_0x_hex()
    error = node_handle.rpc("eth_sendRawTransaction", [raw])["error"]
    assert error == {"code": -32000, "message": "intrinsic gas too low: needs 181000, has 30000"}
    assert node_handle.rpc("eth_getTransactionCount", [boot.address, "pending"])["result"] == "0x0"


@pytest.mark.parametrize("method", ["eth_call", "eth_estimateGas"])
def test_a_call_below_its_intrinsic_gas_is_invalid_params_naming_gas(
        node_handle: Any, method: str) -> None:
    out = node_handle.rpc(method, [{"to": ZERO, "gas": "0x5208", "data": "0x" + "01" * 1_000}])
    assert out["error"] == {"code": -32602,
                            "message": "gas: intrinsic gas too low: needs 37000, has 21000"}


def test_a_call_whose_calldata_alone_exceeds_the_block_gas_limit_names_the_data(
        node_handle: Any) -> None:
    data = "0x" + "01" * 4_000_000  # 64 M intrinsic gas > 60 M block gas limit
    out = node_handle.rpc("eth_call", [{"to": ZERO, "data": data}])
    assert out["error"]["code"] == -32602
    assert out["error"]["message"] == ("data: intrinsic gas too low: needs 64021000, more than "
                                       "the block gas limit 60000000")
    assert "Message" not in out["error"]["message"]


def test_a_members_large_calldata_transaction_is_admitted_cold_and_cached(
        node_handle: Any, node_artifacts: dict[str, Any]) -> None:
    """Sent for real: the first one is decided by the contract (nothing cached for the member),
    the second by the cached decision; both are admitted and mined."""
    handle, boot = node_handle, node_handle.bootstrap
    allow = handle.deploy(boot, node_artifacts["AllowList"])
    member = Account.create()
    handle.send(boot, {"to": allow.address, "gas": 100_000,
                       "data": allow.encode_abi("setAllowed", [member.address])})
    big = b"\x01" * 400_000  # intrinsic 6.4 M: more than admission's 5 M execution budget
    for _ in range(2):
        receipt = handle.send(member, {"to": member.address, "gas": 6_500_000, "data": big})
        assert receipt["status"] == 1


# ---- defect 6: eth_estimateGas honours accessList ------------------------------------------

def _access_list(counter: Any) -> list[dict[str, Any]]:
    return [{"address": counter.address, "storageKeys": ["0x" + "00" * 32]},
            {"address": UNTOUCHED, "storageKeys": []}]


@pytest.mark.parametrize("fees", [{"gasPrice": 0},
                                  {"maxFeePerGas": 0, "maxPriorityFeePerGas": 0}],
                         ids=["type-1", "type-2"])
def test_a_transaction_sent_with_the_estimate_for_its_access_list_succeeds(
        node_handle: Any, counter: Any, fees: dict[str, int]) -> None:
    w3, boot = node_handle.w3, node_handle.bootstrap
    call = {"from": boot.address, "to": counter.address,
            "data": counter.encode_abi("increment", []), "accessList": _access_list(counter)}
    estimate = w3.eth.estimate_gas(call)  # type: ignore[arg-type]
    without = w3.eth.estimate_gas({k: v for k, v in call.items() if k != "accessList"})
    assert estimate > without  # the untouched address costs 2,400 and saves nothing
    receipt = node_handle.send(boot, {**fees, "to": counter.address, "data": call["data"],
                                      "accessList": call["accessList"], "gas": estimate})
    assert receipt["status"] == 1 and receipt["type"] == (1 if "gasPrice" in fees else 2)
    assert receipt["gasUsed"] <= estimate
    assert counter.functions.count().call() == 1


def test_eth_call_with_an_access_list_pays_its_intrinsic_cost(node_handle: Any,
                                                             counter: Any) -> None:
    """Enough gas without the list, too little with it: the list is executed, not ignored."""
    w3, boot = node_handle.w3, node_handle.bootstrap
    call = {"from": boot.address, "to": counter.address,
            "data": counter.encode_abi("increment", [])}
    without = w3.eth.estimate_gas(call)  # type: ignore[arg-type]
    out = node_handle.rpc("eth_call", [{**call, "gas": hex(without),
                                        "accessList": _access_list(counter)}, "latest"])
    assert "error" in out, out


@pytest.mark.parametrize(("access_list", "named"), [
    ("0x12", "accessList: "),
    ([{"address": "0x12", "storageKeys": []}], "accessList[0].address: "),
    ([{"address": ZERO, "storageKeys": ["0x01"]}], "accessList[0].storageKeys[0]: "),
    ([{"address": ZERO, "storageKeys": "0x01"}], "accessList[0].storageKeys: "),
    ([{"address": ZERO, "slots": []}], "accessList[0]: "),
])
def test_a_malformed_access_list_is_invalid_params_naming_the_entry(
        node_handle: Any, access_list: Any, named: str) -> None:
    out = node_handle.rpc("eth_estimateGas", [{"to": ZERO, "accessList": access_list}])
    assert out["error"]["code"] == -32602 and out["error"]["message"].startswith(named), out


def test_web3_raises_on_the_intrinsic_gas_refusal(node_handle: Any) -> None:
    with pytest.raises(Web3RPCError, match="intrinsic gas too low: needs 37000, has 21000"):
        node_handle.w3.eth.call({"to": ZERO, "gas": 21_000, "data": "0x" + "01" * 1_000})


def test_a_call_sending_more_value_than_its_sender_holds_names_the_value(node_handle: Any) -> None:
    sender = node_handle.bootstrap.address
    out = node_handle.rpc("eth_call", [{"from": sender, "to": ZERO, "value": "0x" + "f" * 64}])
    assert out["error"] == {"code": -32602, "message": (
        f"value: insufficient funds: {sender} has 0, the call sends {2**256 - 1}")}
