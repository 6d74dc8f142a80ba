"""Benchmark: evidence anchoring (single vs Merkle batch) and `GET /loans/{id}/evidence` at scale.

On a fresh chain (the embedded node by default: `python -m node`, durable, admission on, block
period 0; or anvil with `--chain anvil`), untimed set-up: a Consortium (operator/governor, a lead
bank, a partner bank, an auditor), the lending suite and the evidence contracts, a WeLoan-style
product and `--loans` disbursed co-loans of the lead bank (all real LoanLedger loans). Then:

1. anchoring throughput, on a second EvidenceRegistry (its roots have no vault manifests, so they
   stay out of the API's index): `--singles` items with `anchorItem`, one transaction each awaited
   (what `EvidenceRegistryClient.anchor_item` / `EvidenceSubmitter.submit_evidence` do) and the
   same pipelined (`send_many`/`wait_many`); Merkle batches of 1, 16 and 256 (`anchorBatch`, item
   hashes + RFC 6962 root + one transaction awaited). Gas per item from receipts (the 21,000
   included), items per second end to end.
2. the evidence book: `--items` records over the loans (hash-chained per loan, kinds mixed), each
   with a stand-in ciphertext, written to an `EvidenceVault` (`put_item`; per-file fsync off for the
   set-up: the durable rate is measured on a sample and printed) with a manifest per batch of 256,
   anchored with `anchorBatch` pipelined (JSON-RPC batches of 32, two in flight), then indexed
   from the chain by `EvidenceIndex.sync()` into the file the API serves (timed).
3. the API as a real process (`python -m arbitration.api`: uvicorn, one worker, default settings
   incl. read-your-writes sync on read and uvicorn's access log), signed in as the reader (the
   auditor, or `--reader lead`) with `POST /auth/challenge` + `POST /auth/token`. A warm-up
   request per loan (fills the API's loan-lead cache), then `GET /loans/{id}/evidence` of random
   loans (default page of 100) at a fixed open-loop rate — the i-th request is due at
   start + i/rate whatever the earlier ones do, over keep-alive connections, and its latency runs
   from that due time to the last byte (no coordinated omission) — and a closed-loop run with
   `--clients` connections for the maximum lookups/s. Then the API is started a second time with
   `COLEDGER_API_SYNC_ON_READ=false` (answers from the index as the background syncer left it, at
   most `sync_interval` stale) and measured again, to show what read-your-writes costs
   (`--no-compare-no-sync-on-read` skips it).

Targets (issue 5): p99 under 20 ms at 200 requests/s with 100,000 anchored items; batch anchoring
under 3,000 gas per item at batch 256. Measured figures are printed whether met or not, last as
`figure | value | target | met?` lines the README can quote.

Usage: python scripts/bench_api.py [--chain embedded|anvil] [--items 100000] [--loans 1000]
       [--rate 200] [--duration 20] [--clients 4] [--closed-duration 10] [--singles 200]
       [--reader auditor|lead] [--no-compare-no-sync-on-read] [--api-env COLEDGER_API_X=V ...] [--keep]
       [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from _bench_evidence import (  # noqa: E402
    BATCH,
    LoadResult,
    Proc,
    World,
    anchor_pipelined,
    build_vault,
    check_samples,
    closed_loop,
    cpu_seconds,
    deploy_world,
    make_records,
    no_fsync,
    open_book,
    open_loop,
    pipelined,
    start_chain,
    stop,
    throwaway_registry,
)
from _bench_rpc import free_port  # noqa: E402

from arbitration.index import EvidenceIndex  # noqa: E402
from arbitration.merkle import MerkleTree  # noqa: E402
from arbitration.vault import EvidenceVault, ItemMeta  # noqa: E402
from client.tx import Call  # noqa: E402

TARGET_P99_MS = 20.0
TARGET_RATE = 200.0
TARGET_GAS_256 = 3_000
BATCH_RUNS = {1: 40, 16: 20, 256: 8}  # batches anchored per size (awaited one by one)

_T0 = time.perf_counter()


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f} s] {msg}", flush=True)


# ---------------------------------------------------------------------------------------- anchoring


def anchoring(world: World, singles: int) -> list[dict[str, Any]]:
    """Gas per item and items/s of anchorItem (awaited, pipelined) and anchorBatch(1, 16, 256)."""
    registry = throwaway_registry(world)
    pipe = registry.pipeline
    assert pipe is not None
    total = 2 + 2 * singles + sum(n * size for size, n in BATCH_RUNS.items())
    records = iter(r for r, _ in make_records(total, world.loans, seed=99))

    def item_call(r: Any) -> Call:
        return registry.anchor_item_call(r.evidence_id, r.loan_id, int(r.kind), r.sha256, r.sm3,
                                         r.ciphertext_sha256, r.prev)

    # Warm-up (excluded): the first item and the first batch pay the counters' zero-to-nonzero writes.
    pipe.transact(item_call(next(records)))
    first = next(records)
    registry.anchor_batch(first.item_hash(), 1)
    rows = []

    gas = []
    t0 = time.perf_counter()
    for _ in range(singles):
        r = next(records)
        receipt = registry.anchor_item(r.evidence_id, r.loan_id, int(r.kind), r.sha256, r.sm3, r.ciphertext_sha256,
                                       r.prev)
        gas.append(int(receipt["gasUsed"]))
    dt = time.perf_counter() - t0
    rows.append({"mode": "anchorItem, one tx per item, each awaited", "txs": singles, "items": singles,
                 "gas": sum(gas) / singles, "seconds": dt})

    batch = [next(records) for _ in range(singles)]
    g = pipe.estimate_gas(item_call(batch[0]))
    calls = [Call(c.to, c.data, gas=g, label=c.label) for c in map(item_call, batch)]
    t0 = time.perf_counter()
    receipts = pipelined(pipe, calls, chunk=32, window=2, raw=True)
    dt = time.perf_counter() - t0
    rows.append({"mode": "anchorItem, one tx per item, pipelined (32 per JSON-RPC batch, 2 in flight)", "txs": singles,
                 "items": singles, "gas": sum(r.gas_used for r in receipts) / singles, "seconds": dt})

    for size, runs in BATCH_RUNS.items():
        chunks = [[next(records) for _ in range(size)] for _ in range(runs)]
        gas = []
        t0 = time.perf_counter()
        for chunk in chunks:
            tree = MerkleTree([r.item_hash() for r in chunk])
            receipt = registry.anchor_batch(tree.root, tree.size)
            gas.append(int(receipt["gasUsed"]))
        dt = time.perf_counter() - t0
        rows.append({"mode": f"anchorBatch({size}): Merkle root + one tx, each awaited", "txs": runs,
                     "items": runs * size, "gas": sum(gas) / (runs * size), "seconds": dt, "size": size})
    return rows


def durable_put_rate(vault_dir: Path, world: World, n: int) -> float:
    """`EvidenceVault.put_item` with its fsyncs (items/s), on a sample in a scratch vault."""
    vault = EvidenceVault(vault_dir)
    meta = ItemMeta(world.lead.address, "application/octet-stream", "bench_api durability sample")
    sample = make_records(n, world.loans, seed=5)
    t0 = time.perf_counter()
    for r, blob in sample:
        vault.put_item(r, blob, [], meta)
    return n / (time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------- the API


def start_api(work: Path, world: World, deployment: Path, vault_dir: Path, index_path: Path, tag: str,
              started: list[Proc], extra_env: dict[str, str]) -> tuple[Proc, str, int]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COLEDGER_API_")},  # only what we set
        "PYTHONUNBUFFERED": "1",
        "COLEDGER_API_RPC_URL": world.url,
        "COLEDGER_API_DEPLOYMENT_FILE": str(deployment),
        "COLEDGER_API_VAULT_DIR": str(vault_dir),
        "COLEDGER_API_INDEX_PATH": str(index_path),
        "COLEDGER_API_ACCESS_LOG_PATH": str(work / f"access-log-{tag}.sqlite3"),
        "COLEDGER_API_TOKEN_SECRET": secrets.token_urlsafe(48),
        **extra_env,
    }
    log = work / f"api-{tag}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen([sys.executable, "-m", "arbitration.api", "--port", str(port)], cwd=ROOT, env=env,
                                 stdout=out, stderr=subprocess.STDOUT)
    proc = Proc(f"API ({tag})", popen, log)
    started.append(proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if popen.poll() is not None:
            raise RuntimeError(f"the API exited with {popen.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return proc, url, port
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API at {url} was not healthy within 120 s:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def sign_in(url: str, account: LocalAccount) -> tuple[str, list[str]]:
    with httpx.Client(base_url=url, timeout=30) as c:
        challenge = c.post("/auth/challenge", json={"address": account.address})
        challenge.raise_for_status()
        body = challenge.json()
        signature = Account.sign_message(encode_defunct(text=body["message"]), account.key).signature
        token = c.post("/auth/token", json={"address": account.address, "nonce": body["nonce"],
                                            "signature": "0x" + bytes(signature).hex()})
        if token.status_code != 200:
            raise RuntimeError(f"sign-in failed: {token.status_code} {token.text}")
        doc = token.json()
        return str(doc["access_token"]), list(doc["roles"])


def measure_api(url: str, port: int, pid: int, token: str, loans: list[int], args: argparse.Namespace,
                seed: int) -> dict[str, Any]:
    host = "127.0.0.1"
    rng = random.Random(seed)
    warm = iter([f"/loans/{loan}/evidence" for loan in loans])
    t0 = time.perf_counter()
    w = closed_loop(host, port, token, lambda: next(warm, None), clients=4, duration=300, timeout=args.timeout)
    warm_s = time.perf_counter() - t0
    if w.errors:
        raise RuntimeError(f"warm-up errors: {w.errors}")
    say(f"warm-up: one request per loan ({w.ok} ok) in {warm_s:.1f} s")
    n = max(1, int(args.rate * args.duration))
    paths = [f"/loans/{rng.choice(loans)}/evidence" for _ in range(n)]
    say(f"open loop: {n} requests at {args.rate:g}/s over {args.duration:g} s ...")
    api_cpu, own_cpu = cpu_seconds(pid), time.process_time()
    opened = open_loop(host, port, token, paths, rate=args.rate, timeout=args.timeout)
    api_after = cpu_seconds(pid)
    cpu = None if api_cpu is None or api_after is None else (api_after - api_cpu) / n
    own = (time.process_time() - own_cpu) / n
    checked, per_page = check_samples(opened.samples)
    say(f"closed loop: {args.clients} clients for {args.closed_duration:g} s ...")
    closed = closed_loop(host, port, token, lambda: f"/loans/{rng.choice(loans)}/evidence", args.clients,
                         args.closed_duration, timeout=args.timeout)
    return {"open": opened, "closed": closed, "checked": checked, "per_page": per_page, "warm_s": warm_s,
            "api_cpu": cpu, "client_cpu": own}


def describe(tag: str, r: dict[str, Any], args: argparse.Namespace) -> None:
    o: LoadResult = r["open"]
    c: LoadResult = r["closed"]
    ms = 1e3
    print(f"\n== GET /loans/{{id}}/evidence, API {tag}")
    print(f"open loop: {o.sent} requests due at {args.rate:g}/s over {args.duration:g} s: {o.ok} ok, "
          f"errors {sum(o.errors.values())} {o.errors or ''}; achieved {o.rate:.1f} req/s; "
          f"latency from the due time p50 {o.pct(50) * ms:.1f} ms, p90 {o.pct(90) * ms:.1f} ms, "
          f"p99 {o.pct(99) * ms:.1f} ms, max {o.pct(100) * ms:.1f} ms "
          f"({o.connections} keep-alive connections, {o.retries} retried on a closed one, "
          f"worst send lag {o.lag_max * ms:.1f} ms; {r['checked']} bodies checked, "
          f"{r['per_page']:.0f} items per page)")
    if r["api_cpu"] is not None:
        print(f"  CPU per request (open loop): API process {r['api_cpu'] * ms:.2f} ms, this load generator "
              f"{r['client_cpu'] * ms:.2f} ms")
    n_slow, seconds = o.slow(TARGET_P99_MS / 1e3)
    print(f"  over {TARGET_P99_MS:g} ms: {n_slow} requests ({100 * n_slow / max(1, o.sent):.1f}%), due in {seconds} "
          f"of the {args.duration:g} seconds")
    print(f"closed loop: {args.clients} clients x {args.closed_duration:g} s: {c.ok} ok, errors "
          f"{sum(c.errors.values())} {c.errors or ''}; {c.rate:.0f} lookups/s; p50 {c.pct(50) * ms:.1f} ms, "
          f"p99 {c.pct(99) * ms:.1f} ms, max {c.pct(100) * ms:.1f} ms")


# ---------------------------------------------------------------------------------------- main


def main() -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", choices=("embedded", "anvil"), default="embedded")
    parser.add_argument("--items", type=int, default=100_000, help="anchored evidence items behind the API")
    parser.add_argument("--loans", type=int, default=1_000, help="real loans the items are spread over")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="open-loop requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="open-loop seconds")
    parser.add_argument("--clients", type=int, default=4, help="closed-loop concurrent clients")
    parser.add_argument("--closed-duration", type=float, default=10.0, help="closed-loop seconds")
    parser.add_argument("--singles", type=int, default=200, help="items anchored one per transaction")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds")
    parser.add_argument("--reader", choices=("auditor", "lead"), default="auditor",
                        help="the member whose token reads (both may list a loan's evidence)")
    parser.add_argument("--compare-no-sync-on-read", action=argparse.BooleanOptionalAction, default=True,
                        help="measure the API a second time with COLEDGER_API_SYNC_ON_READ=false (default: on)")
    parser.add_argument("--api-env", action="append", default=[], metavar="COLEDGER_API_X=VALUE",
                        help="an extra API setting for every API run (repeatable): COLEDGER_API_PAGE_CACHE_BYTES=0")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, vault, index)")
    parser.add_argument("--quick", action="store_true",
                        help="a small run: 5,000 items, 100 loans, 50 singles, 5 s open loop, 3 s closed loop")
    args = parser.parse_args()
    if args.quick:
        args.items, args.loans, args.singles = min(args.items, 5_000), min(args.loans, 100), min(args.singles, 50)
        args.duration, args.closed_duration = min(args.duration, 5.0), min(args.closed_duration, 3.0)
    if any(not e.startswith("COLEDGER_API_") or "=" not in e for e in args.api_env):
        parser.error("--api-env takes COLEDGER_API_NAME=VALUE")
    if args.items < 1 or args.loans < 1 or args.rate <= 0:
        parser.error("--items, --loans and --rate must be positive")

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (nohup, &)
    work = Path(tempfile.mkdtemp(prefix="coledger-bench-api-"))
    started: list[Proc] = []
    try:
        run(args, work, started)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping what was started", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in reversed(started):
            if proc.popen.poll() is None:
                t0 = time.perf_counter()
                stop(proc)
                say(f"stopped {proc.name} in {time.perf_counter() - t0:.1f} s")
        if args.keep:
            print(f"(work directory kept: {work})")
        else:
            t0 = time.perf_counter()
            shutil.rmtree(work, ignore_errors=True)
            say(f"work directory removed in {time.perf_counter() - t0:.1f} s")


def run(args: argparse.Namespace, work: Path, started: list[Proc]) -> None:
    load = os.getloadavg()
    say(f"load average before start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    operator: LocalAccount = Account.create()
    w3, url = start_chain(args.chain, work, operator, started)
    world = deploy_world(w3, url, operator, args.chain)
    say(f"{args.chain} chain up, Consortium + lending suite + EvidenceRegistry + ArbitrationCases deployed")
    book_s = open_book(world, args.loans, say)
    say(f"{len(world.loans)} loans disbursed on the LoanLedger in {book_s:.1f} s (untimed set-up)")

    # -- 1. anchoring throughput ----------------------------------------------------------------
    rows = anchoring(world, args.singles)
    say("anchoring throughput measured")

    # -- 2. the evidence book ---------------------------------------------------------------------
    vault_dir = work / "vault"
    vault = EvidenceVault(vault_dir)
    durable = durable_put_rate(work / "vault-durable-sample", world, 100)
    t0 = time.perf_counter()
    records = make_records(args.items, world.loans, seed=11)
    with no_fsync():
        batches = build_vault(vault, records, world.lead.address)
    vault_s = time.perf_counter() - t0
    say(f"vault: {args.items:,} records + blobs + {len(batches)} batch manifests written in {vault_s:.1f} s "
        f"(no fsync; durable put_item measured at {durable:.0f} items/s)")
    anchor_s, receipts = anchor_pipelined(world.registry, batches)
    anchor_gas = sum(r.gas_used for r in receipts)
    rows.append({"mode": f"anchorBatch({BATCH}) pipelined (32 per JSON-RPC batch, 2 in flight): the book",
                 "txs": len(receipts), "items": args.items, "gas": anchor_gas / args.items, "seconds": anchor_s})
    say(f"book anchored: {len(receipts)} anchorBatch transactions in {anchor_s:.1f} s")
    deployment = work / "deployment.json"
    deployment.write_text(json.dumps({"chain_id": int(w3.eth.chain_id), "contracts": world.contracts}, indent=2))
    index_path = work / "index" / "index.sqlite3"
    index_path.parent.mkdir()
    index = EvidenceIndex(str(index_path), w3, world.contracts, vault)
    t0 = time.perf_counter()
    indexed = index.sync()
    sync_s = time.perf_counter() - t0
    problems = index.problems()
    counts = index.counts()
    index.close()
    if indexed != args.items or problems:
        raise RuntimeError(f"the index holds {indexed} of {args.items} items; problems: {problems[:3]}")
    say(f"index synced from the chain: {indexed:,} items, {counts['events']:,} loan events, "
        f"{counts['blocks']:,} blocks in {sync_s:.1f} s")
    del records

    print("\n| anchoring (" + args.chain + ") | txs | items | gas per item (21,000 incl.) | items/s end to end |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mode']} | {r['txs']:,} | {r['items']:,} | {r['gas']:,.0f} | {r['items'] / r['seconds']:,.0f} |")
    print(f"gas target: anchorBatch({BATCH}) under {TARGET_GAS_256:,} per item")

    # -- 3. the API ---------------------------------------------------------------------------------
    reader = world.auditor if args.reader == "auditor" else world.lead
    extra = dict(e.split("=", 1) for e in args.api_env)
    base = "default settings" + "".join(f", {k}={v}" for k, v in extra.items())
    configs: list[tuple[str, dict[str, str]]] = [(base, extra)]
    if args.compare_no_sync_on_read:
        configs.append((f"{base}, COLEDGER_API_SYNC_ON_READ=false", {**extra, "COLEDGER_API_SYNC_ON_READ": "false"}))
    results = []
    for n, (tag, env) in enumerate(configs):
        proc, api_url, port = start_api(work, world, deployment, vault_dir, index_path, f"run{n}", started, env)
        token, roles = sign_in(api_url, reader)
        say(f"API up ({tag}) at {api_url}; signed in as the {args.reader} (roles {', '.join(roles)})")
        before = os.getloadavg()
        r = measure_api(api_url, port, proc.popen.pid, token, world.loans, args, seed=3 + n)
        r["load"] = before
        stop(proc)
        results.append((tag, r))
    for tag, r in results:
        describe(tag, r, args)
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs; "
          "it includes this benchmark's own chain, API and client)")

    # -- figures -------------------------------------------------------------------------------------
    g256 = next(r for r in rows if r.get("size") == BATCH)["gas"]
    single = rows[0]
    o: LoadResult = results[0][1]["open"]
    c: LoadResult = results[0][1]["closed"]
    p99 = o.pct(99) * 1e3
    errors = sum(o.errors.values())
    what = f"{args.items:,} items / {len(world.loans):,} loans, {args.chain}"
    lines = [
        (f"anchorBatch({BATCH}) gas per item", f"{g256:,.0f}", f"< {TARGET_GAS_256:,}", g256 < TARGET_GAS_256),
        ("anchorItem gas per item", f"{single['gas']:,.0f}", "-", None),
        (f"anchoring items/s, anchorItem awaited vs anchorBatch({BATCH}) pipelined",
         f"{single['items'] / single['seconds']:,.0f} vs {rows[-1]['items'] / rows[-1]['seconds']:,.0f}", "-", None),
        (f"index sync from the chain ({what})", f"{sync_s:.1f} s ({indexed / sync_s:,.0f} items/s)", "-", None),
        (f"GET /loans/{{id}}/evidence p99 at {args.rate:g} req/s open loop ({what})", f"{p99:.1f} ms",
         f"< {TARGET_P99_MS:g} ms at {TARGET_RATE:g} req/s", p99 < TARGET_P99_MS and args.rate >= TARGET_RATE
         and errors == 0),
        (f"GET /loans/{{id}}/evidence p50 at {args.rate:g} req/s", f"{o.pct(50) * 1e3:.1f} ms", "-", None),
        ("GET /loans/{id}/evidence achieved rate, errors", f"{o.rate:.1f} req/s, {errors} errors",
         f"{args.rate:g} req/s, 0", o.rate >= 0.98 * args.rate and errors == 0),
        (f"GET /loans/{{id}}/evidence closed loop, {args.clients} clients", f"{c.rate:,.0f} lookups/s "
         f"(p99 {c.pct(99) * 1e3:.1f} ms)", "-", None),
    ]
    for tag, r in results[1:]:
        lines.append((f"GET /loans/{{id}}/evidence p99 at {args.rate:g} req/s, {tag}",
                      f"{r['open'].pct(99) * 1e3:.1f} ms; closed loop {r['closed'].rate:,.0f} lookups/s", "-", None))
    print("\nfigure | value | target | met?")
    for name, value, target, met in lines:
        print(f"{name} | {value} | {target} | {'-' if met is None else ('yes' if met else 'NO')}")


if __name__ == "__main__":
    main()
