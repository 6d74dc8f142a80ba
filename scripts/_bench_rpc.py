"""Helpers shared by the raw-JSON-RPC benchmarks (bench_node, bench_audit).

They talk JSON-RPC directly (batches over one keep-alive session) so that what is measured is
the node, not a client library, and deploy hand-assembled contracts.
"""

from __future__ import annotations

import socket
from typing import Any

import requests

__all__ = ["ALLOW_RUNTIME", "Rpc", "free_port", "initcode"]

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
