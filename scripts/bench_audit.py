"""Benchmark: the auditor's replay re-executes a chain at least as fast as the node built it.

1. Starts a fresh embedded node (``python -m node`` subprocess, durable SQLite, admission ON
   through a Consortium stand-in that allows everyone) and feeds it ``--txs`` presigned
   transactions (a contract call with one SSTORE and one LOG, from ``--senders`` keys) in
   JSON-RPC batches of ``eth_sendRawTransaction``, many transactions per block; production
   is timed from the first submission to the last durable receipt (presigning not counted).
2. Replays the whole chain from genesis with ``client.audit`` (py-evm re-execution, in this
   process, fetching over JSON-RPC) and times it.
3. Prints blocks/s and transactions/s of both and the ratio replay / production.
4. First, the domain replay's events/s: a synthetic co-lending book (``--event-loans``, 12 events
   a loan) as raw logs, decoded and replayed with every invariant checked (scripts/_bench_events.py).

Usage: ``python scripts/bench_audit.py [--txs 100000]`` (``--txs 5000`` for a quick run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "scripts"))

from _bench_rpc import ALLOW_RUNTIME, Rpc, free_port, initcode, interleave, submit_all  # noqa: E402

from client.audit import ReplayOptions, run_replay  # noqa: E402

# runtime: calldatacopy(0,0,32); log1(0, 32, caller); sstore(caller, calldata[0]); stop
WORK_RUNTIME = "602060006000373360206000a1" + "6000353355" + "00"


def wait_receipts(rpc: Rpc, hashes: list[str], deadline: float) -> list[Any]:
    while True:
        got = [r.get("result") for r in
               rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])]
        if all(got):
            return got
        if time.monotonic() > deadline:
            raise RuntimeError("receipts did not arrive in time")
        time.sleep(0.01)


def presign(count: int, senders: int, target: str) -> list[str]:
    """Transactions interleaved over senders (so every batch spreads over many of them)."""
    base = {"chainId": 1337, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "gas": 60_000,
            "to": target}
    accounts = [Account.create() for _ in range(senders)]
    per_sender: list[list[str]] = [[] for _ in accounts]
    for i in range(count):
        k = i % senders
        data = "0x" + (i + 1).to_bytes(32, "big").hex()
        per_sender[k].append(accounts[k].sign_transaction(
            {**base, "nonce": len(per_sender[k]), "data": data}).raw_transaction.to_0x_hex())
    return interleave(per_sender)


def produce(rpc: Rpc, order: list[str], senders: int, batch: int,
            timeout: float) -> tuple[float, int]:
    """Submit everything, wait for every receipt; (seconds, head block)."""
    deadline = time.monotonic() + timeout
    start = time.perf_counter()
    # below the node's default max nonce gap (64) per sender
    last_block = max(submit_all(rpc, order, senders * 50, batch, deadline))
    elapsed = time.perf_counter() - start
    # a receipt is served as soon as its block is committed, a moment before the node
    # publishes that block as its head: wait (bounded) until the head includes every receipt
    while int(rpc.one("eth_blockNumber", []), 16) < last_block:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the node's head never reached block {last_block}, which holds "
                               "receipts it served")
        time.sleep(0.05)
    return elapsed, last_block


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--txs", type=int, default=100_000, help="transactions in the chain")
    p.add_argument("--senders", type=int, default=100)
    p.add_argument("--batch", type=int, default=500, help="transactions per submit batch")
    p.add_argument("--timeout", type=float, default=1_800, help="give up after this many s")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--event-loans", type=int, default=8_500,
                   help="loans in the synthetic book of the event-replay figure (12 events each)")
    p.add_argument("--events-only", action="store_true", help="only the event-replay figure")
    args = p.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _bench_events import bench_events

    ev = bench_events(args.event_loans)
    print(f"event replay: {ev['events']:,} events decoded, replayed and checked against every "
          f"invariant in {ev['decode_s'] + ev['replay_s']:.2f} s = {ev['events_per_s']:,.0f} events/s "
          f"(target >= 20,000; replay+invariants alone {ev['replay_only_events_per_s']:,.0f} events/s)")
    if args.events_only:
        return 0

    work = Path(tempfile.mkdtemp(prefix="coledger-bench-audit-"))
    boot = Account.create()
    key_file = work / "validator.key"
    key_file.write_text(os.urandom(32).hex())
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "node", "--data-dir", str(work / "chain"), "--port", str(port),
         "--chain-id", "1337", "--block-period", "0", "--bootstrap-address", boot.address,
         "--validator-key-file", str(key_file), "--mempool-limit", str(max(100_000, args.txs))],
        cwd=ROOT, stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if "listening" not in line:
            raise RuntimeError(f"node did not start: {line!r}")
        url = f"http://127.0.0.1:{port}"
        rpc = Rpc(url)
        base = {"chainId": 1337, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
        deploy = [boot.sign_transaction({**base, "nonce": n, "gas": 200_000, "data": code})
                  .raw_transaction.to_0x_hex()
                  for n, code in enumerate((initcode(ALLOW_RUNTIME), initcode(WORK_RUNTIME)))]
        hashes = [rpc.one("eth_sendRawTransaction", [r]) for r in deploy]
        target = wait_receipts(rpc, hashes, time.monotonic() + 60)[1]["contractAddress"]

        t0 = time.perf_counter()
        order = presign(args.txs, args.senders, target)
        sign_s = time.perf_counter() - t0
        prod_s, head = produce(rpc, order, args.senders, args.batch, args.timeout)
        prod_blocks = head  # all blocks after genesis (2 setup blocks included)
        print(f"production: {args.txs} tx in {prod_s:.2f} s over ~{prod_blocks} blocks = "
              f"{args.txs / prod_s:,.0f} tx/s, {prod_blocks / prod_s:,.1f} blocks/s "
              f"(embedded node, durable SQLite, admission on; presigning {sign_s:.1f} s not "
              "counted)", flush=True)

        report = run_replay(ReplayOptions(rpc=url, out=work / "audit", to_block=head,
                                          progress=True))
        if report.result != "ok":
            print(f"replay did not verify: {report.divergence}", file=sys.stderr)
            return 1
        if report.executed_transactions != args.txs + 2:
            print(f"replay covered {report.executed_transactions} transactions, expected "
                  f"{args.txs + 2}", file=sys.stderr)
            return 1
        rep_s = report.timings["replay_s"]
        rep_tps = report.executed_transactions / rep_s
        rep_bps = report.executed_blocks / rep_s
        print(f"replay:     {report.executed_transactions} tx in {rep_s:.2f} s over "
              f"{report.executed_blocks} blocks = {rep_tps:,.0f} tx/s, {rep_bps:,.1f} blocks/s "
              f"(fetch over JSON-RPC + re-execution with py-evm, roots from client.audit._trie; of which "
              f"{report.timings['execute_s']:.2f} s executing)")
        ratio = rep_tps / (args.txs / prod_s)
        print(f"ratio replay / production: {ratio:.2f}x "
              f"({'meets' if ratio >= 1 else 'misses'} the target of >= 1x); head state root "
              f"{report.head['state_root']} verified")
        return 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if args.keep:
            print(f"kept {work} (node data in {work / 'chain'})")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
