"""Volatile transaction pool: per-sender queues ordered by nonce.

Only the contiguous run of nonces starting at the sender's state nonce is executable.
The pool is deliberately not persisted: a transaction is acknowledged only by its
durable receipt, and clients resubmit what was not yet sealed.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from dataclasses import dataclass, field

from eth.abc import SignedTransactionAPI
from eth_utils import to_checksum_address

from .authorizations import SignedAuthorization
from .errors import AlreadyKnownError, NonceTooHighError, NonceTooLowError, PoolFullError

__all__ = ["PendingTx", "Mempool"]


@dataclass(eq=False)
class PendingTx:
    """A decoded, signature-checked, admitted transaction waiting for a block."""

    tx: SignedTransactionAPI
    sender: bytes
    hash: bytes
    seq: int = field(default=0)
    authorizations: tuple[SignedAuthorization, ...] = ()  # type-4 only: recovered authorities

    @property
    def nonce(self) -> int:
        return int(self.tx.nonce)


class Mempool:
    """Thread-safe pool with nonce-gap and global-size limits."""

    def __init__(self, limit: int = 100_000, max_nonce_gap: int = 64) -> None:
        self.limit = limit
        self.max_nonce_gap = max_nonce_gap
        self._lock = threading.Lock()
        self._by_sender: dict[bytes, dict[int, PendingTx]] = {}
        self._base: dict[bytes, int] = {}
        self._by_hash: dict[bytes, PendingTx] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._by_hash)

    def get(self, tx_hash: bytes) -> PendingTx | None:
        return self._by_hash.get(tx_hash)

    def _contiguous_end(self, sender: bytes, state_nonce: int) -> int:
        queue = self._by_sender.get(sender, {})
        n = state_nonce
        while n in queue:
            n += 1
        return n

    def pending_nonce(self, sender: bytes, state_nonce: int) -> int:
        """Next nonce the sender should use: state nonce + contiguous pending ones."""
        with self._lock:
            return self._contiguous_end(sender, state_nonce)

    def add(self, ptx: PendingTx, state_nonce: int) -> None:
        """Queue ``ptx`` or raise :class:`TransactionRejectedError` naming the problem."""
        who = to_checksum_address(ptx.sender)
        with self._lock:
            if ptx.hash in self._by_hash:
                raise AlreadyKnownError(
                    f"already known: transaction {'0x' + ptx.hash.hex()} is already pending"
                )
            nonce = ptx.nonce
            if nonce < state_nonce:
                raise NonceTooLowError(
                    f"nonce too low: sender {who} has nonce {state_nonce}, "
                    f"transaction has {nonce}"
                )
            queue = self._by_sender.setdefault(ptx.sender, {})
            if nonce in queue:
                raise NonceTooLowError(
                    f"nonce too low: nonce {nonce} of sender {who} is already pending "
                    f"(replacement is not supported)"
                )
            expected = self._contiguous_end(ptx.sender, state_nonce)
            if nonce > expected + self.max_nonce_gap:
                if not queue:
                    del self._by_sender[ptx.sender]
                raise NonceTooHighError(
                    f"nonce too high: sender {who} next expected nonce {expected}, "
                    f"transaction has {nonce} (max gap {self.max_nonce_gap})"
                )
            if len(self._by_hash) >= self.limit:
                if not queue:
                    del self._by_sender[ptx.sender]
                raise PoolFullError(
                    f"mempool full: {self.limit} transactions pending, retry later"
                )
            ptx.seq = next(self._seq)
            queue[nonce] = ptx
            self._base[ptx.sender] = state_nonce
            self._by_hash[ptx.hash] = ptx

    def has_executable(self) -> bool:
        """True if at least one transaction can go into the next block."""
        with self._lock:
            return any(
                self._base.get(s, 0) in q for s, q in self._by_sender.items()
            )

    def executable(self) -> list[PendingTx]:
        """Executable transactions, nonce order per sender, arrival order across senders."""
        with self._lock:
            heap: list[tuple[int, bytes, int]] = []
            for sender, queue in self._by_sender.items():
                n = self._base.get(sender, 0)
                if n in queue:
                    heap.append((queue[n].seq, sender, n))
            heapq.heapify(heap)
            out: list[PendingTx] = []
            while heap:
                _, sender, n = heapq.heappop(heap)
                queue = self._by_sender[sender]
                out.append(queue[n])
                if n + 1 in queue:
                    heapq.heappush(heap, (queue[n + 1].seq, sender, n + 1))
            return out

    def remove(self, hashes: list[bytes]) -> None:
        """Forget transactions (sealed or dropped as invalid)."""
        with self._lock:
            for h in hashes:
                ptx = self._by_hash.pop(h, None)
                if ptx is None:
                    continue
                queue = self._by_sender.get(ptx.sender)
                if queue is not None and queue.get(ptx.nonce) is ptx:
                    del queue[ptx.nonce]
                    if not queue:
                        del self._by_sender[ptx.sender]
                        self._base.pop(ptx.sender, None)

    def update_state_nonces(self, nonces: dict[bytes, int]) -> None:
        """After a block: move senders' base nonce and drop now-stale entries."""
        with self._lock:
            for sender, nonce in nonces.items():
                queue = self._by_sender.get(sender)
                if queue is None:
                    continue
                for stale in [n for n in queue if n < nonce]:
                    self._by_hash.pop(queue.pop(stale).hash, None)
                if queue:
                    self._base[sender] = nonce
                else:
                    del self._by_sender[sender]
                    self._base.pop(sender, None)
