"""Measure the evidence index at scale (not collected by pytest; run it as a module).

    .venv/bin/python -m tests.evidence_index.bench_index                 # bulk index + query latency
    .venv/bin/python -m tests.evidence_index.bench_index --sync 20000    # also: sync from anvil + a vault

``bulk``: ``items`` items over ``loans`` loans (hash-chained), anchored in batches of 256 that mix
loans as a busy lead bank's would, indexed with ``EvidenceIndex.bulk_index`` (one transaction).
``query``: ``items_of_loan`` of random loans on a fresh index object, p50/p99 over ``queries``.
``sync``: a local anvil, a Consortium and an EvidenceRegistry; ``N`` records written to an
``EvidenceVault`` with batch manifests, anchored with ``anchorBatch``; then ``sync()`` timed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from arbitration.index import BulkAnchor, EvidenceIndex
from arbitration.merkle import MerkleTree
from arbitration.record import GENESIS_PREV, EvidenceKind, EvidenceRecord

BATCH = 256


def make_records(items: int, loans: int, seed: int = 7) -> list[EvidenceRecord]:
    rng = random.Random(seed)
    heads = [GENESIS_PREV] * loans
    out = []
    for _ in range(items):
        loan = rng.randrange(loans)
        r = EvidenceRecord(rng.randbytes(32), EvidenceKind(rng.randrange(9)), (loan + 1).to_bytes(32, "big"),
                           rng.randbytes(32), rng.randbytes(32), rng.randbytes(32), heads[loan])
        heads[loan] = r.item_hash()
        out.append(r)
    return out


def bench_bulk(path: str, items: int, loans: int, queries: int) -> None:
    records = make_records(items, loans)
    anchors = []
    for n, start in enumerate(range(0, items, BATCH)):
        chunk = records[start : start + BATCH]
        root = MerkleTree([r.item_hash() for r in chunk]).root
        anchors.append(BulkAnchor(root, chunk, 100 + n, os.urandom(32), 1_700_000_000 + n, os.urandom(32), 0,
                                  os.urandom(20), n + 1))
    index = EvidenceIndex(path, None, {"EvidenceRegistry": "0x" + "11" * 20})
    index._set_meta(chain_id="1337")
    t0 = time.perf_counter()
    n = index.bulk_index(anchors)
    dt = time.perf_counter() - t0
    print(f"bulk_index: {n} items in {dt:.2f} s = {n / dt:,.0f} items/s ({len(anchors)} batches of {BATCH})")
    index.close()
    bench_query(path, loans, queries)


def bench_query(path: str, loans: int, queries: int) -> None:
    index = EvidenceIndex(path)
    rng = random.Random(1)
    times = []
    sizes = []
    for _ in range(queries):
        loan = rng.randrange(loans) + 1
        t0 = time.perf_counter()
        got = index.items_of_loan(loan)
        times.append(time.perf_counter() - t0)
        sizes.append(len(got))
    times.sort()
    p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
    print(f"items_of_loan over {index.counts()['items']} items: {queries} queries, "
          f"{statistics.mean(sizes):.0f} items/loan, p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms, "
          f"max {times[-1] * 1e3:.2f} ms")
    t0 = time.perf_counter()
    for _ in range(200):
        index.chain_status(rng.randrange(loans) + 1)
    print(f"chain_status: {(time.perf_counter() - t0) / 200 * 1e3:.2f} ms per loan")
    index.close()


def bench_sync(work: Path, items: int, loans: int) -> None:
    from eth_account import Account
    from web3 import Web3

    from arbitration.vault import EvidenceVault, ItemMeta
    from client.consortium import Role, roles_mask
    from client.contracts import deploy
    from client.evidence_chain import EvidenceRegistryClient
    from client.tx import TransactionPipeline
    from tests.conftest import ANVIL, free_port, wait_for_rpc

    port = free_port()
    proc = subprocess.Popen([str(ANVIL), "--port", str(port), "--base-fee", "0", "--gas-price", "0",
                             "--hardfork", "prague", "--silent"], stdout=subprocess.DEVNULL)
    try:
        w3: Web3 = wait_for_rpc(f"http://127.0.0.1:{port}", proc)  # type: ignore[arg-type]
        key = Account.create()
        w3.provider.make_request("anvil_setBalance", [key.address, hex(10**24)])  # type: ignore[arg-type]
        pipe = TransactionPipeline(w3, key)
        consortium = deploy(pipe, "Consortium", [("bench", key.address, roles_mask(
            [Role.LEAD_BANK, Role.OPERATOR, Role.GOVERNOR]))], 1, 86_400, [])
        registry = EvidenceRegistryClient(w3, deploy(pipe, "EvidenceRegistry", consortium), pipe)
        vault = EvidenceVault(work / "vault")
        records = make_records(items, loans, seed=11)
        t0 = time.perf_counter()
        meta = ItemMeta(key.address, "application/octet-stream", "bench")
        for r in records:  # the vault re-hashes the blob: give each record a blob that matches
            blob = r.evidence_id  # 32 bytes, unique
            r2 = EvidenceRecord(r.evidence_id, r.kind, r.loan_id, r.sha256, r.sm3,
                                hashlib.sha256(blob).digest(), r.prev)
            vault.put_item(r2, blob, [], meta)
        stored = [vault.record(r.evidence_id).record for r in records]
        print(f"vault: {items} records written in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        for start in range(0, items, BATCH):
            chunk = stored[start : start + BATCH]
            root = MerkleTree([r.item_hash() for r in chunk]).root
            vault.put_batch(root, len(chunk), [r.evidence_id for r in chunk])
            registry.anchor_batch(root, len(chunk))
        print(f"anchored {(items + BATCH - 1) // BATCH} batches in {time.perf_counter() - t0:.1f} s")
        index = EvidenceIndex(str(work / "sync.sqlite"), w3, {"EvidenceRegistry": registry.address}, vault)
        t0 = time.perf_counter()
        n = index.sync()
        dt = time.perf_counter() - t0
        print(f"sync: {n} items in {dt:.2f} s = {n / dt:,.0f} items/s (vault manifests + records read, "
              f"roots recomputed, {w3.eth.block_number} blocks scanned)")
        assert n == items and not index.problems()
        index.close()
        bench_query(str(work / "sync.sqlite"), loans, 1000)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--loans", type=int, default=1_000)
    ap.add_argument("--queries", type=int, default=5_000)
    ap.add_argument("--sync", type=int, default=0, metavar="N", help="also time sync() of N items from anvil")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="coledger-bench-index-") as tmp:
        bench_bulk(str(Path(tmp) / "bulk.sqlite"), args.items, args.loans, args.queries)
        if args.sync:
            bench_sync(Path(tmp), args.sync, max(1, args.loans * args.sync // args.items))


if __name__ == "__main__":
    main()
