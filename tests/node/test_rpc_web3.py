"""Every JSON-RPC method web3.py needs, exercised through web3.py v8 against a live node."""

from __future__ import annotations

from typing import Any

import pytest
from eth._utils.address import generate_contract_address
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from web3.exceptions import ContractCustomError, ContractLogicError

from node.seal import recover_seal_signer


@pytest.fixture
def deployed(node_handle: Any, node_artifacts: dict[str, Any]) -> tuple[Any, Any]:
    """AllowList at the consortium address (bootstrap nonce 0), then a Counter."""
    allow = node_handle.deploy(node_handle.bootstrap, node_artifacts["AllowList"])
    counter = node_handle.deploy(node_handle.bootstrap, node_artifacts["Counter"])
    return allow, counter


def test_identity_methods_return_configured_values(node_handle: Any) -> None:
    w3 = node_handle.w3
    assert w3.eth.chain_id == 1337
    assert w3.net.version == "1337"
    assert w3.client_version.startswith("coledger-node")
    assert w3.eth.syncing is False
    assert w3.eth.accounts == []
    assert w3.eth.gas_price == 0
    assert w3.eth.max_priority_fee == 0
    assert w3.eth.block_number == 0


def test_genesis_block_has_zero_base_fee_and_configured_gas_limit(node_handle: Any) -> None:
    w3 = node_handle.w3
    genesis = w3.eth.get_block("earliest")
    assert genesis["number"] == 0
    assert genesis["baseFeePerGas"] == 0
    assert genesis["gasLimit"] == 60_000_000
    assert w3.eth.get_block(genesis["hash"])["number"] == 0
    for tag in ("latest", "pending", "safe", "finalized"):
        assert w3.eth.get_block(tag)["hash"] == genesis["hash"]


def test_deploy_call_and_send_update_state_and_emit_logs(node_handle: Any, deployed: Any) -> None:
    w3, boot = node_handle.w3, node_handle.bootstrap
    _, counter = deployed
    assert w3.eth.get_code(counter.address) != b""
    receipt = node_handle.send(boot, {"to": counter.address,
                                      "data": counter.encode_abi("increment", []),
                                      "gas": 100_000})
    assert receipt["status"] == 1
    assert counter.functions.count().call() == 1
    assert w3.eth.get_storage_at(counter.address, 0) == (1).to_bytes(32, "big")
    event = counter.events.Incremented().process_receipt(receipt)[0]
    assert event["args"]["by"] == boot.address
    assert event["args"]["newCount"] == 1
    block = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
    assert block["transactions"][0]["hash"] == receipt["transactionHash"]
    assert block["baseFeePerGas"] == 0
    assert block["miner"] == to_checksum_address(node_handle.node.producer.coinbase)
    assert w3.eth.get_block(receipt["blockNumber"])["transactions"][0] == receipt["transactionHash"]
    tx = w3.eth.get_transaction(receipt["transactionHash"])
    assert tx["from"] == boot.address and tx["blockNumber"] == receipt["blockNumber"]
    assert w3.eth.get_transaction_count(boot.address) == 3
    assert w3.eth.get_transaction_count(boot.address, "pending") == 3
    assert w3.eth.get_balance(boot.address) == 0


def test_legacy_eip155_and_access_list_transactions_are_accepted(
    node_handle: Any, deployed: Any
) -> None:
    _, counter = deployed
    boot = node_handle.bootstrap
    data = counter.encode_abi("increment", [])
    r1 = node_handle.send(boot, {"to": counter.address, "data": data, "gas": 100_000,
                                 "gasPrice": 0})
    r2 = node_handle.send(boot, {"to": counter.address, "data": data, "gas": 100_000,
                                 "gasPrice": 0, "accessList": []})
    assert (r1["status"], r1["type"], r2["status"], r2["type"]) == (1, 0, 1, 1)
    assert counter.functions.count().call() == 2


def test_custom_error_and_require_revert_raise_web3_contract_errors(
    node_handle: Any, deployed: Any
) -> None:
    _, counter = deployed
    with pytest.raises(ContractCustomError) as custom:
        counter.functions.set(5000).call()
    assert custom.value.data.startswith("0x" + keccak(text="TooBig(uint256)")[:4].hex())
    with pytest.raises(ContractLogicError, match="nope"):
        counter.functions.fail().call()
    with pytest.raises(ContractCustomError):
        counter.functions.set(5000).estimate_gas({"from": node_handle.bootstrap.address})


def test_reverting_transaction_is_included_with_failed_status(
    node_handle: Any, deployed: Any
) -> None:
    _, counter = deployed
    receipt = node_handle.send(node_handle.bootstrap, {
        "to": counter.address, "data": counter.encode_abi("set", [5000]), "gas": 100_000})
    assert receipt["status"] == 0
    assert counter.functions.count().call() == 0


def test_estimate_gas_is_sufficient_for_deploy_and_call(
    node_handle: Any, node_artifacts: dict[str, Any], deployed: Any
) -> None:
    w3, boot = node_handle.w3, node_handle.bootstrap
    _, counter = deployed
    est_call = counter.functions.set(7).estimate_gas({"from": boot.address})
    est_deploy = w3.eth.estimate_gas({"from": boot.address,
                                      "data": node_artifacts["Counter"]["bytecode"]})
    assert 21_000 < est_call < 100_000
    assert est_deploy > 53_000
    r1 = node_handle.send(boot, {"to": counter.address, "data": counter.encode_abi("set", [7]),
                                 "gas": est_call})
    r2 = node_handle.send(boot, {"data": node_artifacts["Counter"]["bytecode"], "gas": est_deploy})
    assert r1["status"] == 1 and r2["status"] == 1
    assert r1["gasUsed"] <= est_call


def test_get_logs_filters_by_address_topics_and_range(node_handle: Any, deployed: Any) -> None:
    w3, boot = node_handle.w3, node_handle.bootstrap
    allow, counter = deployed
    receipts = [node_handle.send(boot, {"to": counter.address, "gas": 100_000,
                                        "data": counter.encode_abi("set", [v])})
                for v in (1, 2, 3)]
    topic = "0x" + keccak(text="Incremented(address,uint256)").hex()
    other = "0x" + keccak(text="Changed(address)").hex()
    by = "0x" + "00" * 12 + boot.address[2:].lower()
    all_logs = w3.eth.get_logs({"fromBlock": 0, "address": counter.address})
    assert len(all_logs) == 3
    assert len(w3.eth.get_logs({"fromBlock": 0, "address": [allow.address]})) == 0
    assert len(w3.eth.get_logs({"fromBlock": 0, "topics": [topic, by]})) == 3
    assert len(w3.eth.get_logs({"fromBlock": 0, "topics": [[other, topic]]})) == 3
    assert len(w3.eth.get_logs({"fromBlock": 0, "topics": [other]})) == 0
    assert len(w3.eth.get_logs({"fromBlock": 0, "topics": [None, by]})) == 3
    mid = receipts[1]["blockNumber"]
    assert len(w3.eth.get_logs({"fromBlock": mid, "toBlock": mid})) == 1
    assert len(w3.eth.get_logs({"blockHash": receipts[2]["blockHash"]})) == 1
    assert [log["data"] for log in all_logs] == [v.to_bytes(32, "big") for v in (1, 2, 3)]


def test_log_and_block_filters_report_changes_once(node_handle: Any, deployed: Any) -> None:
    w3, boot = node_handle.w3, node_handle.bootstrap
    _, counter = deployed
    log_filter = w3.eth.filter({"address": counter.address})
    block_filter = w3.eth.filter("latest")
    receipt = node_handle.send(boot, {"to": counter.address, "gas": 100_000,
                                      "data": counter.encode_abi("increment", [])})
    changes = log_filter.get_new_entries()
    assert [c["transactionHash"] for c in changes] == [receipt["transactionHash"]]
    assert log_filter.get_new_entries() == []
    assert receipt["blockHash"] in block_filter.get_new_entries()
    assert w3.eth.uninstall_filter(log_filter.filter_id) is True


def test_fee_history_is_well_formed_with_zero_base_fees(node_handle: Any, deployed: Any) -> None:
    hist = node_handle.w3.eth.fee_history(2, "latest", [50])
    assert hist["oldestBlock"] == node_handle.w3.eth.block_number - 1
    assert hist["baseFeePerGas"] == [0, 0, 0]
    assert len(hist["gasUsedRatio"]) == 2
    assert hist["reward"] == [[0], [0]]


def test_pending_transaction_is_visible_before_its_receipt(node_factory: Any) -> None:
    handle = node_factory(block_period=3600)  # never seals on its own during the test
    boot = handle.bootstrap
    tx_hash = handle.send(boot, {"to": boot.address, "value": 0, "gas": 21_000}, wait=False)
    pending = handle.w3.eth.get_transaction(tx_hash)
    assert pending["blockNumber"] is None
    assert handle.rpc("eth_getTransactionReceipt", [tx_hash.to_0x_hex()])["result"] is None
    assert handle.w3.eth.get_transaction_count(boot.address, "pending") == 1
    assert handle.w3.eth.get_transaction_count(boot.address, "latest") == 0


def test_block_seal_is_signed_by_validator(node_handle: Any, deployed: Any) -> None:
    seal = node_handle.rpc("coledger_getBlockSeal", ["0x1"])["result"]
    block = node_handle.w3.eth.get_block(1)
    assert seal["blockHash"] == block["hash"].to_0x_hex()
    validator = Account.from_key(node_handle.config.validator_key).address
    assert seal["signer"] == validator
    assert recover_seal_signer(bytes(block["hash"]), bytes.fromhex(seal["signature"][2:])) \
        == validator


def test_block_commit_is_a_network_proof_and_the_solo_node_points_to_its_seal(
        node_handle: Any, deployed: Any) -> None:
    error = node_handle.rpc("coledger_getBlockCommit", ["0x1"])["error"]
    assert error["code"] == -32601
    assert "sealed by one key" in error["message"] and "coledger_getBlockSeal" in error["message"]


def test_receipt_proof_proves_receipt_and_transaction_under_the_block_header(
        node_handle: Any, deployed: Any) -> None:
    import rlp
    from eth_utils import keccak
    from trie import HexaryTrie

    block = node_handle.w3.eth.get_block(1, full_transactions=True)
    tx = block["transactions"][0]
    proof = node_handle.rpc("coledger_getReceiptProof", [tx["hash"].to_0x_hex()])["result"]
    header = bytes.fromhex(proof["headerRlp"][2:])
    assert keccak(header) == bytes(block["hash"]) and proof["blockNumber"] == "0x1"
    fields = rlp.decode(header)
    key = rlp.encode(int(proof["transactionIndex"], 16))
    nodes = [rlp.decode(bytes.fromhex(n[2:])) for n in proof["proof"]]
    receipt = HexaryTrie.get_from_proof(fields[5], key, nodes)
    assert receipt and receipt[0] < 0x7F  # a typed (EIP-2718) receipt
    status = rlp.decode(receipt[1:])[0]
    assert status == b"\x01"
    tx_nodes = [rlp.decode(bytes.fromhex(n[2:])) for n in proof["transactionProof"]]
    assert keccak(HexaryTrie.get_from_proof(fields[4], key, tx_nodes)) == bytes(tx["hash"])
    assert node_handle.rpc("coledger_getReceiptProof", ["0x" + "00" * 32])["result"] is None


def test_evm_mine_seals_every_pending_transaction_in_one_block(
    node_factory: Any, node_artifacts: dict[str, Any]
) -> None:
    handle = node_factory(block_period=3600, allow_time_travel=True)
    w3, boot = handle.w3, handle.bootstrap
    counter_addr = to_checksum_address(generate_contract_address(
        bytes.fromhex(boot.address[2:]), 1))
    counter = w3.eth.contract(address=counter_addr, abi=node_artifacts["Counter"]["abi"])
    base = {"chainId": 1337, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
    raws = [boot.sign_transaction({**base, "nonce": 0, "gas": 2_000_000,
                                   "data": node_artifacts["AllowList"]["bytecode"]}),
            boot.sign_transaction({**base, "nonce": 1, "gas": 2_000_000,
                                   "data": node_artifacts["Counter"]["bytecode"]})]
    data = counter.encode_abi("increment", [])
    raws += [boot.sign_transaction({**base, "nonce": 2 + n, "to": counter_addr, "data": data,
                                    "gas": 100_000}) for n in range(40)]
    hashes = [w3.eth.send_raw_transaction(r.raw_transaction) for r in raws]
    assert handle.rpc("evm_mine", [])["result"] == "0x1"
    receipts = [w3.eth.get_transaction_receipt(h) for h in hashes]
    assert all(r["status"] == 1 and r["blockNumber"] == 1 for r in receipts)
    assert [r["transactionIndex"] for r in receipts] == list(range(42))
    assert counter.functions.count().call() == 40


def test_block_of_every_served_receipt_is_readable_at_once(node_handle: Any, deployed: Any) -> None:
    """A receipt is served once its block is committed and published as the head.

    (Regression: the sealer commits, then publishes the head; a client that got a receipt in
    between was told the block number was "beyond the head".)
    """
    w3, boot = node_handle.w3, node_handle.bootstrap
    _, counter = deployed
    for _ in range(150):
        receipt = node_handle.send(boot, {"to": counter.address, "gas": 100_000,
                                          "data": counter.encode_abi("increment", [])})
        block = w3.eth.get_block(receipt["blockNumber"])
        assert block["hash"] == receipt["blockHash"]
        # ... and the head already includes it, so logs "up to latest" contain the receipt's.
        assert w3.eth.block_number >= receipt["blockNumber"]
