"""EmbeddedNode: wires store, chain core, admission, a block producer and HTTP.

This is the in-process API that ``coledger node start`` and the tests use. Which block
producer drives the chain (the solo sealer by default, or a CometBFT application) is the only
difference between a laptop node and a consortium validator; everything else is shared.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from eth_utils import to_checksum_address

from .admission import Admission
from .config import NodeConfig
from .core import ChainCore, SealResult
from .cors import CorsPolicy
from .errors import NodeError
from .events import ChainEvents
from .ingest import TransactionValidator
from .production import BlockProducer
from .rpc import Dispatcher
from .server import RpcHttpServer, ServerLimits
from .solo import SoloSealer
from .store import PooledReader
from .subscriptions import SubscriptionHub
from .websocket import WsLimits

__all__ = ["EmbeddedNode", "NodeConfig", "NodeStateError", "ProducerFactory"]

log = logging.getLogger("coledger.node")

#: Builds the block producer once the node's core, admission and validator exist.
ProducerFactory = Callable[["EmbeddedNode"], BlockProducer]


class NodeStateError(NodeError):
    """start/stop called in the wrong lifecycle state."""


class EmbeddedNode:
    """A coledger node: durable SQLite store, py-evm execution, JSON-RPC, one block producer."""

    def __init__(self, config: NodeConfig, producer: ProducerFactory | None = None) -> None:
        self.config = config
        self._producer_factory = producer or (lambda n: SoloSealer(n, n.config.validator_key))
        self._started = False
        self._server: RpcHttpServer | None = None
        self._block_listeners: list[Callable[[SealResult], None]] = []
        #: chain events for listeners that must not know the producer (node.events)
        self.events = ChainEvents()
        self._hub: SubscriptionHub | None = None
        self.core: ChainCore
        self.producer: BlockProducer

    # ---- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """Open the store, start the producer and HTTP; returns when serving."""
        if self._started:
            raise NodeStateError("node already started")
        cfg = self.config
        to_checksum_address(cfg.bootstrap_address)  # validates
        self.core = ChainCore(cfg.data_dir, cfg.chain_id, cfg.block_gas_limit,
                              fast_evm=not cfg.stock_evm, check_store=cfg.check_store)
        try:
            self.admission = Admission(self.core, cfg.bootstrap_address, cfg.consortium_address)
            self.validator = TransactionValidator(self.core, self.admission, cfg.chain_id,
                                                  cfg.block_gas_limit)
            self.producer = self._producer_factory(self)
            self.dispatcher = Dispatcher(self)
            core = self.core
            self._hub = SubscriptionHub(self.reader, lambda: int(core.head.block_number))
            self.events.add(self._hub)
            self._server = RpcHttpServer(
                cfg.host, cfg.port, self.dispatcher,
                ServerLimits(cors=CorsPolicy.from_list(cfg.cors_origins),
                             ws=WsLimits(max_connections=cfg.ws_max_connections,
                                         max_subscriptions=cfg.ws_max_subscriptions,
                                         send_queue_messages=cfg.ws_send_queue)),
                hub=self._hub)
            self._hub.start()
            self.producer.start()
            self._server.start()
        except BaseException:
            if self._hub is not None:
                self._hub.stop()
            self.core.close()
            raise
        self._started = True
        log.info("coledger node (%s) listening on %s", self.producer.kind, self.url)

    @property
    def url(self) -> str:
        if self._server is None:
            raise NodeStateError("node not started")
        return f"http://{self._server.host}:{self._server.port}"

    def stop(self) -> None:
        """Graceful: stop accepting, let the current block finish, close the DB."""
        if not self._started:
            return
        self._started = False
        if self._server is not None:
            self._server.stop()  # WebSocket clients get a close frame (1001) here
        self.producer.stop()
        if self._hub is not None:
            self.events.remove(self._hub)
            self._hub.stop()
        self.core.close()

    def serve_forever(self, until: threading.Event | None = None) -> None:
        """Block until SIGINT/SIGTERM (or ``until`` is set), then stop()."""
        done = until or threading.Event()

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

    # ---- used by the producer and the RPC layer ----------------------------------------
    def reader(self) -> PooledReader:
        return self.core.store.reader()

    def add_block_listener(self, listener: Callable[[SealResult], None]) -> None:
        """Call ``listener`` after every durable block (subscriptions, caches)."""
        self._block_listeners.append(listener)

    def block_committed(self, result: SealResult) -> None:
        """The producer reports each block once it is durable and published as the head."""
        self.admission.on_block(result.log_addresses)
        for listener in self._block_listeners:
            try:
                listener(result)
            except Exception:  # a listener never stops block production
                log.exception("block listener failed on block %d", result.number)
        self.events.block_committed(result)

    def transactions_pending(self, hashes: list[bytes]) -> None:
        """The producer reports transactions newly accepted into its mempool (not re-checks)."""
        self.events.transactions_pending(hashes)
