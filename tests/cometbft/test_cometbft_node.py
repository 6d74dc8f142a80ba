"""The ABCI server under the real CometBFT binary: handshake, blocks, queries, failures."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.cometbft.abci_server import AbciServer, ConnectionLost
from node.cometbft.proto import abci

from .harness import b64, free_port, height, node_settings, patch_config, rpc, start_process, stop_process, wait_until
from .kvapp import CODE_BAD_TX, KvApp

pytestmark = pytest.mark.e2e


@dataclass
class Node:
    app: KvApp
    server: AbciServer
    proc: subprocess.Popen[bytes]
    rpc_port: int
    log: Path
    lost: list[ConnectionLost]


def run_node(binary: Path, home: Path, app: KvApp) -> Iterator[Node]:
    subprocess.run([str(binary), "init", "--home", str(home)], check=True, capture_output=True)
    lost: list[ConnectionLost] = []
    server = AbciServer(app, f"unix://{home}/abci.sock", on_connection_lost=lost.append)
    rpc_port = free_port()
    settings = node_settings(proxy_app=f"unix://{home}/abci.sock", rpc_port=rpc_port, p2p_port=free_port())
    patch_config(home / "config" / "config.toml", settings)
    server.start()  # before CometBFT: it exits if the app is not there
    log = home / "cometbft.log"
    proc = start_process([str(binary), "start", "--home", str(home)], log)
    try:
        wait_until(lambda: height(rpc_port) >= 1, 30, "the first block", [log])
        yield Node(app, server, proc, rpc_port, log, lost)
    finally:
        stop_process(proc)
        server.stop()


@pytest.fixture(scope="module")
def node(cometbft_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    yield from run_node(cometbft_bin, tmp_path_factory.mktemp("cmt"), KvApp())


@pytest.fixture
def own_node(cometbft_bin: Path, tmp_path: Path) -> Iterator[Node]:
    yield from run_node(cometbft_bin, tmp_path, Exploding())


class Exploding(KvApp):
    """FinalizeBlock fails on the tx `boom=1`, as a consensus fault in the ledger would."""

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        if b"boom=1" in req.txs:
            raise RuntimeError("ledger invariant broken at execution")
        return super().finalize_block(req)


def test_handshake_opens_four_connections_and_starts_with_info(node: Node) -> None:
    assert node.server.connection_count == 4
    assert node.app.calls[0] == "info"
    assert "init_chain" in node.app.calls and node.app.calls.index("init_chain") > 0


def test_committed_tx_is_executed_and_queryable(node: Node) -> None:
    result = rpc(node.rpc_port, "broadcast_tx_commit", tx=b64(b"color=blue"))
    assert result["check_tx"]["code"] == 0 and result["tx_result"]["code"] == 0
    committed_at = int(result["height"])
    assert node.app.finalized[committed_at] == [b"color=blue"]
    wait_until(lambda: node.app.height >= committed_at, 5, "Commit", [node.log])
    answer = rpc(node.rpc_port, "abci_query", data=b"color".hex())["response"]
    assert answer["code"] == 0 and answer["value"] == b64(b"blue")
    assert int(answer["height"]) >= committed_at


def test_next_header_commits_to_the_apps_hash(node: Node) -> None:
    result = rpc(node.rpc_port, "broadcast_tx_commit", tx=b64(b"shape=round"))
    committed_at = int(result["height"])
    # The app hash changed, so CometBFT makes one more block (even with create_empty_blocks off)
    wait_until(lambda: height(node.rpc_port) > committed_at, 10, "the proof block", [node.log])
    header = rpc(node.rpc_port, "block", height=str(committed_at + 1))["block"]["header"]
    assert bytes.fromhex(header["app_hash"]) == node.app.app_hashes[committed_at]


def test_check_tx_rejection_keeps_the_tx_out_of_blocks(node: Node) -> None:
    result = rpc(node.rpc_port, "broadcast_tx_sync", tx=b64(b"no-equals-sign"))
    assert result["code"] == CODE_BAD_TX and "key=value" in result["log"]
    assert all(b"no-equals-sign" not in txs for txs in node.app.finalized.values())


def test_app_exception_in_finalize_block_stops_cometbft(own_node: Node) -> None:
    rpc(own_node.rpc_port, "broadcast_tx_sync", tx=b64(b"boom=1"))
    try:
        own_node.proc.wait(20)
    except subprocess.TimeoutExpired:
        pytest.fail("CometBFT kept running after FinalizeBlock returned an exception")
    # v0.38 exits 0 even on a consensus fault: a supervisor cannot tell it from a clean stop by the code.
    assert own_node.proc.returncode == 0
    assert "ledger invariant broken at execution" in own_node.log.read_text(errors="replace")
    wait_until(lambda: len(own_node.lost) == 4, 5, "all four connections to drop")


def test_killed_cometbft_drops_connections_in_its_opening_order(own_node: Node) -> None:
    assert rpc(own_node.rpc_port, "broadcast_tx_sync", tx=b64(b"k=v"))["code"] == 0
    own_node.proc.kill()
    own_node.proc.wait(5)
    wait_until(lambda: len(own_node.lost) == 4, 5, "all four connections to drop")
    kinds = {c.number: c.kind for c in own_node.lost}
    assert kinds == {1: "query", 2: "unknown", 3: "mempool", 4: "consensus"}  # 2 = snapshot, unused
    assert own_node.server.connection_count == 0
