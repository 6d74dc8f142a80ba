"""What this validator's CometBFT mempool holds, as CheckTx has seen it.

Why the application tracks it: CometBFT v0.38's mempool is FIFO and knows nothing of nonces, so
CheckTx admits a sender's transaction only if its nonce is exactly the next one (state nonce
plus the sender's transactions already admitted): no gaps, no same-nonce replacement. That
makes every proposal's per-sender nonce sequence executable, and it is where the pending nonce
of ``eth_getTransactionCount(addr, "pending")`` comes from. At Commit CometBFT removes the
block's transactions and re-checks the rest in order (RECHECK), so the tracker starts over.

Decoding and signature recovery are cached by the transaction's hash, so RECHECK and the
proposal checks of a transaction this node already saw cost no second recovery.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from eth_utils import keccak, to_checksum_address

from ..errors import AlreadyKnownError, NonceTooHighError, NonceTooLowError, RpcError
from ..mempool import PendingTx

__all__ = ["CheckTxPool", "DecodeCache"]


class DecodeCache:
    """Bounded LRU of ``keccak(raw) -> PendingTx or the rejection`` (thread-safe)."""

    def __init__(self, decode: Callable[[bytes], PendingTx], limit: int = 50_000) -> None:
        self._decode = decode
        self._limit = limit
        self._lock = threading.Lock()
        # a rejection is kept as (class, message) and raised anew: re-raising one exception
        # object would grow its traceback at every hit
        self._entries: OrderedDict[bytes, PendingTx | tuple[type[RpcError], str]] = OrderedDict()

    def decode(self, raw: bytes) -> PendingTx:
        """The decoded, signature-checked transaction, or its rejection raised again."""
        key = keccak(raw)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
        if hit is None:
            try:
                hit = self._decode(raw)
            except RpcError as exc:
                hit = (type(exc), exc.message)
            with self._lock:
                self._entries[key] = hit
                while len(self._entries) > self._limit:
                    self._entries.popitem(last=False)
        if isinstance(hit, tuple):
            cls, message = hit
            raise cls(message)
        return hit

    def forget(self, hashes: list[bytes]) -> None:
        """Drop committed transactions: they will not be checked again."""
        with self._lock:
            for h in hashes:
                self._entries.pop(h, None)


class CheckTxPool:
    """Per-sender next nonces and transactions by hash of what CheckTx admitted."""

    def __init__(self, state_nonce: Callable[[bytes], int]) -> None:
        self._state_nonce = state_nonce
        self._lock = threading.Lock()
        self._next: dict[bytes, int] = {}
        self._by_hash: dict[bytes, PendingTx] = {}

    def __len__(self) -> int:
        return len(self._by_hash)

    def admit(self, ptx: PendingTx) -> None:
        """Accept ``ptx`` if its nonce is exactly the sender's next, or raise naming why not."""
        who = to_checksum_address(ptx.sender)
        # read before taking the pool's lock: a cache miss takes the chain's lock, which Commit
        # holds while it resets this pool (CometBFT runs no CheckTx during Commit anyway)
        state = self._state_nonce(ptx.sender)
        with self._lock:
            if ptx.hash in self._by_hash:
                raise AlreadyKnownError(
                    f"already known: transaction 0x{ptx.hash.hex()} is already pending")
            expected = max(self._next.get(ptx.sender, state), state)
            nonce = ptx.nonce
            if nonce < state:
                raise NonceTooLowError(
                    f"nonce too low: sender {who} has nonce {state}, transaction has {nonce}")
            if nonce < expected:
                raise NonceTooLowError(
                    f"nonce too low: nonce {nonce} of sender {who} is already pending "
                    f"(replacement is not supported)")
            if nonce > expected:
                raise NonceTooHighError(
                    f"nonce too high: sender {who} next expected nonce {expected}, transaction has "
                    f"{nonce} (a validator's mempool takes each sender's nonces in order, without gaps)")
            self._next[ptx.sender] = nonce + 1
            self._by_hash[ptx.hash] = ptx

    def next_nonce(self, sender: bytes) -> int:
        state = self._state_nonce(sender)
        with self._lock:
            return max(self._next.get(sender, state), state)

    def get(self, tx_hash: bytes) -> PendingTx | None:
        with self._lock:
            return self._by_hash.get(tx_hash)

    def reset(self) -> None:
        """After Commit: CometBFT re-checks what is left in its mempool, in order."""
        with self._lock:
            self._next.clear()
            self._by_hash.clear()
