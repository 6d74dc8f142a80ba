"""The struct logger against a reference: anvil (Foundry's node, its own EVM in Rust) traces the
same transactions from the same key and nonces, so addresses, gas and stacks must agree step by
step. What may differ is stated in node/struct_log.py (gasCost of CALL-family steps)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from web3 import Web3

from tests.conftest import ANVIL, free_port, wait_for_rpc
from tests.node.test_rpc_trace import _initcode, _runtime_calling

_CALLS = ("CALL", "STATICCALL", "DELEGATECALL", "CALLCODE", "CREATE", "CREATE2")


@pytest.fixture
def anvil() -> Any:
    if not ANVIL.exists():
        pytest.fail("node_modules/.bin/anvil is missing (npm ci): the reference is required")
    port = free_port()
    proc = subprocess.Popen([str(ANVIL), "--port", str(port), "--base-fee", "0", "--gas-price",
                             "0", "--hardfork", "prague", "--steps-tracing", "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield wait_for_rpc(f"http://127.0.0.1:{port}", proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _play(w3: Web3, key: Any, chain_id: int, artifacts: dict[str, Any]) -> Any:
    """Deploy AllowList, Counter and the caller, then call it: the same four transactions."""
    def send(tx: dict[str, Any]) -> Any:
        tx = {"chainId": chain_id, "nonce": w3.eth.get_transaction_count(key.address),
              "gas": 3_000_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, **tx}
        h = w3.eth.send_raw_transaction(key.sign_transaction(tx).raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(h, timeout=30, poll_latency=0.02)
        assert receipt["status"] == 1
        return receipt
    send({"data": artifacts["AllowList"]["bytecode"]})
    counter = send({"data": artifacts["Counter"]["bytecode"]})["contractAddress"]
    caller = send({"data": "0x" + _initcode(_runtime_calling(counter)).hex()})["contractAddress"]
    return send({"to": caller, "gas": 300_000})


def _steps(w3: Web3, receipt: Any) -> list[dict[str, Any]]:
    out = w3.provider.make_request("debug_traceTransaction",  # type: ignore[arg-type]
                                   [receipt["transactionHash"].to_0x_hex(), {}])
    return out["result"]["structLogs"]


def test_every_step_matches_anvils_struct_log(node_handle: Any, node_artifacts: dict[str, Any],
                                              anvil: Web3) -> None:
    key = node_handle.bootstrap
    anvil.provider.make_request("anvil_setBalance", [key.address, hex(10**24)])  # type: ignore
    ours = _steps(node_handle.w3, _play(node_handle.w3, key, node_handle.config.chain_id,
                                        node_artifacts))
    theirs = _steps(anvil, _play(anvil, key, anvil.eth.chain_id, node_artifacts))
    assert len(ours) == len(theirs) > 50
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        where = f"step {i} ({a['op']} at pc {a['pc']}, depth {a['depth']})"
        assert (a["pc"], a["op"], a["depth"], a["gas"]) == \
            (b["pc"], b["op"], b["depth"], b["gas"]), where
        assert [int(v, 16) for v in a["stack"]] == [int(v, 16) for v in b["stack"]], where
        if a["op"] not in _CALLS:
            assert a["gasCost"] == b["gasCost"], where
        if "storage" in b:
            assert {int(k, 16): int(v, 16) for k, v in a["storage"].items()} == \
                {int(k, 16): int(v, 16) for k, v in b["storage"].items()}, where
