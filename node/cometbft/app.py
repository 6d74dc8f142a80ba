"""The ledger as CometBFT's ABCI 2.0 application.

CometBFT decides the order of transactions and the block time; this application checks
transactions for the mempool (CheckTx), applies one validity rule to proposals
(PrepareProposal, ProcessProposal, see :mod:`node.cometbft.validity`), executes a decided block
into the store's overlay (FinalizeBlock) and makes it durable (Commit) through the same
:class:`~node.core.ChainCore` calls the solo sealer uses. Ethereum block N is CometBFT height N;
its time is ``max(floor(BFT time), parent time + 1)`` and its coinbase the proposer's address.
Nothing here reads a wall clock: validators agree bit for bit.

Locking: CometBFT calls CheckTx (mempool connection) concurrently with the consensus
connection's calls; every call that touches chain state takes the core's lock.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eth.constants import BLANK_ROOT_HASH
from eth_utils import encode_hex, keccak

from ..errors import NodeError, RpcError, StoreFullError
from ..rpc import CLIENT_VERSION
from ..validator_events import changes_in_logs, updates_of
from .apphash import app_hash
from .application import Application, proto_size_of_tx
from .checktx import CheckTxPool, DecodeCache
from .genesis import NetworkGenesis
from .proto import abci, crypto_pb2
from .validity import Verdict, check_block_transactions

if TYPE_CHECKING:
    from ..node import EmbeddedNode

__all__ = ["LedgerApplication", "ConsensusStateError", "APP_VERSION", "EXECUTION_INVALID"]

log = logging.getLogger("coledger.node.cometbft.app")

#: The application protocol version (block headers carry it).
APP_VERSION = 1
#: Result code of a transaction that passed the validity rule but that py-evm refused, or that
#: the block's gas could not fit (reasons 1-10 are the rejection kinds of node.errors).
EXECUTION_INVALID = 32


class ConsensusStateError(NodeError):
    """CometBFT asked for something that contradicts this validator's committed state."""


_VALIDATOR_COUNT = keccak(text="validatorCount()")[:4]
_IS_CONSORTIUM_NODE = keccak(text="isConsortiumNode(bytes20)")[:4]

#: ABCI query path CometBFT uses to ask whether to keep a peer, and our refusal code
PEER_ID_FILTER = "/p2p/filter/id/"
PEER_REFUSED = 1


class LedgerApplication(Application):
    """ABCI methods over one node's chain core."""

    def __init__(self, node: EmbeddedNode, genesis: NetworkGenesis, *,
                 wrong_app_hash_from: int | None = None,
                 on_fatal: Callable[[str], None] | None = None) -> None:
        self._node = node
        #: told why when this validator must stop (its store cannot commit a decided block)
        self._on_fatal = on_fatal
        self._core = node.core
        self._genesis = genesis
        self._validator = node.validator
        # test-only fault switch: report a wrong app hash from this height on (a validator
        # whose execution diverged); CometBFT must stop it while the others go on
        self._wrong_app_hash_from = wrong_app_hash_from
        self.decoder = DecodeCache(node.validator.decode)
        self.pool = CheckTxPool(self._core.state_nonce)
        self.misbehavior_seen = 0
        self._finalized_height = 0

    def _app_hash(self, header: Any) -> bytes:
        """The app hash after ``header``'s block: that of the last block with transactions
        (an empty block changes nothing, so its hash is its parent's and an idle network stays
        quiet after one proof block). Call with the core lock held."""
        chaindb = self._core.chain.chaindb
        while header.block_number > 0 and header.transaction_root == BLANK_ROOT_HASH:
            header = chaindb.get_block_header_by_hash(header.parent_hash)
        digest = app_hash(header)
        wrong_from = self._wrong_app_hash_from
        if wrong_from is not None and header.block_number >= wrong_from:
            return bytes(b ^ 0xFF for b in digest)
        return digest

    # ---- info and genesis -------------------------------------------------------------
    def info(self, req: Any) -> Any:
        with self._core.lock:
            head = self._core.head
            digest = self._app_hash(head)
        log.info("Info from CometBFT %s: app at height %d", req.version, head.block_number)
        return abci.ResponseInfo(
            data="coledger", version=CLIENT_VERSION, app_version=APP_VERSION,
            last_block_height=head.block_number, last_block_app_hash=digest,
        )

    def init_chain(self, req: Any) -> Any:
        """Check that CometBFT's genesis is this ledger's genesis; answer the genesis app hash."""
        if req.chain_id != self._genesis.chain_id:
            raise ConsensusStateError(
                f"InitChain for chain {req.chain_id!r}, this validator's genesis is "
                f"{self._genesis.chain_id!r}")
        if req.initial_height != 1:
            raise ConsensusStateError(
                f"InitChain with initial height {req.initial_height}: coledger needs 1 "
                f"(Ethereum block N is CometBFT height N)")
        try:
            app_state = json.loads(req.app_state_bytes or b"null")
        except ValueError as exc:
            raise ConsensusStateError(f"InitChain app_state is not JSON: {exc}") from exc
        theirs = NetworkGenesis.from_app_state(app_state, req.chain_id)
        with self._core.lock:
            genesis = self._core.chain.get_canonical_block_header_by_number(0)
            head = self._core.head
        if theirs.genesis_hash != encode_hex(genesis.hash):
            raise ConsensusStateError(
                f"another genesis: CometBFT's genesis makes Ethereum genesis {theirs.genesis_hash}, "
                f"this validator's data dir holds {encode_hex(genesis.hash)}")
        if head.block_number != 0:
            raise ConsensusStateError(
                f"InitChain while the ledger is at height {head.block_number}: CometBFT's state "
                f"was reset but the ledger's was not")
        log.info("InitChain %s: %d validators, genesis %s", req.chain_id, len(req.validators),
                 theirs.genesis_hash)
        return abci.ResponseInitChain(app_hash=self._app_hash(genesis))

    def query(self, req: Any) -> Any:
        path = str(req.path)
        if path.startswith(PEER_ID_FILTER):
            return self._peer_filter(path[len(PEER_ID_FILTER):].lower())
        return abci.ResponseQuery(code=0, height=self._core.head.block_number)

    def _peer_filter(self, node_id: str) -> Any:
        """CometBFT asks before it keeps a peer (``filter_peers = true``): only the consortium's
        nodes may connect — those of its current validators in the Consortium's registry once
        governance keeps one, before that the nodes named in the genesis; a stranger is refused
        and logged. (Address queries, ``/p2p/filter/addr/…``, are answered OK: identity, not
        address, decides.)"""
        registered = self._registered_node(node_id)
        allowed = self._genesis.node_ids
        if registered is True or (registered is None and (not allowed or node_id in allowed)):
            return abci.ResponseQuery(code=0)
        log.warning("refused peer %s: not a node of this consortium (genesis consortium_nodes)",
                    node_id)
        return abci.ResponseQuery(code=PEER_REFUSED,
                                  log=f"peer {node_id} is not a node of this consortium")

    def _registered_node(self, node_id: str) -> bool | None:
        """Whether the Consortium's validator registry lists ``node_id``; None when there is no
        registry to ask (the Consortium not deployed yet, or one without validators)."""
        try:
            raw = bytes.fromhex(node_id)
        except ValueError:
            return False
        if len(raw) != 20:
            return False
        consortium = self._node.admission.consortium
        ok, out = self._core.static_call(consortium, _VALIDATOR_COUNT)
        if not ok or len(out) != 32 or int.from_bytes(out, "big") == 0:
            return None
        ok, out = self._core.static_call(consortium, _IS_CONSORTIUM_NODE + raw.ljust(32, b"\0"))
        return ok and len(out) == 32 and out[-1] == 1

    # ---- mempool ------------------------------------------------------------------------
    def check_tx(self, req: Any) -> Any:
        # No chain lock around this: CometBFT calls CheckTx while FinalizeBlock executes the
        # next block, which holds the lock for the whole block. Admission and the state nonce are
        # cached decisions on the committed head (the draft changes neither until Commit, and
        # CometBFT runs no CheckTx during Commit); a cache miss takes the lock itself.
        try:
            ptx = self.decoder.decode(req.tx)
            self._validator.admit(ptx)
            self.pool.admit(ptx)
        except RpcError as exc:
            return abci.ResponseCheckTx(code=_code(exc), log=exc.message)
        if req.type != abci.RECHECK:  # a re-check after Commit is not news
            self._node.transactions_pending([ptx.hash])
        return abci.ResponseCheckTx(code=0, gas_wanted=int(ptx.tx.gas))

    # ---- proposals -----------------------------------------------------------------------
    def _verdicts(self, txs: Any) -> list[Verdict]:
        core = self._core
        return check_block_transactions(list(txs), self.decoder.decode, self._validator.admit,
                                        core.state_nonce, core.gas_limit)

    def prepare_proposal(self, req: Any) -> Any:
        with self._core.lock:
            verdicts = self._verdicts(req.txs)
        kept: list[bytes] = []
        size = 0
        for raw, verdict in zip(req.txs, verdicts, strict=True):
            if not verdict.valid:
                log.info("proposal leaves out a transaction: %s", verdict.error)
                continue
            cost = proto_size_of_tx(raw)
            if size + cost > req.max_tx_bytes:
                break
            kept.append(raw)
            size += cost
        return abci.ResponsePrepareProposal(txs=kept)

    def process_proposal(self, req: Any) -> Any:
        with self._core.lock:
            expected = self._core.head.block_number + 1
            if req.height != expected:
                log.warning("proposal for height %d while at %d: rejected", req.height, expected - 1)
                return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.REJECT)
            verdicts = self._verdicts(req.txs)
        bad = [(i, v.error) for i, v in enumerate(verdicts) if not v.valid]
        if bad:
            i, error = bad[0]
            log.warning("rejecting proposal %s at height %d: transaction %d: %s (%d invalid)",
                        req.hash.hex(), req.height, i, error, len(bad))
            return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.REJECT)
        return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)

    # ---- blocks ---------------------------------------------------------------------------
    def finalize_block(self, req: Any) -> Any:
        core = self._core
        for m in req.misbehavior:
            self.misbehavior_seen += 1
            log.error("CometBFT reports misbehavior at height %d: %s by validator %s (power %d) "
                      "at height %d — one key signing twice", req.height,
                      abci.MisbehaviorType.Name(m.type), m.validator.address.hex(),
                      m.validator.power, m.height)
        with core.lock:
            head = core.head.block_number
            if req.height != head + 1:
                raise ConsensusStateError(
                    f"FinalizeBlock for height {req.height}, but the ledger's head is {head}")
            core.abandon_draft()  # none expected: a replay after a crash starts clean
            verdicts = self._verdicts(req.txs)
            candidates = [v.ptx for v in verdicts if v.valid and v.ptx is not None]
            draft = core.build_block(candidates, int(req.time.seconds),
                                     bytes(req.proposer_address), allow_empty=True)
            assert draft is not None  # allow_empty
            if draft.number != req.height:
                core.abandon_draft()
                raise ConsensusStateError(f"built block {draft.number} for height {req.height}")
            included: dict[bytes, tuple[int, int]] = {}
            previous = 0
            for tx, receipt in zip(draft.txs, draft.receipts, strict=True):
                included[tx.hash] = (int(tx.gas), receipt.gas_used - previous)
                previous = receipt.gas_used
            left_out = dict(draft.dropped + draft.deferred)
            results = []
            for verdict in verdicts:
                if verdict.error is not None:
                    results.append(abci.ExecTxResult(code=_code(verdict.error),
                                                     log=verdict.error.message))
                    continue
                assert verdict.ptx is not None
                h = verdict.ptx.hash
                if h in included:
                    wanted, used = included[h]
                    results.append(abci.ExecTxResult(code=0, gas_wanted=wanted, gas_used=used))
                else:
                    results.append(abci.ExecTxResult(
                        code=EXECUTION_INVALID, gas_wanted=int(verdict.ptx.tx.gas),
                        log=left_out.get(h, "not executed")))
            digest = self._app_hash(draft.header)
            self._finalized_height = req.height
            updates = updates_of(changes_in_logs(
                ((lg.address, list(lg.topics), lg.data) for r in draft.receipts for lg in r.logs),
                self._node.admission.consortium))
        if updates:
            log.info("height %d: governance changes the validator set (effective at height %d): "
                     "%s", req.height, req.height + 2,
                     ", ".join(f"{base64.b64encode(k).decode()} power {p}" for k, p in updates))
        log.debug("finalized height %d: %d txs, %d executed, app hash %s", req.height,
                  len(req.txs), len(draft.txs), digest.hex())
        return abci.ResponseFinalizeBlock(
            tx_results=results, app_hash=digest,
            validator_updates=[abci.ValidatorUpdate(pub_key=crypto_pb2.PublicKey(ed25519=key),
                                                    power=power) for key, power in updates])

    def commit(self, req: Any) -> Any:
        core = self._core
        with core.lock:
            if not core.has_draft:
                raise ConsensusStateError("Commit without a finalized block")
            try:
                result = core.commit_draft(meta={"cometbft_height": str(self._finalized_height)})
            except StoreFullError as exc:
                self._cannot_commit(exc)
                raise
            self.pool.reset()
            self.decoder.forget(result.included)
            self._node.block_committed(result)
        return abci.ResponseCommit(retain_height=0)


    def _cannot_commit(self, exc: StoreFullError) -> None:
        """A decided block that cannot be made durable: this validator stops rather than go on
        from a state the network has moved past (it would diverge). The ledger stays at its last
        committed block (the failed commit was rolled back) and CometBFT keeps the decided block,
        so once space is freed a restart replays it and the validator catches up."""
        message = (f"validator cannot commit block {self._finalized_height}: {exc}. It stops "
                   f"rather than diverge from the network; free space on that filesystem and "
                   f"start it again (CometBFT replays the block)")
        log.critical("%s", message)
        if self._on_fatal is not None:
            self._on_fatal(message)


def _code(exc: RpcError) -> int:
    """A rejection's stable result code (never 0)."""
    return int(getattr(exc, "reason", 0)) or EXECUTION_INVALID
