"""Four validators, transactions spread over them: every validator serves the same chain."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from websockets.sync.client import connect

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
    # (offering a tip, as cast and Hardhat do: every validator accepts it and charges nothing)
    m = members[0]
    raw = sign(m, nonces[m.address], net.contract, b"moved",
               fees={"maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9})
    moved = rpc(urls[2], "eth_sendRawTransaction", ["0x" + raw.hex()])
    assert wait_for_receipts(urls[1], [moved])[moved]["effectiveGasPrice"] == "0x0"
    assert all(rpc(u, "eth_getBalance", [m.address, "latest"]) == "0x0" for u in urls)

    head = min(int(rpc(u, "eth_blockNumber"), 16) for u in urls)
    for u in urls:
        wait_height(u, head)
    digests = [chain_digest(u, head) for u in urls]
    assert all(d == digests[0] for d in digests[1:])
    # ... including validator 3, which executed every block with stock py-evm
    assert "stock py-evm EVM" in (net.root / "validator-3" / "validator.log").read_text()
    assert "stock py-evm EVM" not in (net.root / "validator-0" / "validator.log").read_text()
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
    """Re-execution plus every block's CometBFT commit, checked against the genesis the
    auditor holds; without that genesis the replay refuses to run on a network."""
    import json
    import subprocess
    import sys

    head = int(rpc(net.urls[2], "eth_blockNumber"), 16)
    genesis = net.root / "validator-1" / "cometbft" / "config" / "genesis.json"
    done = subprocess.run(
        [sys.executable, "-m", "client.cli", "audit", "replay", "--rpc", net.urls[2],
         "--out", str(tmp_path / "audit"), "--quiet", "--network-genesis", str(genesis)],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replay ok" in done.stdout and "verified against the 4 validators" in done.stdout
    report = json.loads((tmp_path / "audit" / "replay.json").read_text())
    assert report["blocks"] >= head
    assert report["commits"]["checked"] == report["blocks"]
    assert report["commits"]["min_signed_power"] * 3 > report["commits"]["total_power"] * 2
    on_chain = sum(len(rpc(net.urls[0], "eth_getBlockByNumber", [hex(n), False])["transactions"])
                   for n in range(head + 1))
    assert on_chain >= 1 and report["transactions"] >= on_chain

    refused = subprocess.run(
        [sys.executable, "-m", "client.cli", "audit", "replay", "--rpc", net.urls[2],
         "--out", str(tmp_path / "audit2"), "--quiet"],
        capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 2
    assert "--network-genesis" in refused.stderr


def _post(url: str, body: object) -> object:
    import json
    import urllib.request

    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read())


def test_a_batch_of_raw_transactions_is_answered_item_by_item_in_order(net: Net) -> None:
    """The node hands a JSON-RPC batch of raw transactions to CometBFT in one round trip; each
    item still gets exactly the answer it would get alone, in order."""
    url = net.urls[1]
    m = net.members[1]
    n = int(rpc(url, "eth_getTransactionCount", [m.address, "pending"]), 16)
    a, b, c = (sign(m, n + k, net.contract, b"batch" + bytes([k])) for k in range(3))
    gap = sign(m, n + 9, net.contract, b"gap")

    def item(i: int, raw: object, **extra: object) -> dict[str, object]:
        return {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
                "params": [raw], **extra}

    answers = _post(url, [
        item(1, "0x" + a.hex()),
        item(2, "0xzz"),                                    # not hex
        item(3, "0x" + gap.hex()),                          # nonce gap
        item(4, "0x" + b.hex()),
        item(5, "0x" + a.hex()),                            # the same transaction again
        {"jsonrpc": "2.0", "method": "eth_sendRawTransaction", "params": ["0x" + c.hex()]},
        {"jsonrpc": "2.0", "id": 7, "method": "eth_blockNumber", "params": []},
    ])
    assert isinstance(answers, list)
    by_id = {r["id"]: r for r in answers}
    assert len(answers) == 6 and [r["id"] for r in answers] == [1, 2, 3, 4, 5, 7]
    assert by_id[1]["result"].startswith("0x") and len(by_id[1]["result"]) == 66
    assert by_id[2]["error"]["code"] == -32602
    assert "nonce too high" in by_id[3]["error"]["message"]
    assert by_id[4]["result"] != by_id[1]["result"]
    assert "already known" in by_id[5]["error"]["message"]
    assert int(by_id[7]["result"], 16) >= 1
    receipts = wait_for_receipts(url, [by_id[1]["result"], by_id[4]["result"]])
    assert all(r["status"] == "0x1" for r in receipts.values())
    for u in net.urls:  # the notification's transaction was taken too
        wait_height(u, int(rpc(url, "eth_blockNumber"), 16))
    deadline = time.monotonic() + 60
    while int(rpc(url, "eth_getTransactionCount", [m.address, "latest"]), 16) < n + 3:
        assert time.monotonic() < deadline, "the notification's transaction was not committed"
        time.sleep(0.2)


class _TamperingProxy:
    """A man in the middle between the auditor and a validator: forwards JSON-RPC and rewrites
    the CometBFT commit of one block the way a lying node would serve it."""

    def __init__(self, target: str, block: int, tamper) -> None:
        import json
        import threading
        import urllib.request
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = json.loads(body)
                req = urllib.request.Request(target, body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - loopback
                    answer = json.loads(resp.read())
                calls = request if isinstance(request, list) else [request]
                replies = answer if isinstance(answer, list) else [answer]
                methods = {c.get("id"): c for c in calls}
                for reply in replies:
                    call = methods.get(reply.get("id"), {})
                    if (call.get("method") == "coledger_getBlockCommit"
                            and call.get("params") == [hex(block)] and reply.get("result")):
                        tamper(reply["result"]["signedHeader"])
                out = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _forge_first_signature(signed: dict) -> None:
    import base64

    sig = next(s for s in signed["commit"]["signatures"] if s["block_id_flag"] == 2)
    raw = bytearray(base64.b64decode(sig["signature"]))
    raw[0] ^= 0x01
    sig["signature"] = base64.b64encode(bytes(raw)).decode()


def _drop_two_signatures(signed: dict) -> None:
    for sig in [s for s in signed["commit"]["signatures"] if s["block_id_flag"] == 2][:2]:
        sig.update(block_id_flag=1, validator_address="", timestamp="0001-01-01T00:00:00Z",
                   signature=None)


@pytest.mark.parametrize("tamper, words", [
    (_forge_first_signature, "does not verify"),
    (_drop_two_signatures, "more than two thirds"),
], ids=["forged-signature", "below-two-thirds"])
def test_auditor_names_a_tampered_commit(net: Net, tmp_path, tamper, words) -> None:
    import json
    import subprocess
    import sys

    genesis = net.root / "validator-0" / "cometbft" / "config" / "genesis.json"
    proxy = _TamperingProxy(net.urls[1], 2, tamper)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "client.cli", "audit", "replay", "--rpc", proxy.url,
             "--out", str(tmp_path / "audit"), "--quiet", "--network-genesis", str(genesis)],
            capture_output=True, text=True, timeout=300, check=False)
    finally:
        proxy.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "DIVERGENCE at block 2, field commit" in done.stderr and words in done.stderr
    report = json.loads((tmp_path / "audit" / "replay.json").read_text())
    assert report["result"] == "diverged" and report["verified_through"] == 1


def test_a_stranger_node_cannot_peer_and_is_logged(net: Net, tmp_path) -> None:
    """A CometBFT node with the network's genesis but a key the consortium never listed dials
    validator 0: the app answers CometBFT's peer-filter query with a refusal, and logs it."""
    import json
    import shutil
    import subprocess

    from node.cometbft.home import load_validator_spec, patch_toml
    from node.cometbft.toolchain import cometbft_path

    binary = str(cometbft_path())
    home = tmp_path / "stranger"
    subprocess.run([binary, "init", "--home", str(home)], check=True, capture_output=True)
    stranger_id = subprocess.run([binary, "show-node-id", "--home", str(home)], check=True,
                                 capture_output=True, text=True).stdout.strip()
    shutil.copyfile(net.root / "validator-0" / "cometbft" / "config" / "genesis.json",
                home / "config" / "genesis.json")
    target = load_validator_spec(net.root / "validator-0")
    config = home / "config" / "config.toml"
    config.write_text(patch_toml(config.read_text(), {
        "": {"proxy_app": json.dumps("noop")},
        "rpc": {"laddr": json.dumps("tcp://127.0.0.61:26657")},
        "p2p": {"laddr": json.dumps("tcp://127.0.0.61:26656"),
                "persistent_peers": json.dumps(target.p2p_address),
                "addr_book_strict": "false", "allow_duplicate_ip": "true", "pex": "false",
                "persistent_peers_max_dial_period": json.dumps("1s")},
    }))
    log = net.root / "validator-0" / "validator.log"
    proc = subprocess.Popen([binary, "start", "--home", str(home)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while f"refused peer {stranger_id}" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, "validator 0 never logged the stranger's refusal"
            assert proc.poll() is None, "the stranger node exited"
            time.sleep(0.5)
        peers = _post(f"http://{target.host}:{target.ports.engine_rpc}",
                      {"jsonrpc": "2.0", "id": 1, "method": "net_info", "params": {}})
        ids = [p["node_info"]["id"] for p in peers["result"]["peers"]]  # type: ignore[index]
        assert stranger_id not in ids and len(ids) == 3, ids
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_websocket_subscriptions_on_a_validator_see_what_another_validator_took_in(
        net: Net) -> None:
    """Every validator serves WebSocket JSON-RPC: a transaction sent to validator 1 is reported
    by validator 2's subscriptions as pending (CometBFT gossiped it to its CheckTx), then its
    log and its block as they commit there."""
    m = net.members[1]
    with connect(net.urls[2].replace("http://", "ws://")) as ws:
        def call(rid: int, method: str, params: list[Any]) -> Any:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                                "params": params}))
            while True:
                msg = json.loads(ws.recv(timeout=60))
                if msg.get("id") == rid:
                    return msg["result"]

        heads = call(1, "eth_subscribe", ["newHeads"])
        logs = call(2, "eth_subscribe", ["logs", {"address": net.contract}])
        pending = call(3, "eth_subscribe", ["newPendingTransactions"])
        nonce = int(rpc(net.urls[1], "eth_getTransactionCount", [m.address, "pending"]), 16)
        raw = sign(m, nonce, net.contract, b"websocket".rjust(32, b"\0"))
        tx_hash = rpc(net.urls[1], "eth_sendRawTransaction", ["0x" + raw.hex()])
        receipt = wait_for_receipts(net.urls[1], [tx_hash])[tx_hash]
        seen: dict[str, list[Any]] = {heads: [], logs: [], pending: []}
        while not seen[logs] or not seen[heads] or \
                int(seen[heads][-1]["number"], 16) < int(receipt["blockNumber"], 16):
            note = json.loads(ws.recv(timeout=60))["params"]
            seen[note["subscription"]].append(note["result"])
    assert tx_hash in seen[pending]
    assert [(lg["transactionHash"], lg["removed"]) for lg in seen[logs]] == [(tx_hash, False)]
    block = rpc(net.urls[2], "eth_getBlockByNumber", [receipt["blockNumber"], False])
    assert block["hash"] in [h["hash"] for h in seen[heads]]
