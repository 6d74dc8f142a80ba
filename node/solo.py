"""The solo sealer: one validator key seals every block (the laptop default).

Transactions wait in a local :class:`~node.mempool.Mempool`; a sealer thread builds and commits
a block every block period (or as soon as something is executable with period 0), signs its
hash with the validator key (the seal, kept beside the block), and reports it to the node.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from eth_utils import to_canonical_address

from .clock import DevClock
from .core import BlockSeal, SealResult
from .errors import NodeError, TimeTravelDisabledError
from .mempool import Mempool, PendingTx
from .production import BlockProducer
from .seal import Sealer

if TYPE_CHECKING:
    from .node import EmbeddedNode

__all__ = ["SoloSealer", "SealerStoppedError"]

log = logging.getLogger("coledger.node.solo")


class SealerStoppedError(NodeError):
    """A block was requested while the sealer is stopping."""


class SoloSealer(BlockProducer):
    """Proof of authority with a single sealing key and a local mempool."""

    kind = "solo"

    def __init__(self, node: EmbeddedNode, validator_key: bytes) -> None:
        cfg = node.config
        self._node = node
        self._core = node.core
        self.sealer = Sealer(validator_key)
        self._coinbase = to_canonical_address(self.sealer.address)
        self.mempool = Mempool(cfg.mempool_limit, cfg.max_nonce_gap)
        self.clock = DevClock(self._core.store)
        self._allow_time_travel = cfg.allow_time_travel
        self._period = cfg.block_period
        self._stopping = threading.Event()
        self._pending_event = threading.Event()
        self._seal_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._seal_loop, name="coledger-sealer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._pending_event.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._seal_lock:  # a seal in progress finishes first
            pass

    # ---- transactions ---------------------------------------------------------------
    def submit(self, raw: bytes) -> bytes:
        ptx = self._node.validator.validate(raw)
        self.mempool.add(ptx, self._core.state_nonce(ptx.sender))
        self._node.transactions_pending([ptx.hash])
        self._pending_event.set()
        return ptx.hash

    def pending_nonce(self, sender: bytes) -> int:
        return self.mempool.pending_nonce(sender, self._core.state_nonce(sender))

    def pending_transaction(self, tx_hash: bytes) -> PendingTx | None:
        return self.mempool.get(tx_hash)

    @property
    def coinbase(self) -> str:
        return self.sealer.address

    def info(self) -> dict[str, Any]:
        return {"consensus": self.kind, "sealer": self.sealer.address,
                "timeTravel": self._allow_time_travel}

    # ---- sealing --------------------------------------------------------------------
    def seal_now(self, allow_empty: bool) -> SealResult | None:
        """Seal one block with whatever is executable (evm_mine and the sealer loop)."""
        with self._seal_lock:
            if self._stopping.is_set():
                raise SealerStoppedError("node is stopping")
            core = self._core
            with core.lock:
                timestamp = self.clock.timestamp_for_next(core.head.timestamp)
                draft = core.build_block(self.mempool.executable(), timestamp, self._coinbase,
                                         allow_empty)
                if draft is None:
                    return None
                seal = BlockSeal(self.sealer.address, self.sealer.sign(draft.block.hash))
                result = core.commit_draft(seal)
                self.clock.block_sealed()
            for tx_hash, reason in result.dropped:
                log.warning("dropped invalid transaction 0x%s: %s", tx_hash.hex(), reason)
            self.mempool.remove(result.included + [h for h, _ in result.dropped])
            self.mempool.update_state_nonces(result.new_nonces)
            self._node.block_committed(result)
            return result

    def _seal_loop(self) -> None:
        period = self._period
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
            except SealerStoppedError:
                break
            except Exception:
                # never let the sealer die; the block was discarded and is retried
                log.exception("sealing failed; the block was discarded")
                time.sleep(0.1)
            if period <= 0 and self.mempool.has_executable():
                self._pending_event.set()

    # ---- dev time controls ------------------------------------------------------------
    def _dev(self, method: str) -> None:
        if not self._allow_time_travel:
            raise TimeTravelDisabledError(
                f"{method} is disabled: start the node with allow_time_travel "
                f"(--allow-time-travel) to use dev time controls"
            )

    def increase_time(self, seconds: int) -> int:
        self._dev("evm_increaseTime")
        with self._core.lock:
            return self.clock.increase_time(seconds, self._core.head.timestamp)

    def set_next_timestamp(self, timestamp: int) -> None:
        self._dev("evm_setNextBlockTimestamp")
        with self._core.lock:
            self.clock.set_next_timestamp(timestamp, self._core.head.timestamp)

    def mine(self) -> int | None:
        self._dev("evm_mine")
        result = self.seal_now(allow_empty=True)
        return None if result is None else result.number
