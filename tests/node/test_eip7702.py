"""EIP-7702 (type-4) transactions: py-evm's Prague executes them, so the node accepts them — with
the permissioned rule that every authority must be an account the Consortium lets transact, and
a named refusal for an authorization that could never take effect."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_utils import to_checksum_address

DELEGATION_PREFIX = bytes.fromhex("ef0100")


@pytest.fixture
def world(node_handle: Any, node_artifacts: dict[str, Any]) -> dict[str, Any]:
    """The AllowList as Consortium (bootstrap and one allowed member), and a Counter."""
    boot = node_handle.bootstrap
    allow = node_handle.deploy(boot, node_artifacts["AllowList"])
    counter = node_handle.deploy(boot, node_artifacts["Counter"])
    member = Account.create()
    assert node_handle.send(boot, {"to": allow.address, "gas": 100_000,
                                   "data": allow.encode_abi("setAllowed", [member.address])}
                            )["status"] == 1
    return {"allow": allow, "counter": counter, "member": member}


def _authorize(node_handle: Any, signer: Any, delegate: str, nonce: int | None = None,
               chain_id: int | None = None) -> Any:
    w3 = node_handle.w3
    return signer.sign_authorization({
        "chainId": node_handle.config.chain_id if chain_id is None else chain_id,
        "address": delegate,
        "nonce": w3.eth.get_transaction_count(signer.address) if nonce is None else nonce,
    })


def _set_code_tx(node_handle: Any, sender: Any, to: str, data: str, auths: list[Any]) -> str:
    w3 = node_handle.w3
    tx = {"type": 4, "chainId": node_handle.config.chain_id, "to": to, "data": data,
          "nonce": w3.eth.get_transaction_count(sender.address, "pending"), "gas": 200_000,
          "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "authorizationList": auths}
    return sender.sign_transaction(tx).raw_transaction.to_0x_hex()


def test_a_member_delegates_its_code_and_the_call_runs_in_its_own_storage(
        node_handle: Any, world: dict[str, Any]) -> None:
    w3, boot, counter, member = node_handle.w3, node_handle.bootstrap, world["counter"], \
        world["member"]
    auth = _authorize(node_handle, member, counter.address)
    raw = _set_code_tx(node_handle, boot, member.address, counter.encode_abi("increment", []),
                       [auth])
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw), timeout=30)
    assert receipt["status"] == 1 and receipt["type"] == 4
    assert bytes(w3.eth.get_code(member.address)) == \
        DELEGATION_PREFIX + bytes.fromhex(counter.address[2:])
    assert int.from_bytes(w3.eth.get_storage_at(member.address, 0), "big") == 1  # its own slot
    assert counter.functions.count().call() == 0  # the delegate's storage is untouched
    assert w3.eth.get_transaction_count(member.address) == 1  # the authorization spent a nonce
    shown = node_handle.rpc("eth_getTransactionByHash", [receipt["transactionHash"].to_0x_hex()]
                            )["result"]
    assert shown["type"] == "0x4"
    assert shown["authorizationList"] == [{
        "chainId": hex(node_handle.config.chain_id), "address": counter.address,
        "nonce": "0x0", "yParity": hex(auth.y_parity), "r": hex(auth.r), "s": hex(auth.s)}]


def test_a_member_sponsors_itself_with_an_authorization_one_nonce_ahead(
        node_handle: Any, world: dict[str, Any]) -> None:
    w3, counter, member = node_handle.w3, world["counter"], world["member"]
    auth = _authorize(node_handle, member, counter.address, nonce=1, chain_id=0)  # any chain
    raw = _set_code_tx(node_handle, member, member.address, counter.encode_abi("increment", []),
                       [auth])
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw), timeout=30)
    assert receipt["status"] == 1
    assert int.from_bytes(w3.eth.get_storage_at(member.address, 0), "big") == 1
    assert w3.eth.get_transaction_count(member.address) == 2


def test_a_non_members_authorization_is_refused_and_nothing_changes(
        node_handle: Any, world: dict[str, Any]) -> None:
    boot, counter = node_handle.bootstrap, world["counter"]
    stranger = Account.create()
    raw = _set_code_tx(node_handle, boot, stranger.address,
                       counter.encode_abi("increment", []),
                       [_authorize(node_handle, stranger, counter.address)])
    nonce = node_handle.w3.eth.get_transaction_count(boot.address, "pending")
    out = node_handle.rpc("eth_sendRawTransaction", [raw])
    assert out["error"]["code"] == -32003, out
    message = out["error"]["message"]
    assert message.startswith(f"authorizationList[0]: authority "
                              f"{to_checksum_address(stranger.address)} delegating to "
                              f"{counter.address} refused"), message
    assert node_handle.w3.eth.get_transaction_count(boot.address, "pending") == nonce
    assert node_handle.w3.eth.get_code(stranger.address) == b""


@pytest.mark.parametrize(("tweak", "says"), [
    ({"chain_id": 999}, "authorizationList[0]: chain id 999 is neither 0 nor this chain's"),
])
def test_an_authorization_that_cannot_take_effect_is_named(
        node_handle: Any, world: dict[str, Any], tweak: dict[str, int], says: str) -> None:
    counter, member = world["counter"], world["member"]
    auth = _authorize(node_handle, member, counter.address, **tweak)
    raw = _set_code_tx(node_handle, node_handle.bootstrap, member.address, "0x", [auth])
    out = node_handle.rpc("eth_sendRawTransaction", [raw])
    assert out["error"]["message"].startswith(says), out


def test_a_type_4_transaction_without_authorizations_is_refused(node_handle: Any,
                                                                world: dict[str, Any]) -> None:
    """eth-account will not sign one, so the envelope is built here: EIP-7702 forbids it."""
    import rlp
    from eth_keys import keys
    from eth_utils import keccak

    boot = node_handle.bootstrap
    fields = [node_handle.config.chain_id,
              node_handle.w3.eth.get_transaction_count(boot.address, "pending"), 0, 0, 100_000,
              bytes.fromhex(world["member"].address[2:]), 0, b"", [], []]
    digest = keccak(b"\x04" + rlp.encode(fields))
    sig = keys.PrivateKey(bytes(boot.key)).sign_msg_hash(digest)
    raw = b"\x04" + rlp.encode([*fields, sig.v, sig.r, sig.s])
    out = node_handle.rpc("eth_sendRawTransaction", ["0x" + raw.hex()])
    assert out["error"]["message"].startswith(
        "authorizationList: a type-4 transaction needs at least one authorization"), out


def test_estimate_gas_with_the_authorization_list_is_enough_to_mine(
        node_handle: Any, world: dict[str, Any]) -> None:
    """The estimate executes the authorizations (25,000 gas each plus the delegated code), so
    the transaction sent with it succeeds; without them the call would hit an empty account."""
    w3, boot, counter, member = node_handle.w3, node_handle.bootstrap, world["counter"], \
        world["member"]
    auth = _authorize(node_handle, member, counter.address)
    listed = [{"chainId": hex(auth.chain_id), "address": counter.address,
               "nonce": hex(auth.nonce), "yParity": hex(auth.y_parity), "r": hex(auth.r),
               "s": hex(auth.s)}]
    call = {"from": boot.address, "to": member.address,
            "data": counter.encode_abi("increment", [])}
    plain = int(node_handle.rpc("eth_estimateGas", [call])["result"], 16)
    with_list = int(node_handle.rpc("eth_estimateGas", [{**call, "authorizationList": listed}]
                                    )["result"], 16)
    assert with_list > plain + 25_000 - 1  # the authorization and the counter's code ran
    tx = {"type": 4, "chainId": node_handle.config.chain_id, "to": member.address,
          "data": call["data"], "nonce": w3.eth.get_transaction_count(boot.address, "pending"),
          "gas": with_list, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0,
          "authorizationList": [auth]}
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(boot.sign_transaction(tx).raw_transaction), timeout=30)
    assert receipt["status"] == 1 and receipt["gasUsed"] <= with_list
    bad = node_handle.rpc("eth_estimateGas", [{**call, "authorizationList": [{"chainId": "0x1"}]}])
    assert bad["error"]["code"] == -32602
    assert bad["error"]["message"].startswith("authorizationList[0]: expected an object"), bad


def test_the_auditor_rebuilds_the_signed_type_4_transaction_from_the_served_fields(
        node_handle: Any, world: dict[str, Any]) -> None:
    """The auditor's replay re-encodes each transaction from its JSON; for a type-4 one that
    must include the authorizations, or the hash (and the replay) would differ."""
    from client.audit.transactions import rebuild_transaction
    from node.evm import ColedgerVM

    w3, counter, member = node_handle.w3, world["counter"], world["member"]
    raw = _set_code_tx(node_handle, node_handle.bootstrap, member.address,
                       counter.encode_abi("increment", []),
                       [_authorize(node_handle, member, counter.address)])
    tx_hash = w3.eth.send_raw_transaction(raw)
    w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    served = node_handle.rpc("eth_getTransactionByHash", [tx_hash.to_0x_hex()])["result"]
    rebuilt = rebuild_transaction(served, ColedgerVM.get_transaction_builder())
    assert rebuilt.hash == bytes(tx_hash) and rebuilt.encode() == bytes.fromhex(raw[2:])
