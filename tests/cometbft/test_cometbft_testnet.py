"""Four validators, each with its own ABCI server and kv app, agree on blocks and app hashes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.cometbft.abci_server import AbciServer

from .harness import b64, free_port, height, node_settings, patch_config, rpc, start_process, stop_process, wait_until
from .kvapp import KvApp

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VALIDATORS = 4


@dataclass
class Validator:
    home: Path
    app: KvApp
    server: AbciServer
    rpc_port: int
    p2p_port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None


@pytest.fixture
def testnet(cometbft_bin: Path, tmp_path: Path) -> Iterator[list[Validator]]:
    out = tmp_path / "net"
    subprocess.run(
        [str(cometbft_bin), "testnet", "--v", str(VALIDATORS), "--o", str(out), "--starting-ip-address", "127.0.0.1"],
        check=True,
        capture_output=True,
    )
    validators = []
    for i in range(VALIDATORS):
        home = out / f"node{i}"
        app = KvApp()
        server = AbciServer(app, f"unix://{home}/abci.sock")
        validators.append(Validator(home, app, server, free_port(), free_port(), home / "cometbft.log"))
    ids = [
        subprocess.run([str(cometbft_bin), "show-node-id", "--home", str(v.home)], check=True, capture_output=True)
        .stdout.decode()
        .strip()
        for v in validators
    ]
    # testnet writes one p2p port for every node (they would be separate hosts): give each its own
    for i, v in enumerate(validators):
        peers = ",".join(f"{ids[j]}@127.0.0.1:{w.p2p_port}" for j, w in enumerate(validators) if j != i)
        settings = node_settings(
            proxy_app=v.server.address, rpc_port=v.rpc_port, p2p_port=v.p2p_port, persistent_peers=peers
        )
        patch_config(v.home / "config" / "config.toml", settings)
    try:
        for v in validators:
            v.server.start()
            v.proc = start_process([str(cometbft_bin), "start", "--home", str(v.home)], v.log)
        logs = [v.log for v in validators]
        wait_until(lambda: all(height(v.rpc_port) >= 1 for v in validators), 60, "block 1 on every node", logs)
        yield validators
    finally:
        for v in validators:
            if v.proc is not None:
                stop_process(v.proc)
            v.server.stop()


def test_four_validators_commit_the_same_blocks_and_app_hashes(testnet: list[Validator]) -> None:
    first, *others = testnet
    logs = [v.log for v in testnet]
    result = rpc(first.rpc_port, "broadcast_tx_commit", tx=b64(b"bank=alpha"))
    assert result["check_tx"]["code"] == 0 and result["tx_result"]["code"] == 0
    committed_at = int(result["height"])
    wait_until(lambda: all(v.app.height >= committed_at for v in testnet), 30, "every app to commit", logs)
    assert all(v.app.finalized[committed_at] == [b"bank=alpha"] for v in testnet)
    assert len({v.app.app_hashes[committed_at] for v in testnet}) == 1

    # A tx sent to another validator reaches the others through the mempool and consensus
    assert rpc(others[-1].rpc_port, "broadcast_tx_sync", tx=b64(b"bank=beta"))["code"] == 0
    wait_until(lambda: first.app.state.get(b"bank") == b"beta", 30, "gossiped tx to execute", logs)

    def beta_on_a_third_validator() -> bool:
        response = rpc(others[0].rpc_port, "abci_query", data=b"bank".hex())["response"]
        return bool(response["code"] == 0 and response["value"] == b64(b"beta"))

    wait_until(beta_on_a_third_validator, 30, "the query on a third validator", logs)

    # The commit of the first block was signed by more than 2/3 of four equal validators
    assert len(rpc(first.rpc_port, "validators", height=str(committed_at))["validators"]) == VALIDATORS
    signatures = rpc(first.rpc_port, "commit", height=str(committed_at))["signed_header"]["commit"]["signatures"]
    assert sum(1 for s in signatures if s["block_id_flag"] == 2) >= 3
    top = min(height(v.rpc_port) for v in testnet)
    hashes = {rpc(v.rpc_port, "block", height=str(top))["block_id"]["hash"] for v in testnet}
    assert len(hashes) == 1
