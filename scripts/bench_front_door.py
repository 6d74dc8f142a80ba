"""Benchmark: the node's front door under connection churn, BEFORE (a git ref) and AFTER (this tree).

For each side, a fresh ``python -m node`` (block period 0, loopback only) is started and measured:
1. open files and RSS of the node process, before and after N one-request connections
   (``Connection: close``; each reads block 0, so each touches the store), made by a few client
   threads; connections per second over those N;
2. a burst: B clients connect and each completes one request on a keep-alive connection, then
   all close at once; the time of a normal request on a fresh connection right after.

BEFORE runs the code of ``--compare-ref`` (default ``main``) from a temporary ``git worktree``,
removed at the end. Everything is bounded (counts capped, every socket and wait has a timeout).
Usage: ``python scripts/bench_front_door.py [--connections 3000] [--burst 1000] [--compare-ref main]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from eth_account import Account

ROOT = Path(__file__).resolve().parents[1]
READ = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber",
                   "params": ["0x0", False]}).encode()


def _request(extra: bytes = b"") -> bytes:
    return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + extra
            + b"Content-Length: %d\r\n\r\n" % len(READ) + READ)


def _answer(s: socket.socket) -> bytes:
    """One HTTP response (status line + headers + Content-Length body), or what came before EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _one_request(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(_request(b"Connection: close\r\n"))
            return _answer(s).startswith(b"HTTP/1.1 200 ")
    except OSError:
        return False


def _proc_figures(pid: int) -> tuple[int, float, int]:
    """(open files, RSS in MiB, threads) of process ``pid``."""
    files = len(os.listdir(f"/proc/{pid}/fd"))
    rss_kib = threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kib = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return files, rss_kib / 1024, threads


def _start_node(tree: Path, work: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    key_file = work / "validator.key"
    key_file.write_text(os.urandom(32).hex())
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "node", "--data-dir", str(work / "chain"), "--port", str(port),
         "--block-period", "0", "--bootstrap-address", Account.create().address,
         "--validator-key-file", str(key_file)],
        cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("coledger node listening"):
        proc.kill()
        raise RuntimeError(f"node from {tree} did not start: {line!r}")
    return proc, port


def _burst(port: int, clients: int) -> dict[str, Any]:
    """``clients`` keep-alive connections each answered once, all closed at once, then one timed
    request on a fresh connection."""
    held: list[socket.socket] = []
    answered = refused = failed = 0
    try:
        for _ in range(clients):
            try:
                held.append(socket.create_connection(("127.0.0.1", port), timeout=30))
            except OSError:
                failed += 1
        for s in held:
            try:
                s.sendall(_request())
            except OSError:
                pass
        for s in held:
            try:
                status = _answer(s)[:12]
            except OSError:
                status = b""
            if status == b"HTTP/1.1 200":
                answered += 1
            elif status == b"HTTP/1.1 503":
                refused += 1
            else:
                failed += 1
    finally:
        for s in held:
            s.close()
    t0 = time.perf_counter()
    ok = _one_request(port)
    after_ms = (time.perf_counter() - t0) * 1000
    return {"answered": answered, "refused_503": refused, "failed": failed,
            "next_request_ms": after_ms if ok else float("nan")}


def measure(tree: Path, connections: int, burst: int, workers: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="coledger-frontdoor-"))
    proc, port = _start_node(tree, work)
    try:
        assert _one_request(port), "node does not answer"
        files0, rss0, threads0 = _proc_figures(proc.pid)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            oks = sum(pool.map(lambda _: _one_request(port), range(connections)))
        elapsed = time.perf_counter() - t0
        time.sleep(0.5)  # let the server notice the last closes
        files1, rss1, threads1 = _proc_figures(proc.pid)
        burst_out = _burst(port, burst)
        alive = proc.poll() is None and _one_request(port)
        return {"files_before": files0, "files_after": files1, "rss_before_mib": rss0,
                "rss_after_mib": rss1, "threads_after": threads1, "ok": oks,
                "conn_per_s": connections / elapsed, **burst_out, "alive": alive}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--connections", type=int, default=3000)
    p.add_argument("--burst", type=int, default=1000)
    p.add_argument("--client-threads", type=int, default=8)
    p.add_argument("--compare-ref", default="main")
    args = p.parse_args()
    connections = max(1, min(args.connections, 20_000))
    burst = max(1, min(args.burst, 3_000))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < burst + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, burst + 1024), hard))
    old = Path(tempfile.mkdtemp(prefix="coledger-before-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(old), args.compare_ref],
                   cwd=ROOT, check=True, capture_output=True)
    try:
        results = {f"BEFORE ({args.compare_ref})": measure(old, connections, burst,
                                                           args.client_threads),
                   "AFTER (this tree)": measure(ROOT, connections, burst, args.client_threads)}
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT,
                       capture_output=True)
        shutil.rmtree(old.parent, ignore_errors=True)
    rows = [
        ("open files at start", "files_before", "{:d}"),
        (f"open files after {connections} one-request connections", "files_after", "{:d}"),
        ("RSS at start (MiB)", "rss_before_mib", "{:.0f}"),
        (f"RSS after {connections} connections (MiB)", "rss_after_mib", "{:.0f}"),
        ("threads after", "threads_after", "{:d}"),
        ("requests answered 200", "ok", "{:d}"),
        ("connections per second", "conn_per_s", "{:.0f}"),
        (f"burst of {burst}: answered 200", "answered", "{:d}"),
        (f"burst of {burst}: refused 503", "refused_503", "{:d}"),
        (f"burst of {burst}: failed", "failed", "{:d}"),
        ("request right after the burst closes (ms)", "next_request_ms", "{:.1f}"),
        ("node alive at the end", "alive", "{}"),
    ]
    names = list(results)
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  " + "  ".join(f"{n:>18}" for n in names))
    for label, key, fmt in rows:
        print(f"{label:{width}}  " + "  ".join(f"{fmt.format(results[n][key]):>18}"
                                               for n in names))


if __name__ == "__main__":
    main()
