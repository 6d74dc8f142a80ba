"""Benchmark: the consortium network beside the solo embedded node, in one run.

For each of: the solo embedded node (block period 0), a 1-validator network and a 4-validator
network (CometBFT v0.38 + the node as ABCI app, one process per validator, all on this machine):

- signed transactions per second, submit -> committed receipt (the bench_node workload: a
  contract call with one SSTORE, presigned, JSON-RPC batches; on the 4-validator network each
  sender talks to its own validator, round robin over senders);
- fund flows per second end to end (the bench_flows workload: recordFlows batches through the
  SDK's pipeline, receipts awaited);
- finality latency p50/p99 at half the measured peak rate: single transactions sent at a steady
  rate, time from eth_sendRawTransaction to the first receipt seen (polled every 10 ms);
- CPU seconds and peak RSS per validator process (app) and its CometBFT, from /proc.

With ``--compare-ref REF`` the same measurements first run on the code of REF (a temporary
``git worktree``, this script copied in, CometBFT from this tree's tools directory), then on this
tree, and both are printed side by side: BEFORE and AFTER from one run of the script.

Usage: ``python scripts/bench_network.py [--count 2000] [--flows 2000] [--latency-seconds 20]
[--compare-ref REF]``. Loopback only; every process is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from _bench_rpc import ALLOW_RUNTIME, Rpc, free_port, initcode, interleave, submit_all  # noqa: E402
from bench_flows import setup as flows_setup  # noqa: E402
from bench_flows import throughput as flows_throughput  # noqa: E402
from web3 import Web3  # noqa: E402

from client.network import NetworkRunner  # noqa: E402
from node.cometbft.home import create_network  # noqa: E402
from node.cometbft.toolchain import ensure_cometbft  # noqa: E402
from tests.conftest import start_embedded_node, wait_for_rpc  # noqa: E402

STORE_RUNTIME = "6000353355" + "00"
BASE = {"chainId": 1337, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
_CLK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------- process stats

def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK
    except (OSError, IndexError, ValueError):
        return 0.0


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):  # peak resident set
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Sampler:
    """CPU seconds used between start() and stop() and peak RSS, per watched process."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before: dict[str, float] = {}

    def start(self) -> None:
        self.before = {name: _cpu(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, tuple[float, float]]:
        return {name: (_cpu(pid) - self.before.get(name, 0.0), _rss_mib(pid))
                for name, pid in self.pids.items()}


# ---------------------------------------------------------------------------------- backends

class Backend:
    name: str
    urls: list[str]
    pids: dict[str, int]

    def stop(self) -> None:
        raise NotImplementedError


class Solo(Backend):
    def __init__(self, work: Path, bootstrap: LocalAccount) -> None:
        port = free_port()
        self.name = "solo embedded node"
        self.proc = start_embedded_node(work / "solo", bootstrap.address, os.urandom(32), port)
        self.urls = [f"http://127.0.0.1:{port}"]
        wait_for_rpc(self.urls[0], self.proc)
        self.pids = {"node": self.proc.pid}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


class Network(Backend):
    def __init__(self, work: Path, bootstrap: LocalAccount, validators: int, host: str) -> None:
        self.name = f"network, {validators} validator{'s' if validators > 1 else ''}"
        binary = ensure_cometbft(lambda line: print(line, flush=True))
        root = work / f"net{validators}"
        create_network(root, binary, [f"bank-{i}" for i in range(validators)], chain_id=1337,
                       bootstrap_address=bootstrap.address, first_host=host)
        self.runner = NetworkRunner(root)
        self.runner.start()
        self.urls = self.runner.urls
        self.pids = {}
        for v in self.runner.validators:
            assert v.pid is not None
            self.pids[f"v{v.index} app"] = v.pid
            deadline = time.monotonic() + 30
            while not _children(v.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            for child in _children(v.pid):
                self.pids[f"v{v.index} cometbft"] = child

    def stop(self) -> None:
        self.runner.stop()


# ---------------------------------------------------------------------------------- measures

def _deploy_store(url: str, boot: LocalAccount) -> str:
    rpc = Rpc(url)
    hashes = []
    for n, code in enumerate((initcode(ALLOW_RUNTIME), initcode(STORE_RUNTIME))):
        raw = boot.sign_transaction({**BASE, "nonce": n, "gas": 200_000, "data": code})
        hashes.append(rpc.one("eth_sendRawTransaction", [raw.raw_transaction.to_0x_hex()]))
    while True:
        got = [rpc.one("eth_getTransactionReceipt", [h]) for h in hashes]
        if all(got):
            return str(got[1]["contractAddress"])
        time.sleep(0.05)


def _presign(count: int, senders: list[LocalAccount], target: str, first: int) -> list[list[str]]:
    per_sender: list[list[str]] = [[] for _ in senders]
    for i in range(count):
        k = i % len(senders)
        data = "0x" + (first + i + 1).to_bytes(32, "big").hex()
        per_sender[k].append(senders[k].sign_transaction(
            {**BASE, "nonce": len(per_sender[k]), "to": target, "gas": 60_000, "data": data}
        ).raw_transaction.to_0x_hex())
    return per_sender


def tx_throughput(b: Backend, target: str, count: int, senders: int, batch: int) -> float:
    accounts = [Account.create() for _ in range(senders)]
    per_sender = _presign(count, accounts, target, 0)
    groups: list[list[list[str]]] = [[] for _ in b.urls]
    for k, txs in enumerate(per_sender):
        groups[k % len(b.urls)].append(txs)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            order = interleave(groups[i])
            submit_all(Rpc(b.urls[i]), order, len(groups[i]) * 50, batch,
                       deadline=time.monotonic() + 600)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(b.urls)) if groups[i]]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return count / elapsed


def finality(b: Backend, target: str, rate: float, seconds: float) -> tuple[float, float, int]:
    """p50, p99 (seconds) of submit -> receipt at ``rate`` tx/s, round robin over validators."""
    count = max(20, int(rate * seconds))
    senders = [Account.create() for _ in range(min(32, count))]
    per_sender = _presign(count, senders, target, 10**9)
    order = interleave(per_sender)
    sender_of = {raw: k % len(senders) for k, raw in enumerate(order)}
    rpcs = [Rpc(u) for u in b.urls]
    sent: dict[str, float] = {}
    done: dict[str, float] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def poll() -> None:
        poller = [Rpc(u) for u in b.urls]
        while not stop.is_set():
            with lock:
                waiting = [h for h in sent if h not in done]
            for i in range(0, len(waiting), 200):
                chunk = waiting[i:i + 200]
                got = poller[0].batch([("eth_getTransactionReceipt", [h]) for h in chunk])
                now = time.perf_counter()
                with lock:
                    for h, r in zip(chunk, got, strict=True):
                        if r.get("result"):
                            done[h] = now
            time.sleep(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    interval = 1.0 / rate
    start = time.perf_counter()
    for k, raw in enumerate(order):
        due = start + k * interval
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        rpc = rpcs[sender_of[raw] % len(rpcs)]  # a sender keeps its validator
        t0 = time.perf_counter()
        h = rpc.one("eth_sendRawTransaction", [raw])
        with lock:
            sent[h] = t0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with lock:
            if len(done) == len(sent):
                break
        time.sleep(0.05)
    stop.set()
    poller.join()
    lat = sorted(done[h] - sent[h] for h in done)
    if len(lat) < len(sent):
        raise RuntimeError(f"{len(sent) - len(lat)} transactions not final after 120 s")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return statistics.median(lat), p99, len(lat)


def flows_rate(b: Backend, operator: LocalAccount, total: int) -> float:
    w3 = Web3(Web3.HTTPProvider(b.urls[0], request_kwargs={"timeout": 120}))
    s = flows_setup("network", w3, operator, accounts=50, senders=4)
    result = flows_throughput(s, total, batch=50, inflight=4, senders=4)
    return float(result["fps"])


# ---------------------------------------------------------------------------------- main

def measure(b: Backend, boot: LocalAccount, args: argparse.Namespace) -> dict[str, Any]:
    target = _deploy_store(b.urls[0], boot)
    sampler = Sampler(b.pids)
    sampler.start()
    tps = tx_throughput(b, target, args.count, args.senders, args.batch)
    usage = sampler.stop()
    print(f"  {b.name}: {tps:.0f} tx/s", flush=True)
    p50, p99, n = finality(b, target, max(1.0, tps / 2), args.latency_seconds)
    print(f"  {b.name}: finality at {tps / 2:.0f} tx/s: p50 {p50 * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms ({n} tx)", flush=True)
    # flows need their own operator: the bootstrap's Consortium stand-in allows everyone
    fps = flows_rate(b, Account.create(), args.flows) if args.flows else 0.0
    if args.flows:
        print(f"  {b.name}: {fps:.0f} flows/s", flush=True)
    return {"tps": tps, "p50": p50, "p99": p99, "fps": fps, "usage": usage}


def run_before(ref: str, argv: list[str]) -> dict[str, dict[str, Any]]:
    """The same measurements on the code of ``ref``; its results by backend."""
    from node.cometbft.toolchain import tools_dir

    tree = Path(tempfile.mkdtemp(prefix="coledger-bench-before-"))
    out = tree.parent / f"{tree.name}.json"
    subprocess.run(["git", "worktree", "add", "--detach", "--force", str(tree), ref], cwd=ROOT,
                   check=True, capture_output=True)
    try:
        shutil.copy2(Path(__file__), tree / "scripts" / "bench_network.py")
        shutil.copy2(ROOT / "scripts" / "_bench_rpc.py", tree / "scripts" / "_bench_rpc.py")
        env = dict(os.environ, COLEDGER_TOOLS_DIR=str(tools_dir()))
        proc = subprocess.Popen([sys.executable, "scripts/bench_network.py", *argv, "--json",
                                 str(out)], cwd=tree, env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"[before {ref}] {line}", end="", flush=True)
        if proc.wait() != 0:
            raise SystemExit(f"the BEFORE run on {ref} failed (exit {proc.returncode})")
        return dict(json.loads(out.read_text()))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                       check=False, capture_output=True)
        out.unlink(missing_ok=True)


def print_side_by_side(ref: str, before: dict[str, dict[str, Any]],
                       after: dict[str, dict[str, Any]]) -> None:
    print()
    print(f"BEFORE = {ref}, AFTER = this tree (same machine, same run of this script)")
    print(f"{'backend':<24}{'tx/s':>14}{'vs solo':>14}{'flows/s':>14}{'p50 ms':>14}{'p99 ms':>14}")
    for kind, a in after.items():
        b = before.get(kind)
        if b is None:
            continue

        def pair(key: str, scale: float = 1.0, b: dict[str, Any] = b, a: dict[str, Any] = a) -> str:
            return f"{b[key] * scale:.0f} -> {a[key] * scale:.0f}"

        def ratio(r: dict[str, dict[str, Any]], kind: str = kind) -> str:
            return f"{r[kind]['tps'] / r['solo']['tps']:.0%}" if "solo" in r else "-"

        print(f"{a['name']:<24}{pair('tps'):>14}{ratio(before) + ' -> ' + ratio(after):>14}"
              f"{pair('fps'):>14}{pair('p50', 1000):>14}{pair('p99', 1000):>14}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--count", type=int, default=2000, help="transactions per throughput run")
    p.add_argument("--flows", type=int, default=2000, help="fund flows per run (0 = skip)")
    p.add_argument("--senders", type=int, default=20)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--latency-seconds", type=float, default=20.0)
    p.add_argument("--only", choices=("solo", "1", "4"), action="append",
                   help="run only these backends (repeatable); default all three")
    p.add_argument("--compare-ref", metavar="REF",
                   help="also measure the code of this git ref first and print both")
    p.add_argument("--json", type=Path, help=argparse.SUPPRESS)  # results, for --compare-ref
    args = p.parse_args()
    which = args.only or ["solo", "1", "4"]
    # a SIGTERM (timeout, kill) still runs the finally blocks that stop every validator
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    before: dict[str, dict[str, Any]] | None = None
    if args.compare_ref:
        argv = [a for a in sys.argv[1:]]
        i = argv.index("--compare-ref") if "--compare-ref" in argv else -1
        argv = argv[:i] + argv[i + 2:] if i >= 0 else [a for a in argv
                                                        if not a.startswith("--compare-ref=")]
        before = run_before(args.compare_ref, argv)

    t0 = time.perf_counter()
    ensure_cometbft(lambda line: print(line, flush=True))
    print(f"CometBFT ready ({time.perf_counter() - t0:.1f} s; cold build measured separately: "
          f"see README)", flush=True)
    results: dict[str, dict[str, Any]] = {}
    work = Path(tempfile.mkdtemp(prefix="coledger-bench-net-"))
    try:
        for kind in which:
            boot = Account.create()
            b: Backend
            if kind == "solo":
                b = Solo(work, boot)
            else:
                b = Network(work, boot, int(kind), f"127.{150 + int(kind)}.{os.getpid() % 200 + 1}.11")
            print(f"{b.name}: measuring...", flush=True)
            try:
                results[kind] = measure(b, boot, args)
                results[kind]["name"] = b.name
            finally:
                b.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if args.json:
        args.json.write_text(json.dumps(results))
    print()
    print(f"workload: {args.count} contract calls (one SSTORE) from {args.senders} senders in "
          f"batches of {args.batch}; {args.flows} fund flows; latency at half the peak rate")
    solo = results.get("solo")
    print(f"{'backend':<24}{'tx/s':>8}{'vs solo':>9}{'flows/s':>9}{'p50 ms':>8}{'p99 ms':>8}")
    for kind in which:
        r = results[kind]
        ratio = f"{r['tps'] / solo['tps']:.0%}" if solo else "-"
        print(f"{r['name']:<24}{r['tps']:>8.0f}{ratio:>9}{r['fps']:>9.0f}{r['p50'] * 1000:>8.0f}"
              f"{r['p99'] * 1000:>8.0f}")
    print()
    print("CPU seconds during the tx throughput run, and peak RSS, per process:")
    for kind in which:
        r = results[kind]
        parts = ", ".join(f"{name} {cpu:.1f} s / {rss:.0f} MiB"
                          for name, (cpu, rss) in r["usage"].items())
        print(f"  {r['name']}: {parts}")
    if solo:
        for kind, target in (("1", 0.8), ("4", 0.4)):
            if kind in results:
                got = results[kind]["tps"] / solo["tps"]
                print(f"target {results[kind]['name']} >= {target:.0%} of solo: {got:.0%} "
                      f"({'met' if got >= target else 'NOT met'})")
    for kind in ("1", "4"):
        if kind in results:
            r = results[kind]
            ok = r["p50"] < 1.0 and r["p99"] < 3.0
            print(f"target {r['name']} finality p50 < 1 s, p99 < 3 s: p50 {r['p50']:.2f} s, "
                  f"p99 {r['p99']:.2f} s ({'met' if ok else 'NOT met'})")
    if before is not None:
        print_side_by_side(args.compare_ref, before, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
