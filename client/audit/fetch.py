"""Batch JSON-RPC fetching of full blocks, their receipts and their validator seals.

Why batches and a prefetch thread: the replay is bounded by re-execution, not by the
network, only if fetching overlaps with executing; one HTTP request carries the blocks of a
window (``eth_getBlockByNumber`` with full transactions plus ``coledger_getBlockSeal``), a
second one their receipts, while the previous window is being re-executed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from client.audit.errors import AuditRpcError, MissingBlockError

__all__ = ["RpcClient", "ServedBlock", "BlockFetcher", "METHOD_NOT_FOUND"]

METHOD_NOT_FOUND = -32601
_RECEIPTS_PER_REQUEST = 2_000
_WINDOW_TXS = 2_000  # transactions a prefetched window aims at


class RpcClient:
    """Minimal JSON-RPC 2.0 client over one keep-alive HTTP session (no web3 middleware)."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise AuditRpcError(f"unsupported RPC URL {url!r}: use an http(s) JSON-RPC endpoint")
        self.url = url
        self.timeout = timeout
        self._session = requests.Session()

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """Send ``calls`` as one batch; the response objects in call order (result or error)."""
        if not calls:
            return []
        body: Any = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                for i, (m, p) in enumerate(calls)]
        try:
            response = self._session.post(self.url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise AuditRpcError(f"cannot reach the chain at {self.url}: {exc}") from exc
        try:
            payload = response.json()
        except ValueError as exc:
            raise AuditRpcError(
                f"{self.url} answered HTTP {response.status_code} with a body that is not JSON"
            ) from exc
        if isinstance(payload, dict):  # a single error object for the whole batch
            err = payload.get("error", payload)
            raise AuditRpcError(f"{self.url} rejected the batch request: {err}")
        if not isinstance(payload, list) or len(payload) != len(calls):
            raise AuditRpcError(
                f"{self.url} answered a batch of {len(calls)} calls with "
                f"{len(payload) if isinstance(payload, list) else 'a non-list'} responses")
        by_id: dict[Any, dict[str, Any]] = {}
        for item in payload:
            if isinstance(item, dict):
                by_id[item.get("id")] = item
        try:
            return [by_id[i] for i in range(len(calls))]
        except KeyError as exc:
            raise AuditRpcError(f"{self.url} left call {exc} of a batch unanswered") from exc

    def call(self, method: str, params: list[Any]) -> Any:
        """One call; raise :class:`AuditRpcError` on an error object."""
        (reply,) = self.batch([(method, params)])
        if "error" in reply:
            raise AuditRpcError(f"{method} failed: {reply['error']}")
        return reply.get("result")

    def close(self) -> None:
        self._session.close()


@dataclass
class ServedBlock:
    """What the node serves for one block: header+transactions, receipts, seal (or None), and on
    a network the CometBFT signed header that decided it (or None)."""

    number: int
    block: dict[str, Any]
    receipts: list[dict[str, Any]]
    seal: dict[str, Any] | None
    commit: dict[str, Any] | None = None


class BlockFetcher:
    """Fetches windows of blocks; remembers whether the node serves validator seals."""

    def __init__(self, rpc: RpcClient, window: int = 50) -> None:
        self.rpc = rpc
        self.window = max(1, window)
        self.seals_supported: bool | None = None  # unknown until the first window
        self.want_commits = False  # a network: fetch each block's CometBFT signed header too

    def fetch(self, first: int, last: int) -> list[ServedBlock]:
        """Blocks ``first..last`` inclusive, each checked to be present and numbered right."""
        numbers = list(range(first, last + 1))
        calls: list[tuple[str, list[Any]]] = [
            ("eth_getBlockByNumber", [hex(n), True]) for n in numbers]
        want_seals = self.seals_supported is not False
        if want_seals:
            calls += [("coledger_getBlockSeal", [hex(n)]) for n in numbers]
        commits_at = len(calls)
        if self.want_commits:
            calls += [("coledger_getBlockCommit", [hex(n)]) for n in numbers]
        replies = self.rpc.batch(calls)
        blocks: list[dict[str, Any]] = []
        for n, reply in zip(numbers, replies, strict=False):
            if "error" in reply:
                raise MissingBlockError(f"block {n} could not be fetched: {reply['error']}")
            block = reply.get("result")
            if not isinstance(block, dict):
                raise MissingBlockError(
                    f"block {n} is missing: eth_getBlockByNumber returned null")
            served_number = _int(block.get("number"), f"block {n} number")
            if served_number != n:
                raise MissingBlockError(
                    f"asked for block {n}, the node served block {served_number} (a gap)")
            txs = block.get("transactions")
            if not isinstance(txs, list) or any(not isinstance(t, dict) for t in txs):
                raise MissingBlockError(
                    f"block {n} came without full transaction objects; the replay needs "
                    "eth_getBlockByNumber(n, true)")
            blocks.append(block)
        seals: list[dict[str, Any] | None] = [None] * len(numbers)
        if want_seals:
            for i, reply in enumerate(replies[len(numbers):commits_at]):
                err = reply.get("error")
                if err is not None:
                    if isinstance(err, dict) and err.get("code") == METHOD_NOT_FOUND:
                        self.seals_supported = False
                        seals = [None] * len(numbers)
                        break
                    raise AuditRpcError(f"coledger_getBlockSeal({numbers[i]}) failed: {err}")
                self.seals_supported = True
                seals[i] = reply.get("result")
        commits: list[dict[str, Any] | None] = [None] * len(numbers)
        if self.want_commits:
            for i, reply in enumerate(replies[commits_at:]):
                if "error" in reply:
                    raise AuditRpcError(
                        f"coledger_getBlockCommit({numbers[i]}) failed: {reply['error']}")
                result = reply.get("result")
                commits[i] = result.get("signedHeader") if isinstance(result, dict) else None
        receipts = self._receipts(blocks)
        return [ServedBlock(n, b, r, s, c) for n, b, r, s, c in
                zip(numbers, blocks, receipts, seals, commits, strict=True)]

    def _receipts(self, blocks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        wanted: list[tuple[int, str]] = []
        for bi, block in enumerate(blocks):
            for tx in block["transactions"]:
                wanted.append((bi, str(tx.get("hash"))))
        out: list[list[dict[str, Any]]] = [[] for _ in blocks]
        for start in range(0, len(wanted), _RECEIPTS_PER_REQUEST):
            chunk = wanted[start:start + _RECEIPTS_PER_REQUEST]
            replies = self.rpc.batch([("eth_getTransactionReceipt", [h]) for _, h in chunk])
            for (bi, tx_hash), reply in zip(chunk, replies, strict=True):
                receipt = reply.get("result")
                if not isinstance(receipt, dict):
                    number = int(blocks[bi]["number"], 16)
                    detail = reply.get("error") or "null"
                    raise MissingBlockError(
                        f"receipt of transaction {tx_hash} (block {number}) is missing: {detail}")
                out[bi].append(receipt)
        return out

    def windows(self, first: int, last: int, prefetch: int = 3,
                target_txs: int = _WINDOW_TXS) -> Iterator[list[ServedBlock]]:
        """Windows of blocks ``first..last`` fetched ahead on a background thread.

        A window is at most :attr:`window` blocks and, after the first (one block, so that
        re-execution starts at once), about ``target_txs`` transactions, sized from the
        previous window: with blocks of ~1,000 transactions a 50-block window would be
        fetched whole before the first block could run, and the fetch would not overlap.
        """
        q: queue.Queue[object] = queue.Queue(maxsize=max(1, prefetch))
        stop = threading.Event()

        def produce() -> None:
            try:
                start, size = first, 1
                while start <= last:
                    if stop.is_set():
                        return
                    end = min(last, start + size - 1)
                    blocks = self.fetch(start, end)
                    q.put(blocks)
                    per_block = max(1.0, sum(len(b.receipts) for b in blocks) / len(blocks))
                    # grows by doubling at most (busy blocks may follow empty ones), shrinks
                    # at once
                    size = max(1, min(self.window, 2 * size, int(target_txs / per_block)))
                    start = end + 1
                q.put(_DONE)
            except BaseException as exc:  # handed to the consumer, re-raised there
                q.put(exc)

        thread = threading.Thread(target=produce, name="audit-fetch", daemon=True)
        thread.start()
        try:
            while True:
                item = q.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    thread.join(timeout=0.05)


_DONE = object()


def _int(value: Any, what: str) -> int:
    try:
        return int(str(value), 16)
    except (TypeError, ValueError) as exc:
        raise MissingBlockError(f"{what} is not a hex quantity: {value!r}") from exc
