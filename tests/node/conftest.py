"""Fixtures for the embedded node tests: compiled test contracts, in-process nodes, signing.

Fixture names are prefixed (``node_``) so they never shadow the shared chain fixtures in
tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from node import EmbeddedNode, NodeConfig

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def node_artifacts() -> dict[str, Any]:
    """ABI + bytecode of tests/node/contracts.sol, compiled with solc-js once per session."""
    out = subprocess.run(["node", str(HERE / "compile.js")], check=True, capture_output=True,
                         timeout=120)
    return json.loads(out.stdout)


@dataclass
class NodeHandle:
    """A running in-process node plus a connected web3 and the bootstrap account."""

    node: EmbeddedNode
    w3: Web3
    bootstrap: LocalAccount
    config: NodeConfig
    nonces: dict[str, int] = field(default_factory=dict)

    def send(self, account: LocalAccount, tx: dict[str, Any], wait: bool = True) -> Any:
        """Sign locally (EIP-1559 unless gasPrice given) and send raw; wait for receipt."""
        tx = dict(tx)
        tx.setdefault("chainId", self.config.chain_id)
        tx.setdefault("nonce", self.w3.eth.get_transaction_count(account.address, "pending"))
        tx.setdefault("gas", 1_000_000)
        if "gasPrice" not in tx:
            tx.setdefault("maxFeePerGas", 0)
            tx.setdefault("maxPriorityFeePerGas", 0)
        signed = account.sign_transaction(tx)
        h = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        if not wait:
            return h
        return self.w3.eth.wait_for_transaction_receipt(h, timeout=30, poll_latency=0.02)

    def deploy(self, account: LocalAccount, artifact: dict[str, Any]) -> Any:
        receipt = self.send(account, {"data": artifact["bytecode"], "gas": 3_000_000})
        assert receipt["status"] == 1
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])

    def rpc(self, method: str, params: list[Any]) -> Any:
        return self.w3.provider.make_request(method, params)  # type: ignore[arg-type]


def make_config(data_dir: Path, bootstrap: LocalAccount, **kw: Any) -> NodeConfig:
    kw.setdefault("validator_key", bytes.fromhex("11" * 32))
    kw.setdefault("port", 0)
    kw.setdefault("block_period", 0)
    return NodeConfig(data_dir=data_dir, bootstrap_address=bootstrap.address, **kw)


@pytest.fixture
def node_factory(tmp_path: Path) -> Iterator[Callable[..., NodeHandle]]:
    """Start in-process nodes on fresh (or given) data dirs; all stopped at teardown."""
    started: list[EmbeddedNode] = []

    def start(data_dir: Path | None = None, bootstrap: LocalAccount | None = None,
              **kw: Any) -> NodeHandle:
        bootstrap = bootstrap or Account.create()
        cfg = make_config(data_dir or tmp_path / f"node{len(started)}", bootstrap, **kw)
        node = EmbeddedNode(cfg)
        node.start()
        started.append(node)
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
        return NodeHandle(node, w3, bootstrap, cfg)

    yield start
    for n in started:
        n.stop()


@pytest.fixture
def node_handle(node_factory: Callable[..., NodeHandle]) -> NodeHandle:
    """One node with time travel on; the bootstrap account may transact (no consortium)."""
    return node_factory(allow_time_travel=True)


@pytest.fixture
def node_tmp_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "data"
    yield d
    shutil.rmtree(d, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("COLEDGER_NODE_TESTS", "1")
