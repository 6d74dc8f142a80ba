"""CometProducer: block production by a CometBFT network (this node is one validator's app).

The node's JSON-RPC, execution and storage are the same as on the solo node; only this class
knows that CometBFT decides the blocks. A raw transaction submitted to the JSON-RPC goes to the
local CometBFT (``broadcast_tx_sync``), which runs CheckTx on this application and gossips it;
the answer's result code is turned back into the same error class the solo node raises, so a
client sees "nonce too low" or "admission denied" whichever backend it talks to.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import keccak, to_checksum_address

from .. import errors
from ..errors import (
    AlreadyKnownError,
    InternalRpcError,
    RpcError,
    TimeTravelDisabledError,
    TransactionRejectedError,
)
from ..mempool import PendingTx
from ..production import BlockProducer
from .abci_server import AbciServer
from .app import EXECUTION_INVALID, LedgerApplication
from .engine import (
    BROADCAST_BATCH,
    EngineClient,
    EngineError,
    EngineRpcError,
    EngineUnavailableError,
)
from .genesis import NetworkGenesis

if TYPE_CHECKING:
    from ..node import EmbeddedNode

__all__ = ["CometProducer", "EngineNotReadyError", "error_for_code"]

log = logging.getLogger("coledger.node.cometbft")

#: CheckTx result code -> the error class the solo node raises for the same refusal
_BY_REASON: dict[int, type[RpcError]] = {
    cls.reason: cls  # type: ignore[attr-defined]
    for cls in (errors.TransactionEncodingError, errors.WrongChainIdError,
                errors.InvalidSignatureError, errors.TransactionGasError,
                errors.AdmissionDeniedError, errors.InsufficientFundsError,
                errors.NonceTooLowError, errors.NonceTooHighError, errors.AlreadyKnownError,
                errors.PoolFullError)
}


class EngineNotReadyError(RpcError):
    """This validator's CometBFT is not running (starting, restarting or stopped)."""

    code = -32000


def error_for_code(code: int, message: str) -> RpcError:
    """The RpcError a CheckTx result code stands for (unknown codes stay a plain rejection)."""
    cls = _BY_REASON.get(code)
    if cls is None:
        return TransactionRejectedError(f"transaction refused by CheckTx (code {code}): {message}")
    return cls(message)


def abci_socket_path(home: Path) -> Path:
    """Where the app listens for CometBFT: in the home, or (for a long home path, which a Unix
    socket address cannot hold) in a private per-user directory under /tmp."""
    path = Path(home).resolve() / "abci.sock"
    if len(str(path).encode()) < 100:
        return path
    private = Path("/tmp") / f"coledger-abci-{os.getuid()}"
    private.mkdir(mode=0o700, exist_ok=True)
    os.chmod(private, 0o700)
    return private / (keccak(str(path).encode()).hex()[:24] + ".sock")


class CometProducer(BlockProducer):
    """The node as the ABCI application of its local CometBFT."""

    kind = "cometbft"

    def __init__(self, node: EmbeddedNode, genesis: NetworkGenesis, socket_path: Path,
                 engine_url: str, validator_address: bytes, *,
                 wrong_app_hash_from: int | None = None,
                 on_fatal: Callable[[str], None] | None = None) -> None:
        self._node = node
        self._genesis = genesis
        self._socket_path = Path(socket_path)
        self._validator_address = validator_address
        self.engine = EngineClient(engine_url, timeout=15.0)
        self.app = LedgerApplication(node, genesis, wrong_app_hash_from=wrong_app_hash_from,
                                     on_fatal=on_fatal)
        self._server: AbciServer | None = None
        self._status_lock = threading.Lock()
        self._status_cache: tuple[float, dict[str, Any] | None, int] = (0.0, None, 0)
        #: threads that broadcast the lanes of a batch (each keeps its own keep-alive connection)
        self._lanes = ThreadPoolExecutor(SUBMIT_LANES, thread_name_prefix="coledger-broadcast")

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self._server = AbciServer(self.app, f"unix://{self._socket_path}")
        self._server.start()
        log.info("ABCI application listening on %s", self._socket_path)

    def stop(self) -> None:
        self._lanes.shutdown(wait=False, cancel_futures=True)
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def socket_path(self) -> Path:
        return self._socket_path

    # ---- transactions ----------------------------------------------------------------------
    def submit(self, raw: bytes) -> bytes:
        ptx = self._precheck(raw)
        try:
            answer: Any = self.engine.broadcast_tx_sync(raw)
        except EngineRpcError as exc:
            answer = exc
        except EngineError as exc:
            raise _engine_failure(exc) from exc
        return _outcome(ptx, answer)

    def submit_many(self, raws: Sequence[bytes]) -> list[bytes | RpcError]:
        """Hand a batch to CometBFT in ``broadcast_tx_sync`` batches, on a few lanes at once.

        CometBFT runs a batch's items one after another, each waiting for its CheckTx answer;
        while this process executes a block, each such answer waits for Python's GIL. Several
        lanes keep several CheckTx requests in flight on the ABCI socket, answered together.
        A sender's transactions all go on one lane, in order, so its nonces arrive in sequence;
        the answers mean exactly what :meth:`submit`'s do."""
        out: list[bytes | RpcError | None] = [None] * len(raws)
        lanes: list[list[tuple[int, PendingTx, bytes]]] = [[] for _ in range(SUBMIT_LANES)]
        lane_of: dict[bytes, int] = {}
        for i, raw in enumerate(raws):
            try:
                ptx = self._precheck(raw)
            except RpcError as exc:
                out[i] = exc
                continue
            lane = lane_of.setdefault(ptx.sender, len(lane_of) % SUBMIT_LANES)
            lanes[lane].append((i, ptx, raw))
        busy = [lane for lane in lanes if lane]
        if len(busy) == 1:
            self._broadcast_lane(busy[0], out)
        else:
            for future in [self._lanes.submit(self._broadcast_lane, lane, out) for lane in busy]:
                future.result()
        assert all(o is not None for o in out)
        return out  # type: ignore[return-value]

    def _broadcast_lane(self, items: list[tuple[int, PendingTx, bytes]],
                        out: list[bytes | RpcError | None]) -> None:
        for chunk in _chunks(items):
            try:
                answers = self.engine.broadcast_many([raw for _, _, raw in chunk])
            except EngineUnavailableError as exc:
                failure = _engine_failure(exc)
                answers = [failure] * len(chunk)
            except EngineError:  # e.g. a batch over the engine's size limit: one by one
                answers = []
                for _, _, raw in chunk:
                    try:
                        answers.append(self.engine.broadcast_tx_sync(raw))
                    except EngineRpcError as exc:
                        answers.append(exc)
                    except EngineError as exc:
                        answers.append(_engine_failure(exc))
            for (i, ptx, _), answer in zip(chunk, answers, strict=True):
                try:
                    out[i] = answer if isinstance(answer, RpcError) else _outcome(ptx, answer)
                except RpcError as exc:
                    out[i] = exc

    def _precheck(self, raw: bytes) -> PendingTx:
        """Decode first (cached, so CheckTx will not recover the signature again): a malformed
        transaction gets its precise error without a round trip through CometBFT."""
        ptx = self.app.decoder.decode(raw)
        if self.app.pool.get(ptx.hash) is not None:
            raise AlreadyKnownError(f"already known: transaction 0x{ptx.hash.hex()} is pending")
        return ptx

    def pending_nonce(self, sender: bytes) -> int:
        return self.app.pool.next_nonce(sender)

    def pending_transaction(self, tx_hash: bytes) -> PendingTx | None:
        return self.app.pool.get(tx_hash)

    @property
    def coinbase(self) -> str:
        return to_checksum_address(self._validator_address)

    # ---- network facts (cached briefly: eth_syncing and net_peerCount are polled) ----------
    def _engine_status(self) -> tuple[dict[str, Any] | None, int]:
        with self._status_lock:
            at, status, peers = self._status_cache
            if time.monotonic() - at < 1.0:
                return status, peers
        try:
            status = self.engine.status()
            peers = int(self.engine.net_info().get("n_peers", 0))
        except (EngineError, ValueError, TypeError):
            status, peers = None, 0
        with self._status_lock:
            self._status_cache = (time.monotonic(), status, peers)
        return status, peers

    def peer_count(self) -> int:
        return self._engine_status()[1]

    def syncing(self) -> bool | dict[str, Any]:
        status, _ = self._engine_status()
        if status is None:
            return False
        sync = status.get("sync_info", {})
        if not sync.get("catching_up"):
            return False
        head = self._node.core.head.block_number
        return {"startingBlock": hex(head), "currentBlock": hex(head),
                "highestBlock": hex(max(head, int(sync.get("latest_block_height", head))))}

    def info(self) -> dict[str, Any]:
        status, peers = self._engine_status()
        node_info = (status or {}).get("node_info", {})
        return {
            "consensus": self.kind,
            "chain_id": self._genesis.chain_id,
            "engine_rpc": self.engine.url,
            "engine_running": status is not None,
            "engine_node_id": node_info.get("id"),
            "moniker": node_info.get("moniker"),
            "validator_address": "0x" + self._validator_address.hex(),
            "peers": peers,
            "mempool_pending": len(self.app.pool),
            "misbehavior_seen": self.app.misbehavior_seen,
        }

    def block_commit(self, number: int) -> dict[str, Any] | None:
        """CometBFT's signed header of height ``number`` (= Ethereum block ``number``): the
        header and the commit whose signatures an auditor or arbitrator verifies on its own."""
        if number < 1 or number > self._node.core.head.block_number:
            return None
        try:
            result = self.engine.call("commit", height=str(number))
        except EngineError as exc:
            raise _engine_failure(exc) from exc
        signed = result.get("signed_header") if isinstance(result, dict) else None
        if not isinstance(signed, dict):
            raise InternalRpcError(f"consensus engine served no signed header for height {number}")
        return {"blockNumber": hex(number), "signedHeader": signed,
                "canonical": bool(result.get("canonical"))}

    def _no_time_travel(self, method: str) -> TimeTravelDisabledError:
        return TimeTravelDisabledError(
            f"{method} does not exist on a consortium network: block time is CometBFT's BFT "
            f"time, agreed by the validators")


__all__ += ["EXECUTION_INVALID", "abci_socket_path"]


#: broadcast batches in flight at once for one JSON-RPC batch (senders spread over them)
SUBMIT_LANES = 4
#: a broadcast batch's raw bytes; base64 keeps the body inside CometBFT's max_body_bytes (1 MB)
_BROADCAST_BATCH_BYTES = 512 * 1024


def _chunks(items: list[tuple[int, PendingTx, bytes]]) -> list[list[tuple[int, PendingTx, bytes]]]:
    chunks: list[list[tuple[int, PendingTx, bytes]]] = []
    size = 0
    for item in items:
        if not chunks or len(chunks[-1]) >= BROADCAST_BATCH or \
                size + len(item[2]) > _BROADCAST_BATCH_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += len(item[2])
    return chunks


def _engine_failure(exc: EngineError) -> RpcError:
    """The JSON-RPC error for an engine that did not answer a broadcast."""
    if isinstance(exc, EngineUnavailableError):
        return EngineNotReadyError(
            f"this validator's consensus engine is not reachable ({exc}); retry shortly or "
            f"send to another validator")
    return InternalRpcError(f"consensus engine error: {exc}")


def _outcome(ptx: PendingTx, answer: dict[str, Any] | EngineRpcError) -> bytes:
    """The transaction's hash if CheckTx accepted it, else the error the solo node would raise."""
    if isinstance(answer, EngineRpcError):
        words = f"{answer.data} {answer.rpc_message}"
        if "already exists in cache" in words:
            raise AlreadyKnownError(
                f"already known: transaction 0x{ptx.hash.hex()} was already received")
        if "mempool is full" in words:
            raise errors.PoolFullError(f"mempool is full: {answer.data}")
        raise TransactionRejectedError(
            f"CometBFT refused the transaction: {answer.data or answer}")
    code = int(answer.get("code", 0))
    if code != 0:
        raise error_for_code(code, str(answer.get("log", "")))
    return ptx.hash
