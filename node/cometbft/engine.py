"""A small client of the local CometBFT's JSON-RPC (the validator's own engine only).

Why not a library: four calls are needed (broadcast_tx_sync, status, net_info, commit/block
for the auditor), each a plain JSON-RPC POST on loopback; one persistent HTTP connection per
thread keeps a broadcast at a fraction of a millisecond. Never called from inside an ABCI
call: CometBFT would wait for the application that waits for CometBFT (deadlock).
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from typing import Any
from urllib.parse import urlparse

from ..errors import NodeError

__all__ = ["BROADCAST_BATCH", "EngineClient", "EngineError", "EngineUnavailableError", "EngineRpcError"]


class EngineError(NodeError):
    """The local CometBFT could not answer a request."""


class EngineUnavailableError(EngineError):
    """The local CometBFT is not running or not reachable (connection refused or timed out)."""


class EngineRpcError(EngineError):
    """CometBFT answered with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: str) -> None:
        super().__init__(f"CometBFT RPC error {code}: {message}: {data}")
        self.code = code
        self.rpc_message = message
        self.data = data


#: items per JSON-RPC batch the node sends CometBFT; a validator's config sets CometBFT's
#: ``rpc.max_request_batch_size`` to this (its default, 10, would make batches ten times smaller)
BROADCAST_BATCH = 100


class EngineClient:
    """JSON-RPC over HTTP/1.1 keep-alive to ``url`` (e.g. ``http://127.0.0.2:26657``)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
            raise ValueError(f"CometBFT RPC URL must be http://HOST:PORT, got {url!r}")
        self.url = url
        self._host, self._port = parsed.hostname, parsed.port
        self._timeout = timeout
        self._local = threading.local()
        self._ids = 0

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
        return conn

    def _post(self, body: bytes) -> Any:
        for attempt in (0, 1):  # a keep-alive connection the server closed: reconnect once
            conn = self._connection()
            try:
                conn.request("POST", "/", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                payload = response.read()
                return json.loads(payload)
            except (ConnectionError, http.client.HTTPException, TimeoutError, OSError) as exc:
                conn.close()
                self._local.conn = None
                if attempt == 1 or isinstance(exc, (ConnectionRefusedError, TimeoutError)):
                    raise EngineUnavailableError(
                        f"CometBFT at {self.url} is not reachable: {exc}") from exc
            except ValueError as exc:
                raise EngineError(f"CometBFT at {self.url} answered non-JSON: {exc}") from exc
        raise AssertionError("unreachable")

    def call(self, method: str, **params: Any) -> Any:
        self._ids += 1
        reply = self._post(json.dumps({"jsonrpc": "2.0", "id": self._ids, "method": method,
                                       "params": params}).encode())
        return _result(reply)

    def call_many(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        """One HTTP request with a JSON-RPC batch; CometBFT handles its items in order.
        Each item is its result, or the EngineRpcError it answered."""
        batch = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                 for i, (m, p) in enumerate(calls)]
        replies = self._post(json.dumps(batch).encode())
        if not isinstance(replies, list):
            raise EngineError(f"CometBFT answered a batch with {str(replies)[:200]}")
        by_id = {r.get("id"): r for r in replies}
        out: list[Any] = []
        for i in range(len(calls)):
            try:
                out.append(_result(by_id.get(i, {"error": {"code": -1, "message": "no answer"}})))
            except EngineRpcError as exc:
                out.append(exc)
        return out

    # ---- the calls the node uses --------------------------------------------------------
    def broadcast_tx_sync(self, raw: bytes) -> dict[str, Any]:
        """CheckTx's answer for ``raw`` (``code``, ``log``, ``hash``)."""
        return dict(self.call("broadcast_tx_sync", tx=base64.b64encode(raw).decode()))

    def broadcast_many(self, raws: list[bytes]) -> list[Any]:
        return self.call_many([("broadcast_tx_sync", {"tx": base64.b64encode(r).decode()})
                               for r in raws])

    def status(self) -> dict[str, Any]:
        return dict(self.call("status"))

    def net_info(self) -> dict[str, Any]:
        return dict(self.call("net_info"))


def _result(reply: Any) -> Any:
    if not isinstance(reply, dict):
        raise EngineError(f"CometBFT answered {str(reply)[:200]}")
    if "error" in reply and reply["error"]:
        err = reply["error"]
        raise EngineRpcError(int(err.get("code", 0)), str(err.get("message", "")),
                             str(err.get("data", "")))
    return reply.get("result")
