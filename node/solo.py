"""The solo sealer: one validator key seals every block (the laptop default).

Transactions wait in a local :class:`~node.mempool.Mempool`; a sealer thread builds and commits
a block every block period (or as soon as something is executable with period 0), signs its
hash with the validator key (the seal, kept beside the block), and reports it to the node.

When a block cannot be committed (a full disk: :class:`~node.errors.StoreFullError`) its
transactions stay in the mempool, the sealer retries with exponential backoff (up to
:data:`RETRY_CAP_SECONDS`) and with half as many transactions per try (a smaller block fits in
less space), says why in the log once per :data:`REPORT_EVERY_SECONDS`, and says when blocks
commit again. The JSON-RPC refuses new transactions meanwhile (the store's ``cannot_commit``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from eth_utils import to_canonical_address

from .backoff import Backoff
from .clock import DevClock
from .core import BlockSeal, SealResult
from .errors import CannotCommitError, NodeError, StoreFullError, TimeTravelDisabledError
from .mempool import Mempool, PendingTx
from .production import BlockProducer
from .seal import Sealer

if TYPE_CHECKING:
    from .node import EmbeddedNode

__all__ = ["SoloSealer", "SealerStoppedError", "RETRY_CAP_SECONDS", "REPORT_EVERY_SECONDS"]

log = logging.getLogger("coledger.node.solo")

#: first wait after a failed block, and the most the waits grow to
RETRY_FIRST_SECONDS = 0.1
RETRY_CAP_SECONDS = 2.0
#: a failure that goes on (or comes back) is reported in the log at most this often
REPORT_EVERY_SECONDS = 60.0


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
        self._backoff = Backoff(RETRY_FIRST_SECONDS, RETRY_CAP_SECONDS)
        #: most transactions per block while recovering from a full disk (None: no limit)
        self._block_cap: int | None = None
        self._attempted_txs = 0
        self._streak: _FailureStreak | None = None
        self._last_report = -REPORT_EVERY_SECONDS
        self._unreported = 0

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
                candidates = self.mempool.executable()
                if self._block_cap is not None:  # a prefix keeps every sender's nonce order
                    candidates = candidates[:self._block_cap]
                draft = core.build_block(candidates, timestamp, self._coinbase, allow_empty)
                if draft is None:
                    return None
                self._attempted_txs = len(draft.txs)
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
            try:
                if self.mempool.has_executable():
                    self._seal_once()
                elif self._core.store.cannot_commit is not None:
                    self._probe_once()  # nothing waits to be sealed: learn when space is back
            except SealerStoppedError:
                break
            if self._streak is not None:
                if self._stopping.wait(self._backoff.next_delay()):
                    break
                self._pending_event.set()
            elif period <= 0 and self.mempool.has_executable():
                self._pending_event.set()

    def _seal_once(self) -> None:
        try:
            result = self.seal_now(allow_empty=False)
        except SealerStoppedError:
            raise
        except Exception as exc:  # never let the sealer die; the block was discarded
            self._failed(exc)
            return
        if result is not None:
            self._succeeded(f"block {result.number} committed")
            if self._block_cap is not None:  # recovering: allow bigger blocks again
                self._block_cap = None if len(result.included) < self._block_cap \
                    else self._block_cap * 2

    def _probe_once(self) -> None:
        core = self._core
        try:
            with core.lock:
                core.store.probe_commit()
        except Exception as exc:
            self._failed(exc)
            return
        self._succeeded("a write probe committed")

    def _failed(self, exc: Exception) -> None:
        """A block (or probe) failed: keep its transactions, shrink the next block on a full
        disk, and report the failure, unless one of its kind was reported within
        REPORT_EVERY_SECONDS (the retries are counted and the count given with the next report)."""
        full = isinstance(exc, StoreFullError)
        if full:
            self._block_cap = max(1, self._attempted_txs // 2)
        now = time.monotonic()
        if self._streak is None:
            self._streak = _FailureStreak(now, type(exc).__name__)
        self._streak.attempts += 1
        new_kind = self._streak.kind != type(exc).__name__
        if not new_kind and now - self._last_report < REPORT_EVERY_SECONDS:
            self._unreported += 1
            log.debug("sealing failed again (attempt %d): %s", self._streak.attempts, exc)
            return
        earlier = f" ({self._unreported} failed attempts since the last report)" \
            if self._unreported else ""
        self._streak.kind, self._streak.reported = type(exc).__name__, True
        self._last_report, self._unreported = now, 0
        waiting = len(self.mempool)
        if full:
            log.error("cannot commit block %d: %s. New transactions are refused (JSON-RPC -32000) "
                      "until blocks commit again; the %d already accepted are kept and retried "
                      "with backoff up to %g s: free space on that filesystem%s",
                      self._core.head.block_number + 1, exc, waiting, RETRY_CAP_SECONDS, earlier)
        else:
            log.error("sealing failed; the block was discarded, the %d pending transactions are "
                      "kept and retried with backoff up to %g s%s", waiting, RETRY_CAP_SECONDS,
                      earlier, exc_info=exc)

    def _succeeded(self, what: str) -> None:
        streak, self._streak = self._streak, None
        self._backoff.reset()
        if streak is not None and streak.reported:
            log.warning("%s after %d failed attempts over %.1f s: the store commits again and new "
                        "transactions are accepted", what, streak.attempts,
                        time.monotonic() - streak.since)

    # ---- dev time controls ------------------------------------------------------------
    def _dev(self, method: str) -> None:
        if not self._allow_time_travel:
            raise TimeTravelDisabledError(
                f"{method} is disabled: start the node with allow_time_travel "
                f"(--allow-time-travel) to use dev time controls"
            )

    def _cannot_commit(self, method: str) -> CannotCommitError:
        """A dev method's write hit the full disk: the client's words (the log names the path)."""
        reason = self._core.store.cannot_commit or "database or disk is full"
        return CannotCommitError(f"{method}: node cannot commit blocks: {reason}; retry later")

    def increase_time(self, seconds: int) -> int:
        self._dev("evm_increaseTime")
        with self._core.lock:
            try:
                return self.clock.increase_time(seconds, self._core.head.timestamp)
            except StoreFullError as exc:
                raise self._cannot_commit("evm_increaseTime") from exc

    def set_next_timestamp(self, timestamp: int) -> None:
        self._dev("evm_setNextBlockTimestamp")
        with self._core.lock:
            self.clock.set_next_timestamp(timestamp, self._core.head.timestamp)

    def mine(self) -> int | None:
        self._dev("evm_mine")
        try:
            result = self.seal_now(allow_empty=True)
        except StoreFullError as exc:
            raise self._cannot_commit("evm_mine") from exc
        return None if result is None else result.number


class _FailureStreak:
    """Consecutive failed attempts: since when, how many, of which kind, whether reported."""

    __slots__ = ("since", "kind", "attempts", "reported")

    def __init__(self, since: float, kind: str) -> None:
        self.since = since
        self.kind = kind
        self.attempts = 0
        self.reported = False
