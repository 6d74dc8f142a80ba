"""eth_createAccessList through web3.py: the slots a call touches, and a transaction sent with
that list and its gas succeeds."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def counter(node_handle: Any, node_artifacts: dict[str, Any]) -> Any:
    node_handle.deploy(node_handle.bootstrap, node_artifacts["AllowList"])  # the consortium
    return node_handle.deploy(node_handle.bootstrap, node_artifacts["Counter"])


def test_the_list_names_the_counters_slot_and_the_transaction_with_it_succeeds(
        node_handle: Any, counter: Any) -> None:
    w3, boot = node_handle.w3, node_handle.bootstrap
    call = {"from": boot.address, "to": counter.address,
            "data": counter.encode_abi("increment", [])}
    made = w3.eth.create_access_list(call)  # type: ignore[arg-type]
    entries = made["accessList"]
    assert [e["address"] for e in entries] == [counter.address]
    assert entries[0]["storageKeys"] == ["0x" + "00" * 32]  # `count` lives in slot 0
    assert made["gasUsed"] > 21_000
    receipt = node_handle.send(boot, {"to": counter.address, "data": call["data"],
                                      "accessList": entries, "gas": made["gasUsed"],
                                      "maxFeePerGas": 0, "maxPriorityFeePerGas": 0})
    assert receipt["status"] == 1 and receipt["gasUsed"] <= made["gasUsed"]
    assert counter.functions.count().call() == 1


def test_a_reverting_call_says_so_and_bad_input_names_the_field(node_handle: Any,
                                                                counter: Any) -> None:
    reverted = node_handle.rpc("eth_createAccessList", [
        {"from": node_handle.bootstrap.address, "to": counter.address,
         "data": counter.encode_abi("fail", [])}, "latest"])["result"]
    assert reverted["error"] == "execution reverted"
    bad = node_handle.rpc("eth_createAccessList", [{"to": "0x1234"}, "latest"])["error"]
    assert bad["code"] == -32602 and "to" in bad["message"]


def test_get_proof_proves_an_account_and_its_slot_under_the_state_root(node_handle: Any,
                                                                       counter: Any) -> None:
    import rlp
    from eth_account import Account
    from eth_utils import keccak
    from trie import HexaryTrie

    w3, boot = node_handle.w3, node_handle.bootstrap
    node_handle.send(boot, {"to": counter.address, "data": counter.encode_abi("increment", [])})
    block = w3.eth.get_block("latest")
    proof = w3.eth.get_proof(counter.address, [0], "latest")
    nodes = [rlp.decode(bytes(n)) for n in proof["accountProof"]]
    account = HexaryTrie.get_from_proof(bytes(block["stateRoot"]), keccak(bytes.fromhex(counter.address[2:])), nodes)
    nonce, balance, storage_root, code_hash = rlp.decode(account)
    assert storage_root == bytes(proof["storageHash"]) and code_hash == bytes(proof["codeHash"])
    assert code_hash == keccak(bytes(w3.eth.get_code(counter.address)))
    slot = proof["storageProof"][0]
    assert int.from_bytes(slot["value"], "big") == 1
    value = HexaryTrie.get_from_proof(storage_root, keccak((0).to_bytes(32, "big")),
                                      [rlp.decode(bytes(n)) for n in slot["proof"]])
    assert int.from_bytes(rlp.decode(value), "big") == 1
    stranger = Account.create().address
    absent = w3.eth.get_proof(stranger, [], "latest")
    assert absent["balance"] == 0 and absent["nonce"] == 0
    assert HexaryTrie.get_from_proof(bytes(block["stateRoot"]), keccak(bytes.fromhex(stranger[2:])),
                                     [rlp.decode(bytes(n)) for n in absent["accountProof"]]) == b""
