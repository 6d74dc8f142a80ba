"""A real embedded node subprocess and a varied chain on it, for the replay tests.

The chain has: the Consortium deployed through ``deploy_consortium`` (events), governance
proposals executed (events, storage), a small logging contract deployed and called with
legacy (type 0), access-list (type 1) and EIP-1559 (type 2) transactions, a reverted call
and an out-of-gas call (status 0), spread over several blocks.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount

from client.consortium import CharterMember, ConsortiumClient, Role, deploy_consortium
from client.tx import TransactionPipeline
from tests.conftest import free_port, start_embedded_node, wait_for_rpc

# runtime: calldatacopy(0,0,size); log1(0, size, caller); sstore(caller, calldata[0]); stop
LOG_RUNTIME = "366000600037" + "33366000a1" + "6000353355" + "00"


def initcode(runtime: str) -> str:
    n = len(runtime) // 2
    return "0x" + f"60{n:02x}600c60003960{n:02x}6000f3" + runtime


@dataclass
class Node:
    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    bootstrap: LocalAccount
    validator_key: bytes
    extra: tuple[str, ...] = ()
    log_contract: str = ""
    consortium: str = ""
    tx_blocks: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rpc(self, method: str, params: list[Any]) -> Any:
        r = requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                          "params": params}, timeout=30).json()
        if "error" in r:
            raise RuntimeError(f"{method}: {r['error']}")
        return r["result"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_node(data_dir: Path, bootstrap: LocalAccount | None = None,
               validator_key: bytes | None = None, *extra: str) -> Node:
    bootstrap = bootstrap or Account.create()
    validator_key = validator_key or os.urandom(32)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = start_embedded_node(data_dir, bootstrap.address, validator_key, port, *extra)
    node = Node(data_dir, port, proc, bootstrap, validator_key, tuple(extra))
    wait_for_rpc(node.url, proc)
    return node


def restart_on(node: Node, data_dir: Path) -> Node:
    """Serve ``data_dir`` (e.g. a tampered copy) with the same keys and options."""
    return start_node(data_dir, node.bootstrap, node.validator_key, *node.extra)


def _send_raw(node: Node, account: LocalAccount, txs: list[dict[str, Any]]) -> list[str]:
    """Send as ONE JSON-RPC batch, so that several transactions share a block."""
    body = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
             "params": [account.sign_transaction(tx).raw_transaction.to_0x_hex()]}
            for i, tx in enumerate(txs)]
    out = sorted(requests.post(node.url, json=body, timeout=30).json(), key=lambda r: r["id"])
    for r in out:
        if "error" in r:
            raise RuntimeError(f"eth_sendRawTransaction: {r['error']}")
    return [r["result"] for r in out]


def _wait(node: Node, hashes: list[str]) -> list[dict[str, Any]]:
    import time

    deadline = time.monotonic() + 30
    out: list[dict[str, Any]] = []
    for h in hashes:
        while True:
            r = node.rpc("eth_getTransactionReceipt", [h])
            if r is not None:
                out.append(r)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no receipt for {h}")
            time.sleep(0.02)
    return out


def build_varied_chain(node: Node) -> None:
    """Consortium + governance + logs + reverts over several blocks."""
    w3 = wait_for_rpc(node.url, node.proc)
    boot = node.bootstrap
    pipeline = TransactionPipeline(w3, boot)
    charter = [CharterMember("Lead", boot.address, frozenset({Role.OPERATOR, Role.GOVERNOR,
                                                               Role.LEAD_BANK}))]
    node.consortium, _ = deploy_consortium(pipeline, charter, threshold=1,
                                           proposal_lifetime=86_400)
    gov = ConsortiumClient(w3, node.consortium, pipeline)
    partner = Account.create()
    gov.propose_add_member("Partner", partner.address, [Role.PARTNER, Role.OPERATOR])
    gov.propose_set_parameter("lending.product.maxSingleDrawCap", 4_000_000)
    chain_id = int(node.rpc("eth_chainId", []), 16)
    nonce = int(node.rpc("eth_getTransactionCount", [boot.address, "pending"]), 16)
    (deploy,) = _wait(node, _send_raw(node, boot, [{
        "chainId": chain_id, "nonce": nonce, "gas": 300_000, "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0, "data": initcode(LOG_RUNTIME)}]))
    node.log_contract = deploy["contractAddress"]
    nonce += 1
    to = node.log_contract
    mixed = [
        # legacy EIP-155, offering a price as tools do (never charged: node.evm.ColedgerState)
        {"chainId": chain_id, "nonce": nonce, "gas": 100_000, "gasPrice": 10**9, "to": to,
         "data": "0x" + "11" * 32},
        # type 1 with an access list
        {"chainId": chain_id, "nonce": nonce + 1, "gas": 100_000, "gasPrice": 7, "to": to,
         "data": "0x" + "22" * 40, "accessList": [{"address": to, "storageKeys": [
             "0x" + int(boot.address, 16).to_bytes(32, "big").hex()]}]},
        # type 2 with a tip (what ethers, viem, cast and Hardhat add by default)
        {"chainId": chain_id, "nonce": nonce + 2, "gas": 100_000, "maxFeePerGas": 2 * 10**9,
         "maxPriorityFeePerGas": 10**9, "to": to, "data": "0x" + "33" * 32},
        # reverts: unknown selector on the Consortium (no fallback); alloy's 1-wei minimum tip
        {"chainId": chain_id, "nonce": nonce + 3, "gas": 100_000, "maxFeePerGas": 1,
         "maxPriorityFeePerGas": 1, "to": node.consortium, "data": "0xdeadbeef"},
        # out of gas in the logging contract
        {"chainId": chain_id, "nonce": nonce + 4, "gas": 22_000, "maxFeePerGas": 0,
         "maxPriorityFeePerGas": 0, "to": to, "data": "0x" + "44" * 32},
    ]
    receipts = _wait(node, _send_raw(node, boot, mixed))
    assert [r["status"] for r in receipts] == ["0x1", "0x1", "0x1", "0x0", "0x0"], receipts
    nonce += len(mixed)
    # a few more blocks, each with a logging call
    for k in range(3):
        (r,) = _wait(node, _send_raw(node, boot, [{
            "chainId": chain_id, "nonce": nonce + k, "gas": 100_000, "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0, "to": to, "data": "0x" + f"{k + 5:02x}" * 32}]))
        node.tx_blocks[r["transactionHash"]] = int(r["blockNumber"], 16)
