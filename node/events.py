"""What happened on the chain, told to whoever listens (subscriptions, caches).

Why a small listener interface: block production has two implementations (the solo sealer and
the CometBFT application), and execution and storage must not know who consumes their events.
Each producer reports two facts at the one place they become true: a block was committed and
published as the head (:meth:`ChainEvents.block_committed`), and a transaction entered the
mempool (:meth:`ChainEvents.transactions_pending`). Listeners run on the producer's thread,
often under the chain lock, so they must only hand the fact over (enqueue it) and return; a
listener that fails is logged and never stops block production.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .core import SealResult

__all__ = ["ChainEvents", "ChainListener"]

log = logging.getLogger("coledger.node.events")


class ChainListener(Protocol):
    """Told about each durable block and each transaction newly accepted into the mempool."""

    def block_committed(self, result: SealResult) -> None: ...

    def transactions_pending(self, hashes: list[bytes]) -> None: ...


class ChainEvents:
    """The node's listeners; publishing never raises."""

    def __init__(self) -> None:
        self._listeners: list[ChainListener] = []
        self._lock = threading.Lock()

    def add(self, listener: ChainListener) -> None:
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def remove(self, listener: ChainListener) -> None:
        with self._lock:
            self._listeners = [x for x in self._listeners if x is not listener]

    def block_committed(self, result: SealResult) -> None:
        for listener in self._listeners:
            try:
                listener.block_committed(result)
            except Exception:  # a listener never stops block production
                log.exception("listener failed on block %d", result.number)

    def transactions_pending(self, hashes: list[bytes]) -> None:
        if not hashes:
            return
        for listener in self._listeners:
            try:
                listener.transactions_pending(hashes)
            except Exception:  # nor transaction intake
                log.exception("listener failed on %d pending transactions", len(hashes))
