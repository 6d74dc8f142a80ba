"""EmbeddedNode: wires store, chain core, mempool, admission, sealer thread and HTTP.

This is the in-process API that ``coledger node start`` and the tests use.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
import time
from typing import Any

from eth_utils import to_checksum_address

from .admission import Admission
from .config import NodeConfig
from .core import ChainCore, SealResult
from .errors import NodeError
from .ingest import TransactionIngest
from .mempool import Mempool
from .rpc import Dispatcher
from .seal import Sealer
from .server import RpcHttpServer

__all__ = ["EmbeddedNode", "NodeConfig", "NodeStateError"]

log = logging.getLogger("coledger.node")


class NodeStateError(NodeError):
    """start/stop called in the wrong lifecycle state."""


class EmbeddedNode:
    """Single-validator proof-of-authority node with a durable SQLite store."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self._started = False
        self._stopping = threading.Event()
        self._pending_event = threading.Event()
        self._seal_lock = threading.Lock()
        self._sealer_thread: threading.Thread | None = None
        self._server: RpcHttpServer | None = None
        self.core: ChainCore
        self.mempool = Mempool(config.mempool_limit, config.max_nonce_gap)

    # ---- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """Open the store, start the sealer and HTTP threads; returns when serving."""
        if self._started:
            raise NodeStateError("node already started")
        cfg = self.config
        to_checksum_address(cfg.bootstrap_address)  # validates
        self.core = ChainCore(cfg.data_dir, cfg.chain_id, cfg.block_gas_limit,
                              Sealer(cfg.validator_key), fast_evm=not cfg.stock_evm)
        self.admission = Admission(self.core, cfg.bootstrap_address, cfg.consortium_address)
        self.ingest = TransactionIngest(self.core, self.mempool, self.admission,
                                        cfg.chain_id, cfg.block_gas_limit)
        self.dispatcher = Dispatcher(self)
        self._server = RpcHttpServer(cfg.host, cfg.port, self.dispatcher)
        self._sealer_thread = threading.Thread(target=self._seal_loop, name="coledger-sealer",
                                               daemon=True)
        self._sealer_thread.start()
        self._server.start()
        self._started = True
        log.info("coledger node listening on %s", self.url)

    @property
    def url(self) -> str:
        if self._server is None:
            raise NodeStateError("node not started")
        return f"http://127.0.0.1:{self._server.port}"

    def stop(self) -> None:
        """Graceful: stop accepting, let the current seal finish, close the DB."""
        if not self._started:
            return
        self._started = False
        if self._server is not None:
            self._server.stop()
        self._stopping.set()
        self._pending_event.set()
        if self._sealer_thread is not None:
            self._sealer_thread.join(timeout=30)
        with self._seal_lock:
            self.core.close()

    def serve_forever(self) -> None:
        """Block until SIGINT/SIGTERM, then stop()."""
        done = threading.Event()

        def _handler(signum: int, frame: Any) -> None:
            done.set()

        old = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not done.wait(0.5):
                pass
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            self.stop()

    def __enter__(self) -> EmbeddedNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- used by the RPC layer ---------------------------------------------------------
    def reader(self) -> sqlite3.Connection:
        return self.core.store.reader()

    def notify_pending(self) -> None:
        self._pending_event.set()

    def seal_now(self, allow_empty: bool) -> SealResult | None:
        """Seal one block with whatever is executable (evm_mine and the sealer loop)."""
        with self._seal_lock:
            if self._stopping.is_set():
                raise NodeStateError("node is stopping")
            candidates = self.mempool.executable()
            result = self.core.seal_block(candidates, allow_empty)
            if result is None:
                return None
            for tx_hash, reason in result.dropped:
                log.warning("dropped invalid transaction 0x%s: %s", tx_hash.hex(), reason)
            self.mempool.remove(result.included + [h for h, _ in result.dropped])
            self.mempool.update_state_nonces(result.new_nonces)
            self.admission.on_block(result.log_addresses)
            return result

    # ---- sealer thread ---------------------------------------------------------------
    def _seal_loop(self) -> None:
        period = self.config.block_period
        next_slot = time.monotonic() + period
        while not self._stopping.is_set():
            if period <= 0:
                self._pending_event.wait(0.5)
                self._pending_event.clear()
            else:
                delay = next_slot - time.monotonic()
                if delay > 0 and self._stopping.wait(delay):
                    break
                next_slot = max(next_slot + period, time.monotonic())
            if self._stopping.is_set():
                break
            if not self.mempool.has_executable():
                continue
            try:
                self.seal_now(allow_empty=False)
            except NodeStateError:
                break
            except Exception:
                # never let the sealer die; the block was discarded and is retried
                log.exception("sealing failed; the block was discarded")
                time.sleep(0.1)
            if period <= 0 and self.mempool.has_executable():
                self._pending_event.set()
