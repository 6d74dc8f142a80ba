"""Helpers shared by the raw-JSON-RPC benchmarks (bench_node, bench_audit).

They talk JSON-RPC directly (batches over one keep-alive session) so that what is measured is
the node, not a client library, and deploy hand-assembled contracts.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import requests

__all__ = ["ALLOW_RUNTIME", "Rpc", "free_port", "initcode", "interleave", "submit_all"]

# runtime: mstore(0, 1) return(0, 32)  -> transactionAllowed(...) == true for everyone
ALLOW_RUNTIME = "600160005260206000f3"


def initcode(runtime: str) -> str:
    """Minimal constructor: CODECOPY the runtime and RETURN it."""
    n = len(runtime) // 2
    return "0x" + f"60{n:02x}600c60003960{n:02x}6000f3" + runtime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Rpc:
    """Batch JSON-RPC over one HTTP session; results sorted back into request order."""

    def __init__(self, url: str, timeout: float = 300.0) -> None:
        self.url = url
        self.timeout = timeout
        self.s = requests.Session()

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                for i, (m, p) in enumerate(calls)]
        out = self.s.post(self.url, json=body, timeout=self.timeout).json()
        return sorted(out, key=lambda r: r["id"])

    def one(self, method: str, params: list[Any]) -> Any:
        r = self.batch([(method, params)])[0]
        if "error" in r:
            raise RuntimeError(f"{method}: {r['error']}")
        return r["result"]


def interleave(per_sender: list[list[str]]) -> list[str]:
    """Raw transactions ordered round-robin over senders, so every batch spreads over many."""
    return [per_sender[k][j] for j in range(max(map(len, per_sender)))
            for k in range(len(per_sender)) if j < len(per_sender[k])]


def submit_all(rpc: Rpc, order: list[str], window: int, batch: int,
               deadline: float | None = None) -> set[int]:
    """Send `order` in JSON-RPC batches keeping at most `window` in flight, poll receipts in
    batches until every one is served with status 1; returns the blocks that hold them."""
    outstanding: list[str] = []
    blocks: set[int] = set()
    served = 0
    pos = 0
    while served < len(order):
        if deadline is not None and time.monotonic() > deadline:
            raise RuntimeError(f"{len(order) - served} transactions unconfirmed at the deadline")
        if pos < len(order) and len(outstanding) < window:
            chunk = order[pos:pos + batch]
            pos += len(chunk)
            out = rpc.batch([("eth_sendRawTransaction", [r]) for r in chunk])
            bad = [r for r in out if "error" in r]
            if bad:
                raise RuntimeError(f"rejected: {bad[0]['error']}")
            outstanding.extend(r["result"] for r in out)
            continue
        got = rpc.batch([("eth_getTransactionReceipt", [h]) for h in outstanding])
        still = []
        for h, r in zip(outstanding, got, strict=True):
            rec = r.get("result")
            if rec is None:
                still.append(h)
            elif rec["status"] != "0x1":
                raise RuntimeError(f"transaction failed: {rec}")
            else:
                served += 1
                blocks.add(int(rec["blockNumber"], 16))
        outstanding = still
        if still and pos >= len(order):
            time.sleep(0.005)
    return blocks
