"""Evidence time signed by the consortium: an anchor proven from the validators' signatures.

Why: on a consortium network no single institution's word should decide when evidence was
anchored. For each anchoring block N a bundle can carry what an arbitrator needs to check,
offline and against the validator set of the network's genesis only:

1. the Ethereum header of block N (RLP): its keccak is the anchor's block hash; it names the
   state, transactions and receipts roots and the block time;
2. the CometBFT signed header of height N, signed by more than 2/3 of the voting power: its
   BFT time is the anchoring time, and the Ethereum block time must agree with it;
3. the signed header of height N+1, linked to N's block id: its app hash is SHA-256 over N's
   three roots (``node/cometbft/apphash.py``), so the validators signed those roots;
4. Merkle-Patricia proofs of the anchoring transaction (its keccak is the anchor's tx hash) and
   of its receipt (status 1, with the contract's anchoring event for the batch root) under them.

Each failed step raises :class:`ConsensusProofError` naming the batch, the block and the check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rlp
from eth_utils import keccak
from trie import HexaryTrie
from trie.exceptions import BadTrieProof

from client.bft import BftError, SignedHeader, ValidatorSet, verify_signed_header
from node.cometbft.apphash import app_hash_of_roots

from ._consensus_types import AnchorConsensus
from .bundle import Anchor, Batch
from .chain_check import find_anchor_log
from .errors import ConsensusProofError

__all__ = ["AnchorConsensus", "AnchorTime", "fetch_anchor_consensus", "verify_anchor_consensus"]

@dataclass(frozen=True, slots=True)
class AnchorTime:
    """A verified anchor: block, BFT time (seconds, nanos) and the power that signed it."""

    batch_root: bytes
    block_number: int
    bft_time: tuple[int, int]
    signed_power: int
    total_power: int
    signers: tuple[str, ...]


def fetch_anchor_consensus(call: Callable[[str, list[Any]], Any], tx_hash: bytes,
                           block_number: int) -> AnchorConsensus:
    """Collect the proof of the anchor in ``tx_hash`` from a validator (``call`` = JSON-RPC).
    Raises ``LookupError`` while block ``block_number + 1`` (whose header signs N's roots) is
    not committed yet: the network makes it right after a block with transactions."""
    proof = call("coledger_getReceiptProof", ["0x" + tx_hash.hex()])
    if not isinstance(proof, dict) or int(proof["blockNumber"], 16) != block_number:
        raise LookupError(f"the node has no committed receipt of {tx_hash.hex()} in block {block_number}")
    this = call("coledger_getBlockCommit", [hex(block_number)])
    after = call("coledger_getBlockCommit", [hex(block_number + 1)])
    if not isinstance(this, dict) or not isinstance(after, dict):
        raise LookupError(f"block {block_number + 1}, whose header signs block {block_number}'s "
                          "roots, is not committed yet")
    return AnchorConsensus(
        block_number=block_number,
        tx_index=int(proof["transactionIndex"], 16),
        header_rlp=bytes.fromhex(proof["headerRlp"][2:]),
        receipt_proof=tuple(bytes.fromhex(n[2:]) for n in proof["proof"]),
        transaction_proof=tuple(bytes.fromhex(n[2:]) for n in proof["transactionProof"]),
        signed_header=this["signedHeader"],
        next_signed_header=after["signedHeader"],
    )


def verify_anchor_consensus(c: AnchorConsensus, batch: Batch, vset: ValidatorSet) -> AnchorTime:
    """Check one batch's anchor against the validators' signatures (see the module docstring)."""
    a: Anchor = batch.anchor
    root = batch.root

    def fail(check: str, detail: str) -> ConsensusProofError:
        return ConsensusProofError(root, c.block_number, check, detail)

    if not a.anchored or a.block_hash is None or a.tx_hash is None or a.contract is None:
        raise fail("anchor", "the batch carries no anchor to prove")
    if c.block_number != a.block_number:
        raise fail("block_number", f"the proof is for block {c.block_number}, the anchor says "
                                   f"{a.block_number}")
    # 1. the Ethereum header
    if keccak(c.header_rlp) != a.block_hash:
        raise fail("header", "the Ethereum header does not hash to the anchor's block hash")
    try:
        fields = rlp.decode(c.header_rlp)
        coinbase, state_root, tx_root, receipt_root = fields[2], fields[3], fields[4], fields[5]
        number = int.from_bytes(fields[8], "big")
        timestamp = int.from_bytes(fields[11], "big")
    except (rlp.DecodingError, IndexError, TypeError) as exc:
        raise fail("header", f"the Ethereum header is not a block header: {exc}") from exc
    if number != c.block_number or timestamp != a.timestamp:
        raise fail("header", f"the header is block {number} at {timestamp}, the anchor says block "
                             f"{a.block_number} at {a.timestamp}")
    # 2. and 3. the validators' commits on heights N and N+1
    try:
        this = SignedHeader.from_json(c.signed_header)
        after = SignedHeader.from_json(c.next_signed_header)
        if this.height != c.block_number or after.height != c.block_number + 1:
            raise fail("commit", f"signed headers of heights {this.height} and {after.height}, "
                                 f"want {c.block_number} and {c.block_number + 1}")
        check = verify_signed_header(this, vset)
        verify_signed_header(after, vset)
    except BftError as exc:
        raise fail("commit", str(exc)) from exc
    if after.last_block_hash != this.block_hash:
        raise fail("commit", f"the header of height {after.height} does not follow the signed "
                             f"block {c.block_number}")
    if after.app_hash != app_hash_of_roots(state_root, tx_root, receipt_root):
        raise fail("app_hash", f"the validators signed an app hash for block {c.block_number} "
                               "that is not the one of this header's roots")
    if timestamp < this.time.seconds:
        raise fail("timestamp", f"block time {timestamp} precedes the BFT time "
                                f"{this.time.seconds} the validators signed")
    if coinbase != this.proposer_address:
        raise fail("proposer", "the block's coinbase is not the proposer the validators signed")
    # 4. the transaction and its receipt under the signed roots
    key = rlp.encode(c.tx_index)
    try:
        tx = HexaryTrie.get_from_proof(tx_root, key, [rlp.decode(n) for n in c.transaction_proof])
        receipt = HexaryTrie.get_from_proof(receipt_root, key,
                                            [rlp.decode(n) for n in c.receipt_proof])
    except (BadTrieProof, rlp.DecodingError, ValueError, TypeError, IndexError) as exc:
        raise fail("inclusion", f"a trie proof does not verify: {exc}") from exc
    if not tx or keccak(tx) != a.tx_hash:
        raise fail("transaction", f"transaction {c.tx_index} of block {c.block_number} is not "
                                  f"the anchor's transaction 0x{a.tx_hash.hex()}")
    status, logs = _decode_receipt(receipt, fail)
    if status != 1:
        raise fail("status", "the anchoring transaction failed")
    if find_anchor_log(logs, a.contract, root, batch.tree_size) is None:
        raise fail("root", "the receipt has no event of the evidence contract anchoring this root")
    return AnchorTime(root, c.block_number, (this.time.seconds, this.time.nanos),
                      check.signed_power, check.total_power, check.signers)


def _decode_receipt(raw: bytes, fail: Callable[[str, str], ConsensusProofError]
                    ) -> tuple[int, list[dict[str, Any]]]:
    """EIP-2718: a typed receipt is ``type || rlp([status, gas, bloom, logs])``."""
    try:
        body = raw[1:] if raw and raw[0] < 0x7F else raw
        status, _gas, _bloom, logs = rlp.decode(body)
        out = [{"address": "0x" + bytes(addr).hex(),
                "topics": ["0x" + bytes(t).hex() for t in topics],
                "data": "0x" + bytes(data).hex()} for addr, topics, data in logs]
        return int.from_bytes(status, "big"), out
    except (rlp.DecodingError, ValueError, TypeError) as exc:
        raise fail("receipt", f"the proven receipt does not decode: {exc}") from exc
