"""The ABCI 2.0 application interface: one method per request, each with a safe default answer.

Why a base class with defaults: CometBFT sends every request kind to every application, but a
ledger only has opinions about a few (CheckTx, FinalizeBlock, Commit, Info, Query). The defaults
here are the answers that keep consensus going without state sync or vote extensions; subclasses
override what they implement. Method names are the `Request` oneof field names, which is how
`AbciServer` dispatches.

Threading: the server calls these methods from one thread per CometBFT connection, so the
consensus connection (FinalizeBlock, Commit) and the mempool connection (CheckTx) run
concurrently. The application owns its locking.
"""

from __future__ import annotations

from node.cometbft.proto import abci
from node.cometbft.wire import encode_uvarint

__all__ = ["CODE_OK", "REQUEST_KINDS", "Application", "proto_size_of_tx"]

CODE_OK = 0

# The ABCI 2.0 (CometBFT v0.38) Request oneof, in proto order; also the Application method names.
REQUEST_KINDS: tuple[str, ...] = tuple(f.name for f in abci.Request.DESCRIPTOR.oneofs_by_name["value"].fields)

_TX_FIELD_TAG_SIZE = 1  # `repeated bytes txs = 1`: field 1, wire type 2 -> one tag byte


def proto_size_of_tx(tx: bytes) -> int:
    """Bytes one tx adds to the block's `Data` message, the unit of PrepareProposal's max_tx_bytes.

    CometBFT validates a proposal with `ComputeProtoSizeForTxs` (the protobuf size of
    `Data{txs}`), so a proposer that counts only raw tx bytes can overshoot and be rejected.
    """
    return _TX_FIELD_TAG_SIZE + len(encode_uvarint(len(tx))) + len(tx)


class Application:
    """Base ABCI application; every method returns a default that is valid for CometBFT v0.38."""

    # -- connection-level -------------------------------------------------------------------------

    def echo(self, req: abci.RequestEcho) -> abci.ResponseEcho:
        """Connection liveness check: answer with the same message."""
        return abci.ResponseEcho(message=req.message)

    def flush(self, req: abci.RequestFlush) -> abci.ResponseFlush:
        """Nothing to do: the server writes every pending response when it answers a Flush."""
        return abci.ResponseFlush()

    # -- query connection -------------------------------------------------------------------------

    def info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        """Handshake: the last committed height and app hash (0 and empty = replay from genesis)."""
        return abci.ResponseInfo()

    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        """Read-only state query; the base application has no state to show."""
        return abci.ResponseQuery(code=CODE_OK)

    # -- mempool connection -----------------------------------------------------------------------

    def check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        """Mempool admission; the default admits everything (validity is re-checked at execution)."""
        return abci.ResponseCheckTx(code=CODE_OK)

    # -- consensus connection ---------------------------------------------------------------------

    def init_chain(self, req: abci.RequestInitChain) -> abci.ResponseInitChain:
        """Genesis: an empty response keeps the genesis validators and consensus params."""
        return abci.ResponseInitChain()

    def prepare_proposal(self, req: abci.RequestPrepareProposal) -> abci.ResponsePrepareProposal:
        """Propose the mempool's txs in order, stopping at the first one that would exceed the budget.

        Stopping (rather than skipping ahead to smaller txs) keeps a sender's txs in nonce order.
        """
        kept: list[bytes] = []
        used = 0
        for tx in req.txs:
            size = proto_size_of_tx(tx)
            if used + size > req.max_tx_bytes:
                break
            kept.append(tx)
            used += size
        return abci.ResponsePrepareProposal(txs=kept)

    def process_proposal(self, req: abci.RequestProcessProposal) -> abci.ResponseProcessProposal:
        """Vote on another proposer's block; the default accepts."""
        return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)

    def extend_vote(self, req: abci.RequestExtendVote) -> abci.ResponseExtendVote:
        """No vote extensions: an empty one (only called if the chain enables them)."""
        return abci.ResponseExtendVote()

    def verify_vote_extension(self, req: abci.RequestVerifyVoteExtension) -> abci.ResponseVerifyVoteExtension:
        """Accept others' vote extensions (the default extension is empty)."""
        return abci.ResponseVerifyVoteExtension(status=abci.ResponseVerifyVoteExtension.ACCEPT)

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        """Execute a decided block: CometBFT requires exactly one result per tx, in order."""
        return abci.ResponseFinalizeBlock(tx_results=[abci.ExecTxResult(code=CODE_OK) for _ in req.txs])

    def commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
        """Persist what FinalizeBlock executed; retain_height 0 = keep every block."""
        return abci.ResponseCommit()

    # -- snapshot connection (state sync) ---------------------------------------------------------

    def list_snapshots(self, req: abci.RequestListSnapshots) -> abci.ResponseListSnapshots:
        """No state-sync snapshots are served."""
        return abci.ResponseListSnapshots()

    def offer_snapshot(self, req: abci.RequestOfferSnapshot) -> abci.ResponseOfferSnapshot:
        """Reject every offered snapshot: without restore support the node must sync by blocks."""
        return abci.ResponseOfferSnapshot(result=abci.ResponseOfferSnapshot.REJECT)

    def load_snapshot_chunk(self, req: abci.RequestLoadSnapshotChunk) -> abci.ResponseLoadSnapshotChunk:
        """No snapshots, so no chunks."""
        return abci.ResponseLoadSnapshotChunk()

    def apply_snapshot_chunk(self, req: abci.RequestApplySnapshotChunk) -> abci.ResponseApplySnapshotChunk:
        """Abort state sync if a chunk ever arrives (no snapshot was accepted)."""
        return abci.ResponseApplySnapshotChunk(result=abci.ResponseApplySnapshotChunk.ABORT)
