"""Benchmark: signed transactions per second, submit -> durable receipt.

Runs, side by side in one process:
1. the embedded coledger node (``python -m node`` subprocess, durable SQLite store,
   admission ON through a Consortium stand-in that allows everyone), fed with presigned
   transactions through JSON-RPC batches of eth_sendRawTransaction and batch receipt
   polling, many senders so that many transactions land in each block;
2. eth-tester's in-memory py-evm chain driven the plain web3.py way (build_transaction,
   sign, send_raw_transaction, wait_for_transaction_receipt, one after another).

The workload is the same contract call: one storage write (SSTORE of calldata at the
caller's slot).  Usage: ``python scripts/bench_node.py [--count 2000]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from _bench_rpc import ALLOW_RUNTIME, Rpc, free_port, initcode, interleave, submit_all  # noqa: E402

# runtime: PUSH1 0 CALLDATALOAD CALLER SSTORE STOP  -> storage[caller] = calldata[0:32]
STORE_RUNTIME = "6000353355" + "00"
STORE_ABI = [{"type": "function", "name": "store", "stateMutability": "nonpayable",
              "inputs": [{"name": "v", "type": "uint256"}], "outputs": []}]


def wait_receipts(rpc: Rpc, hashes: list[str]) -> list[Any]:
    while True:
        got = [r.get("result") for r in
               rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])]
        if all(got):
            return got
        time.sleep(0.01)


def bench_embedded(count: int, senders: int, batch: int, period: float) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="coledger-bench-"))
    boot = Account.create()
    key_file = work / "validator.key"
    key_file.write_text(os.urandom(32).hex())
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "node", "--data-dir", str(work / "chain"), "--port", str(port),
         "--chain-id", "1337", "--block-period", str(period), "--bootstrap-address",
         boot.address, "--validator-key-file", str(key_file)],
        cwd=ROOT, stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if "listening" not in line:
            raise RuntimeError(f"node did not start: {line!r}")
        rpc = Rpc(f"http://127.0.0.1:{port}")
        base = {"chainId": 1337, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
        deploy = [boot.sign_transaction({**base, "nonce": n, "gas": 200_000, "data": code})
                  .raw_transaction.to_0x_hex()
                  for n, code in enumerate((initcode(ALLOW_RUNTIME), initcode(STORE_RUNTIME)))]
        hashes = [rpc.one("eth_sendRawTransaction", [r]) for r in deploy]
        target = wait_receipts(rpc, hashes)[1]["contractAddress"]

        accounts = [Account.create() for _ in range(senders)]
        t0 = time.perf_counter()
        per_sender: list[list[str]] = [[] for _ in accounts]
        for i in range(count):
            k = i % senders
            acct = accounts[k]
            data = "0x" + (i + 1).to_bytes(32, "big").hex()
            per_sender[k].append(acct.sign_transaction(
                {**base, "nonce": len(per_sender[k]), "to": target, "gas": 60_000,
                 "data": data}).raw_transaction.to_0x_hex())
        sign_s = time.perf_counter() - t0
        order = interleave(per_sender)

        start = time.perf_counter()
        # the window stays below the default max nonce gap (64) per sender
        blocks = submit_all(rpc, order, senders * 50, batch)
        elapsed = time.perf_counter() - start
        check = rpc.one("eth_getStorageAt", [target, hex(int(accounts[0].address, 16)),
                                             "latest"])
        assert int(check, 16) != 0
        return {"tps": count / elapsed, "seconds": elapsed, "blocks": len(blocks),
                "sign_seconds": sign_s}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def bench_eth_tester(count: int) -> dict[str, float]:
    from eth_tester import EthereumTester, PyEVMBackend
    from web3 import EthereumTesterProvider, Web3

    w3 = Web3(EthereumTesterProvider(EthereumTester(PyEVMBackend())))
    funder = w3.eth.accounts[0]
    acct = Account.create()
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": funder, "to": acct.address, "value": 10**21}))
    deploy = w3.eth.contract(abi=STORE_ABI, bytecode=initcode(STORE_RUNTIME))
    tx = deploy.constructor().build_transaction(
        {"from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address)})
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction))
    contract = w3.eth.contract(address=receipt["contractAddress"], abi=STORE_ABI)
    nonce = w3.eth.get_transaction_count(acct.address)
    start = time.perf_counter()
    for i in range(count):
        tx = contract.functions.store(i + 1).build_transaction(
            {"from": acct.address, "nonce": nonce + i})
        signed = acct.sign_transaction(tx)
        h = w3.eth.send_raw_transaction(signed.raw_transaction)
        r = w3.eth.wait_for_transaction_receipt(h)
        assert r["status"] == 1
    elapsed = time.perf_counter() - start
    assert w3.eth.get_storage_at(contract.address, int(acct.address, 16)) != b"\x00" * 32
    return {"tps": count / elapsed, "seconds": elapsed}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--count", type=int, default=2000, help="transactions for the node")
    p.add_argument("--tester-count", type=int, default=300,
                   help="transactions for eth-tester (one block each; rate is per tx)")
    p.add_argument("--senders", type=int, default=20)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--block-period", type=float, default=0.0)
    args = p.parse_args()

    node = bench_embedded(args.count, args.senders, args.batch, args.block_period)
    tester = bench_eth_tester(args.tester_count)
    print(f"workload: contract call with one SSTORE, admission on, {args.senders} senders")
    print(f"embedded node (durable SQLite, block period {args.block_period}s): "
          f"{args.count} tx in {node['seconds']:.2f} s = {node['tps']:.0f} tx/s "
          f"over {node['blocks']:.0f} blocks "
          f"(presigning took {node['sign_seconds']:.2f} s, not counted)")
    print(f"eth-tester PyEVMBackend (in memory, plain web3.py loop): "
          f"{args.tester_count} tx in {tester['seconds']:.2f} s = {tester['tps']:.0f} tx/s")
    print(f"ratio embedded / eth-tester: {node['tps'] / tester['tps']:.1f}x")


if __name__ == "__main__":
    main()
