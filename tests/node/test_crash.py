"""kill -9 under load loses nothing that was served: receipts and state roots survive."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data_dir: Path, bootstrap: str, port: int) -> subprocess.Popen[bytes]:
    key_file = data_dir.parent / "validator.key"
    key_file.write_text("22" * 32)
    proc = subprocess.Popen(
        [sys.executable, "-m", "node", "--data-dir", str(data_dir), "--port", str(port),
         "--chain-id", "1337", "--block-period", "0", "--bootstrap-address", bootstrap,
         "--validator-key-file", str(key_file)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert line.startswith("coledger node listening on http://127.0.0.1:"), \
        line + proc.stderr.read().decode() if proc.poll() is not None else line
    return proc


class Rpc:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                for i, (m, p) in enumerate(calls)]
        out = self.session.post(self.url, json=body, timeout=60).json()
        return [r for r in sorted(out, key=lambda r: r["id"])]

    def one(self, method: str, params: list[Any]) -> Any:
        out = self.batch([(method, params)])[0]
        assert "error" not in out, out
        return out["result"]


def _wait_receipts(rpc: Rpc, hashes: list[str]) -> list[Any]:
    deadline = time.monotonic() + 60
    while True:
        got = [r.get("result") for r in
               rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])]
        if all(got):
            return got
        assert time.monotonic() < deadline, "receipts not served in time"
        time.sleep(0.02)


@pytest.mark.e2e
def test_sigkill_mid_load_keeps_every_served_receipt_and_state_root(
    tmp_path: Path, node_artifacts: dict[str, Any]
) -> None:
    boot = Account.create()
    data_dir = tmp_path / "chain"
    port = _free_port()
    proc = _start(data_dir, boot.address, port)
    try:
        rpc = Rpc(f"http://127.0.0.1:{port}")
        base = {"chainId": 1337, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
        deploys = [boot.sign_transaction({**base, "nonce": n, "gas": 2_000_000,
                                          "data": node_artifacts[name]["bytecode"]})
                   for n, name in enumerate(("AllowList", "Counter"))]
        hashes = [rpc.one("eth_sendRawTransaction", [d.raw_transaction.to_0x_hex()])
                  for d in deploys]
        counter = _wait_receipts(rpc, hashes)[1]["contractAddress"]
        increment = "0xd09de08a"  # increment()
        nonce = 2
        served: list[Any] = []
        blocks: dict[int, Any] = {}

        def send_batch(size: int) -> list[str]:
            nonlocal nonce
            raws = [boot.sign_transaction({**base, "nonce": nonce + i, "to": counter,
                                           "gas": 100_000, "data": increment})
                    .raw_transaction.to_0x_hex() for i in range(size)]
            nonce += size
            out = rpc.batch([("eth_sendRawTransaction", [r]) for r in raws])
            assert all("result" in r for r in out), out
            return [r["result"] for r in out]

        while len(served) < 240 or len(blocks) < 5:
            receipts = _wait_receipts(rpc, send_batch(40))
            served.extend(receipts)
            for r in receipts:
                n = int(r["blockNumber"], 16)
                if n not in blocks:
                    blocks[n] = rpc.one("eth_getBlockByNumber", [hex(n), False])
        send_batch(60)  # in flight while we kill
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

        proc = _start(data_dir, boot.address, port)
        rpc = Rpc(f"http://127.0.0.1:{port}")
        after = rpc.batch([("eth_getTransactionReceipt", [r["transactionHash"]])
                           for r in served])
        assert [a["result"] for a in after] == served
        for n, block in blocks.items():
            again = rpc.one("eth_getBlockByNumber", [hex(n), False])
            assert (again["hash"], again["stateRoot"]) == (block["hash"], block["stateRoot"])
        head = int(rpc.one("eth_blockNumber", []), 16)
        assert head >= max(blocks)
        count = int(rpc.one("eth_call", [{"to": counter, "data": "0x06661abd"}, "latest"]), 16)
        assert count >= len(served)  # count() includes every served increment
        # the restarted node keeps sealing on top of the recovered head
        nxt = int(rpc.one("eth_getTransactionCount", [boot.address, "latest"]), 16)
        raw = boot.sign_transaction({**base, "nonce": nxt, "to": counter, "gas": 100_000,
                                     "data": increment}).raw_transaction.to_0x_hex()
        receipt = _wait_receipts(rpc, [rpc.one("eth_sendRawTransaction", [raw])])[0]
        assert int(receipt["blockNumber"], 16) == head + 1
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
