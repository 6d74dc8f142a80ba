"""A tiny key-value ABCI application for driving the server with the real CometBFT.

Txs are b"key=value". The app hash is SHA-256 over the sorted state with length-prefixed keys
and values, so every validator computes the same hash and a wrong one is visible in the next
header. Nothing is persisted: every node starts from genesis. Each request kind is recorded in
`calls` so tests can assert what CometBFT actually sent.
"""

from __future__ import annotations

import hashlib
import threading

from node.cometbft.application import CODE_OK, Application
from node.cometbft.proto import abci
from node.cometbft.wire import encode_uvarint

CODE_BAD_TX = 1
CODE_NOT_FOUND = 2


def parse_tx(tx: bytes) -> tuple[bytes, bytes] | None:
    key, sep, value = tx.partition(b"=")
    return (key, value) if sep and key else None


def state_hash(state: dict[bytes, bytes]) -> bytes:
    h = hashlib.sha256()
    for key in sorted(state):
        value = state[key]
        h.update(encode_uvarint(len(key)) + key + encode_uvarint(len(value)) + value)
    return h.digest()


class KvApp(Application):
    """State in memory; FinalizeBlock executes into `_pending`, Commit makes it current."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.state: dict[bytes, bytes] = {}
        self._pending: dict[bytes, bytes] = {}
        self.height = 0
        self.app_hash = b""
        self.app_hashes: dict[int, bytes] = {}
        self.calls: list[str] = []
        self.finalized: dict[int, list[bytes]] = {}

    def _saw(self, kind: str) -> None:
        with self._lock:
            self.calls.append(kind)

    def info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        self._saw("info")
        with self._lock:
            return abci.ResponseInfo(data="kvapp", last_block_height=self.height, last_block_app_hash=self.app_hash)

    def init_chain(self, req: abci.RequestInitChain) -> abci.ResponseInitChain:
        self._saw("init_chain")
        return abci.ResponseInitChain()

    def check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        self._saw("check_tx")
        if parse_tx(req.tx) is None:
            return abci.ResponseCheckTx(code=CODE_BAD_TX, log="tx must be key=value")
        return abci.ResponseCheckTx(code=CODE_OK)

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        self._saw("finalize_block")
        with self._lock:
            pending = dict(self.state)
        results = []
        for tx in req.txs:
            parsed = parse_tx(tx)
            if parsed is None:
                results.append(abci.ExecTxResult(code=CODE_BAD_TX, log="tx must be key=value"))
                continue
            pending[parsed[0]] = parsed[1]
            results.append(abci.ExecTxResult(code=CODE_OK))
        app_hash = state_hash(pending)
        with self._lock:
            self._pending = pending
            self.finalized[req.height] = list(req.txs)
            self.app_hashes[req.height] = app_hash
        return abci.ResponseFinalizeBlock(tx_results=results, app_hash=app_hash)

    def commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
        self._saw("commit")
        with self._lock:
            self.state = self._pending
            self.height = max(self.finalized)
            self.app_hash = self.app_hashes[self.height]
        return abci.ResponseCommit()

    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        self._saw("query")
        with self._lock:
            value = self.state.get(req.data)
            height = self.height
        if value is None:
            return abci.ResponseQuery(code=CODE_NOT_FOUND, key=req.data, height=height, log="not found")
        return abci.ResponseQuery(code=CODE_OK, key=req.data, value=value, height=height)
