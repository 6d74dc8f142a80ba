"""Four validators, transactions spread over them: every validator serves the same chain."""

from __future__ import annotations

import time

import pytest

from tests.network.conftest import Net
from tests.network.load import (
    RpcFailure,
    chain_digest,
    rpc,
    sign,
    wait_for_receipts,
    wait_height,
)

pytestmark = [pytest.mark.network, pytest.mark.slow]


def test_round_robin_transactions_give_one_chain_on_every_validator(net: Net) -> None:
    urls, members = net.urls, net.members
    hashes: list[str] = []
    nonces = {m.address: int(rpc(urls[0], "eth_getTransactionCount", [m.address, "pending"]), 16)
              for m in members}
    # 4 senders x 15 transactions, interleaved; sender i talks to validator i
    for k in range(15):
        for i, m in enumerate(members):
            raw = sign(m, nonces[m.address], net.contract, k.to_bytes(32, "big") + bytes([i]))
            nonces[m.address] += 1
            hashes.append(rpc(urls[i % len(urls)], "eth_sendRawTransaction", ["0x" + raw.hex()]))
    receipts = wait_for_receipts(urls[3], hashes)
    assert all(r["status"] == "0x1" for r in receipts.values())
    assert all(len(r["logs"]) == 1 for r in receipts.values())
    # then a sender changes validator once its earlier transactions are committed
    m = members[0]
    raw = sign(m, nonces[m.address], net.contract, b"moved")
    moved = rpc(urls[2], "eth_sendRawTransaction", ["0x" + raw.hex()])
    wait_for_receipts(urls[1], [moved])

    head = min(int(rpc(u, "eth_blockNumber"), 16) for u in urls)
    for u in urls:
        wait_height(u, head)
    digests = [chain_digest(u, head) for u in urls]
    assert all(d == digests[0] for d in digests[1:])
    blocks_with_txs = [d for d in digests[0][:-1] if d[8]]
    assert len(blocks_with_txs) >= 2  # really spread over several blocks
    miners = {d[7] for d in blocks_with_txs}
    assert len(miners) >= 2, "blocks proposed by more than one validator"
    # BFT time: strictly increasing block timestamps
    times = [int(d[6], 16) for d in digests[0][:-1]]
    assert all(b > a for a, b in zip(times, times[1:], strict=False))


def test_refusals_name_the_reason_on_any_validator(net: Net) -> None:
    from eth_account import Account

    stranger = Account.create()
    raw = sign(stranger, 0, net.contract, b"x")
    with pytest.raises(RpcFailure) as denied:
        rpc(net.urls[2], "eth_sendRawTransaction", ["0x" + raw.hex()])
    assert denied.value.code == -32003 and "not allowed by consortium" in str(denied.value).lower()

    m = net.members[1]
    nonce = int(rpc(net.urls[1], "eth_getTransactionCount", [m.address, "pending"]), 16)
    with pytest.raises(RpcFailure, match="nonce too high"):
        rpc(net.urls[1], "eth_sendRawTransaction",
            ["0x" + sign(m, nonce + 5, net.contract, b"gap").hex()])
    with pytest.raises(RpcFailure, match="nonce too low"):
        rpc(net.urls[1], "eth_sendRawTransaction",
            ["0x" + sign(m, max(nonce - 1, 0), net.contract, b"old").hex()])
    raw_ok = sign(m, nonce, net.contract, b"once")
    h = rpc(net.urls[1], "eth_sendRawTransaction", ["0x" + raw_ok.hex()])
    with pytest.raises(RpcFailure, match="already known"):
        rpc(net.urls[1], "eth_sendRawTransaction", ["0x" + raw_ok.hex()])
    wait_for_receipts(net.urls[1], [h])
    with pytest.raises(RpcFailure, match="(?i)chain"):
        from eth_account import Account as A

        other = A.sign_transaction({"nonce": nonce + 1, "gas": 100_000, "gasPrice": 0,
                                    "to": net.contract, "data": b"", "chainId": 1},
                                   m.key).raw_transaction
        rpc(net.urls[0], "eth_sendRawTransaction", ["0x" + bytes(other).hex()])
    with pytest.raises(RpcFailure, match="(?i)gas"):
        rpc(net.urls[0], "eth_sendRawTransaction",
            ["0x" + sign(m, nonce + 1, net.contract, b"", gas=100).hex()])


def test_time_travel_does_not_exist_and_finality_is_the_head(net: Net) -> None:
    with pytest.raises(RpcFailure, match="does not exist on a consortium network"):
        rpc(net.urls[0], "evm_increaseTime", [3600])
    with pytest.raises(RpcFailure, match="does not exist on a consortium network"):
        rpc(net.urls[0], "evm_mine", [])
    latest = rpc(net.urls[0], "eth_getBlockByNumber", ["latest", False])
    for tag in ("safe", "finalized"):
        b = rpc(net.urls[0], "eth_getBlockByNumber", [tag, False])
        assert int(b["number"], 16) >= int(latest["number"], 16)
    info = rpc(net.urls[0], "coledger_nodeInfo")
    assert info["consensus"] == "cometbft" and info["peers"] == 3
    assert int(rpc(net.urls[0], "net_peerCount"), 16) == 3


def test_idle_network_is_quiet(net: Net) -> None:
    time.sleep(2)  # the block after the last transaction block (its app hash) comes first
    before = [int(rpc(u, "eth_blockNumber"), 16) for u in net.urls]
    time.sleep(4)
    after = [int(rpc(u, "eth_blockNumber"), 16) for u in net.urls]
    assert after == before, "no empty blocks while idle (create_empty_blocks = false)"


def test_auditor_replays_the_network_from_any_validator(net: Net, tmp_path) -> None:
    import json
    import subprocess
    import sys

    head = int(rpc(net.urls[2], "eth_blockNumber"), 16)
    done = subprocess.run(
        [sys.executable, "-m", "client.cli", "audit", "replay", "--rpc", net.urls[2],
         "--out", str(tmp_path / "audit"), "--quiet"],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replay ok" in done.stdout and "CometBFT commits" in done.stdout
    report = json.loads((tmp_path / "audit" / "replay.json").read_text())
    assert report["blocks"] >= head
    on_chain = sum(len(rpc(net.urls[0], "eth_getBlockByNumber", [hex(n), False])["transactions"])
                   for n in range(head + 1))
    assert on_chain >= 1 and report["transactions"] >= on_chain
