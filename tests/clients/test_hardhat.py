"""Hardhat 2 with its defaults against the embedded node: the `embedded` network of
hardhat.config.js (no gasPrice) sends a transaction with automatic gas and fees."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from tests.clients.conftest import ToolRun, run_tool
from tests.conftest import ROOT, ChainHandle

INCREMENT = "0xd09de08a"  # Counter.increment()
REFUSED = "not allowed by Consortium"


def _hardhat(env: dict[str, str], key: str, target: str) -> ToolRun:
    return run_tool(
        [str(ROOT / "node_modules" / ".bin" / "hardhat"), "run", "--no-compile", "--network",
         "embedded", "tests/clients/js/hardhat_send.js"],
        {"COLEDGER_RPC_URL": env["COLEDGER_RPC_URL"], "COLEDGER_CHAIN_ID":
         env["COLEDGER_CHAIN_ID"], "COLEDGER_PRIVATE_KEY": key, "COLEDGER_TARGET": target,
         "COLEDGER_DATA": INCREMENT, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"})


@pytest.fixture(scope="module")
def hardhat_env(tool_env: Callable[[str], dict[str, str]], chain: ChainHandle,
                counter_artifact: Path) -> dict[str, str]:
    """A member's environment plus a Counter it deployed (from Python: Hardhat only sends)."""
    env = tool_env("hardhat")
    member = Account.from_key(env["COLEDGER_MEMBER_KEY"])
    artifact = json.loads(counter_artifact.read_text())
    w3 = chain.w3
    signed = member.sign_transaction({
        "chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(member.address),
        "gas": 1_000_000, "gasPrice": 0, "data": artifact["bytecode"]})
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30, poll_latency=0.05)
    env["COUNTER"] = str(receipt["contractAddress"])
    return env


def test_hardhat_default_network_sends_with_automatic_fees(
        hardhat_env: dict[str, str], chain: ChainHandle) -> None:
    out = _hardhat(hardhat_env, hardhat_env["COLEDGER_MEMBER_KEY"], hardhat_env["COUNTER"])
    report: dict[str, Any] = out.report()
    assert report["receipt"]["status"] == "0x1"
    assert report["from"].lower() == hardhat_env["COLEDGER_MEMBER_ADDRESS"].lower()
    assert report["tx"]["type"] == "0x2"
    assert int(report["tx"]["maxPriorityFeePerGas"], 16) >= 1  # Hardhat's floor: a 1-wei tip
    assert report["receipt"]["effectiveGasPrice"] == "0x0"
    counter = chain.w3.eth.contract(address=Web3.to_checksum_address(hardhat_env["COUNTER"]),
                                    abi=[{"type": "function", "name": "count", "inputs": [],
                                          "outputs": [{"type": "uint256"}],
                                          "stateMutability": "view"}])
    assert counter.functions.count().call() == 1


def test_hardhat_stranger_is_refused_with_the_admission_reason(
        hardhat_env: dict[str, str]) -> None:
    out = _hardhat(hardhat_env, hardhat_env["COLEDGER_STRANGER_KEY"], hardhat_env["COUNTER"])
    assert out.returncode != 0
    assert REFUSED in out.stderr and hardhat_env["COLEDGER_STRANGER_ADDRESS"] in out.stderr
