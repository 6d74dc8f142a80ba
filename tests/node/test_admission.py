"""Permissioning layer 1: bootstrap-only before the Consortium, then its transactionAllowed."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from web3.exceptions import Web3RPCError


def _try_send(handle: Any, account: Any) -> Any:
    return handle.send(account, {"to": account.address, "gas": 21_000, "nonce": 0})


def test_non_bootstrap_sender_is_rejected_until_consortium_allows_it(
    node_handle: Any, node_artifacts: dict[str, Any]
) -> None:
    handle, boot = node_handle, node_handle.bootstrap
    stranger = Account.create()
    with pytest.raises(Web3RPCError) as before:
        _try_send(handle, stranger)
    assert before.value.rpc_response["error"]["code"] == -32003
    assert stranger.address in before.value.rpc_response["error"]["message"]

    allow = handle.deploy(boot, node_artifacts["AllowList"])  # nonce 0 -> consortium address
    assert allow.address == handle.node.admission.consortium_address_checksum
    with pytest.raises(Web3RPCError) as denied:
        _try_send(handle, stranger)
    message = denied.value.rpc_response["error"]["message"]
    assert denied.value.rpc_response["error"]["code"] == -32003
    assert stranger.address in message and allow.address in message

    # the Changed event of the consortium invalidates the cached denial
    handle.send(boot, {"to": allow.address, "gas": 100_000,
                       "data": allow.encode_abi("setAllowed", [stranger.address])})
    assert _try_send(handle, stranger)["status"] == 1

    other = Account.create()
    handle.send(boot, {"to": allow.address, "gas": 100_000,
                       "data": allow.encode_abi("setAllowed", [other.address])})
    with pytest.raises(Web3RPCError) as revoked:
        handle.send(stranger, {"to": stranger.address, "gas": 21_000})
    assert revoked.value.rpc_response["error"]["code"] == -32003
    assert _try_send(handle, other)["status"] == 1


def test_bootstrap_is_refused_once_consortium_denies_it(
    node_factory: Any, node_artifacts: dict[str, Any]
) -> None:
    """A consortium whose transactionAllowed reverts denies everyone, bootstrap included."""
    handle = node_factory()
    boot = handle.bootstrap
    handle.deploy(boot, node_artifacts["Counter"])  # no transactionAllowed -> reverts
    with pytest.raises(Web3RPCError) as denied:
        handle.send(boot, {"to": boot.address, "gas": 21_000})
    assert denied.value.rpc_response["error"]["code"] == -32003
    assert "reverted" in denied.value.rpc_response["error"]["message"]


def test_configured_consortium_address_overrides_the_convention(
    node_factory: Any, node_artifacts: dict[str, Any]
) -> None:
    stranger = Account.create()
    handle = node_factory(consortium_address="0x" + "42" * 20)
    handle.deploy(handle.bootstrap, node_artifacts["AllowList"])  # not at the configured address
    with pytest.raises(Web3RPCError) as denied:
        _try_send(handle, stranger)
    assert denied.value.rpc_response["error"]["code"] == -32003


def test_large_calldata_gets_the_same_decision_with_or_without_a_cached_one(
    node_factory: Any, node_artifacts: dict[str, Any]
) -> None:
    """The admission call's gas covers the payload's intrinsic cost: a member's 400 KB-calldata
    transaction is admitted when nothing is cached and when a decision is cached alike (it was
    refused with "Message.gas cannot be negative" only when uncached). On a network every
    validator must decide alike."""
    handle = node_factory()
    boot = handle.bootstrap
    allow = handle.deploy(boot, node_artifacts["AllowList"])  # allows exactly one address
    member = Account.create()
    handle.send(boot, {"to": allow.address, "gas": 100_000,
                       "data": allow.encode_abi("setAllowed", [member.address])})
    sender = bytes.fromhex(member.address[2:])
    big = b"\x01" * 400_000  # intrinsic calldata gas 6.4 M > the call's 5 M execution budget
    handle.node.admission.check(sender, sender, 0, 0, 7_000_000, big)  # cold: asks the contract
    assert _try_send(handle, member)["status"] == 1  # a small transaction: now cached
    handle.node.admission.check(sender, sender, 0, 0, 7_000_000, big)  # warm: the cached answer
