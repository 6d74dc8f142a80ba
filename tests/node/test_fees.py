"""Fees are offered, never charged (issue 12: tools that always add a tip).

ethers, viem, cast and Hardhat put a price or a priority fee on every transaction even when the
node answers 0; member accounts hold no native coin. The chain's rule (node.evm.ColedgerState)
charges nothing whatever is offered, so these transactions succeed, no balance moves, and the
node's fee answers (0) say exactly what is charged. Value still needs coin.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from web3.exceptions import Web3RPCError

from tests.node.conftest import NodeHandle

GWEI = 10**9
#: initcode of a contract whose runtime stores GASPRICE in slot 0 (3a 6000 55 00)
_GASPRICE_STORE = "0x6005600c60003960056000f3" + "3a60005500"

OFFERS: list[dict[str, Any]] = [
    {"gasPrice": 2 * GWEI},  # legacy (ethers' default on a zero-base-fee chain)
    {"gasPrice": 7, "accessList": []},  # EIP-2930
    {"maxFeePerGas": 2 * GWEI, "maxPriorityFeePerGas": GWEI},  # 1559, Hardhat/viem style
    {"maxFeePerGas": 1, "maxPriorityFeePerGas": 1},  # alloy's (cast's) 1-wei minimum tip
]


@pytest.mark.parametrize("offer", OFFERS, ids=["legacy", "eip2930", "eip1559", "one-wei-tip"])
def test_offered_fee_from_unfunded_sender_succeeds_and_moves_no_coin(
        node_handle: NodeHandle, offer: dict[str, Any]) -> None:
    h, boot = node_handle, node_handle.bootstrap
    coinbase = h.rpc("eth_coinbase", [])["result"]
    assert h.w3.eth.get_balance(boot.address) == 0
    receipt = h.send(boot, {"to": "0x" + "42" * 20, "value": 0, "gas": 50_000, **offer})
    assert receipt["status"] == 1
    assert receipt["effectiveGasPrice"] == 0
    assert h.w3.eth.get_balance(boot.address) == 0
    assert h.w3.eth.get_balance(coinbase) == 0
    tx = h.rpc("eth_getTransactionByHash", [receipt["transactionHash"].to_0x_hex()])["result"]
    # a legacy/2930 price is a signed field and shown as signed; a 1559 "gasPrice" is what was paid
    assert int(tx["gasPrice"], 16) == offer.get("gasPrice", 0)


def test_gasprice_opcode_reads_zero_in_a_transaction_offering_a_price(
        node_handle: NodeHandle) -> None:
    h, boot = node_handle, node_handle.bootstrap
    h.send(boot, {"to": boot.address, "gas": 21_000})  # nonce 0 would deploy the Consortium
    deployed = h.send(boot, {"data": _GASPRICE_STORE, "gas": 100_000, "gasPrice": 3 * GWEI})
    assert deployed["status"] == 1
    target = deployed["contractAddress"]
    receipt = h.send(boot, {"to": target, "gas": 60_000, "maxFeePerGas": 5 * GWEI,
                            "maxPriorityFeePerGas": 5 * GWEI})
    assert receipt["status"] == 1
    # a price of 0 stored into an empty slot leaves it 0; any charged price would read non-zero
    assert int.from_bytes(h.w3.eth.get_storage_at(target, 0), "big") == 0


def test_fee_answers_are_zero_like_what_is_charged(node_handle: NodeHandle) -> None:
    h = node_handle
    h.send(h.bootstrap, {"to": "0x" + "43" * 20, "gas": 30_000, "gasPrice": GWEI})
    assert h.rpc("eth_gasPrice", [])["result"] == "0x0"
    assert h.rpc("eth_maxPriorityFeePerGas", [])["result"] == "0x0"
    history = h.rpc("eth_feeHistory", ["0x4", "latest", [10, 50, 90]])["result"]
    assert set(history["baseFeePerGas"]) == {"0x0"}
    assert {r for row in history["reward"] for r in row} == {"0x0"}


def test_value_beyond_balance_is_refused_naming_value_and_nothing_is_queued(
        node_handle: NodeHandle) -> None:
    h, boot = node_handle, node_handle.bootstrap
    signed = boot.sign_transaction({"chainId": h.config.chain_id, "nonce": 0, "gas": 21_000,
                                    "maxFeePerGas": GWEI, "maxPriorityFeePerGas": GWEI,
                                    "to": "0x" + "44" * 20, "value": 5})
    with pytest.raises(Web3RPCError) as err:
        h.w3.eth.send_raw_transaction(signed.raw_transaction)
    message = str(err.value)
    assert f"insufficient funds for value: sender {boot.address} has 0, the transaction sends 5" \
        in message
    assert h.w3.eth.get_transaction_count(boot.address, "pending") == 0


def test_non_member_offering_a_fee_is_refused_by_admission_not_by_funds(
        node_handle: NodeHandle) -> None:
    """Free gas opens nothing: the sender must still be admitted (here: only the bootstrap
    key before a Consortium exists), and a refused stranger gets the admission reason."""
    h, stranger = node_handle, Account.create()
    with pytest.raises(Web3RPCError) as err:
        h.send(stranger, {"to": stranger.address, "gas": 21_000, "nonce": 0,
                          "maxFeePerGas": 2 * GWEI, "maxPriorityFeePerGas": GWEI})
    error = err.value.rpc_response["error"]
    assert error["code"] == -32003 and stranger.address in error["message"]
    assert "insufficient funds" not in error["message"]
    assert h.w3.eth.get_transaction_count(stranger.address, "pending") == 0
