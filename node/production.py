"""Block production: one interface, two implementations.

Why an interface: the node's execution (:mod:`node.core`), storage (:mod:`node.store`) and
JSON-RPC (:mod:`node.rpc`) must not know who decides the next block. On a laptop one key seals
every block (:class:`node.solo.SoloSealer`); on a consortium network CometBFT's BFT consensus
orders the transactions and sets the block time, and the node is its ABCI application
(:class:`node.cometbft.producer.CometProducer`). Each implementation takes raw transactions in,
answers what is pending, and drives :meth:`ChainCore.build_block` / :meth:`ChainCore.commit_draft`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from .errors import MethodNotFoundError, RpcError, TimeTravelDisabledError
from .mempool import PendingTx

__all__ = ["BlockProducer"]


class BlockProducer(ABC):
    """Who orders transactions into blocks, and when."""

    #: "solo" or "cometbft" (served by coledger_nodeInfo)
    kind: str = ""

    @abstractmethod
    def start(self) -> None:
        """Begin producing (or following) blocks; returns once running."""

    @abstractmethod
    def stop(self) -> None:
        """Stop producing; a block being committed is finished first."""

    @abstractmethod
    def submit(self, raw: bytes) -> bytes:
        """Check and queue a raw signed transaction; its hash, or an RpcError naming why not."""

    def submit_many(self, raws: Sequence[bytes]) -> list[bytes | RpcError]:
        """Check and queue several raw transactions in order (one JSON-RPC batch): for each its
        hash or the RpcError naming why not. A producer that hands transactions to an engine
        overrides this to do it in one round trip; the meaning is the same as one by one."""
        out: list[bytes | RpcError] = []
        for raw in raws:
            try:
                out.append(self.submit(raw))
            except RpcError as exc:
                out.append(exc)
        return out

    @abstractmethod
    def pending_nonce(self, sender: bytes) -> int:
        """Next nonce the sender should use: state nonce plus its queued transactions."""

    @abstractmethod
    def pending_transaction(self, tx_hash: bytes) -> PendingTx | None:
        """A queued (accepted, not yet committed) transaction, or None."""

    @property
    @abstractmethod
    def coinbase(self) -> str:
        """Checksum address served as eth_coinbase."""

    def peer_count(self) -> int:
        """Connected peers (a solo node has none)."""
        return 0

    def syncing(self) -> bool | dict[str, Any]:
        """eth_syncing: False, or progress while catching up with a network."""
        return False

    def info(self) -> dict[str, Any]:
        """What coledger_nodeInfo reports about block production."""
        return {"consensus": self.kind}

    def block_commit(self, number: int) -> dict[str, Any] | None:
        """The consensus engine's proof that block ``number`` was decided (a CometBFT header and
        commit), or None for a block not decided yet. A producer whose blocks carry their own
        seal has none and says where its proof is."""
        raise MethodNotFoundError(
            f"coledger_getBlockCommit: blocks of this node are sealed by one key ({self.kind} "
            f"block production); their proof is coledger_getBlockSeal")

    # ---- dev time controls: only where one key seals every block ----------------------
    def increase_time(self, seconds: int) -> int:
        raise self._no_time_travel("evm_increaseTime")

    def set_next_timestamp(self, timestamp: int) -> None:
        raise self._no_time_travel("evm_setNextBlockTimestamp")

    def mine(self) -> int | None:
        """Seal one block now (even empty); its number."""
        raise self._no_time_travel("evm_mine")

    def _no_time_travel(self, method: str) -> TimeTravelDisabledError:
        return TimeTravelDisabledError(f"{method} is not available with {self.kind} block production")
