"""The evidence bundle: a versioned, self-contained JSON document an arbitrator verifies offline.

Why it looks like this: a bundle must let anyone, without trusting the API, recompute (1) each
item's content hashes, (2) each item's RFC 6962 inclusion path to the Merkle root its batch
anchored, and (3) each loan's hash chain — and then, with a chain RPC of their choosing, check
the anchors. So it carries, per item, the anchored record (``arbitration.record``) plus its
leaf index, batch tree size, audit path and batch root; per batch, the root, size and anchor
metadata (chain id, contract, block number and hash, tx hash, timestamp, submitter — all null
until the chain side fills them; all set or all null).

The parser is strict and fail-closed, like transparency-dev's verifiers: ``"version": 1`` only,
unknown/missing/duplicate fields, wrong types, non-canonical hex, trailing bytes and proofs over
``MAX_PROOF_SIZE`` are rejected with a ``BundleFormatError`` naming the field.
``verify_bundle`` stops at the first failed check with a ``BundleVerificationError`` naming the
item and the check. Offline it can only check anchors for internal consistency (same block ->
same hash and time; time never runs backwards; a chain link is never anchored before its
predecessor); that an anchor is really on chain is the chain-side check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _schema as S
from ._consensus_types import AnchorConsensus, consensus_to_json, parse_consensus
from .errors import BundleFormatError, BundleVerificationError, ProofError, RootMismatchError
from .merkle import MerkleTree
from .record import GENESIS_PREV, EvidenceKind, EvidenceRecord
from .sealing import sm3
from .verify import MAX_PROOF_SIZE, MAX_TREE_SIZE, verify_inclusion

__all__ = [
    "BUNDLE_VERSION",
    "BUNDLE_VERSION_CONSENSUS",
    "MAX_BUNDLE_BYTES",
    "MAX_ITEMS",
    "Anchor",
    "Batch",
    "BundleItem",
    "Bundle",
    "BundleReport",
    "build_bundle",
    "parse_bundle",
    "dump_bundle",
    "verify_bundle",
]

BUNDLE_VERSION = 1
#: version 2 = version 1 plus ``consensus``: per batch, the validators' proof of its anchor
BUNDLE_VERSION_CONSENSUS = 2
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_ITEMS = 100_000
_U64 = MAX_TREE_SIZE
_ANCHOR_FIELDS = ("chain_id", "contract", "block_number", "block_hash", "tx_hash", "timestamp", "submitter")
_ITEM_FIELDS = (
    "evidence_id",
    "kind",
    "loan_id",
    "sha256",
    "sm3",
    "ciphertext_sha256",
    "prev",
    "batch_root",
    "tree_size",
    "leaf_index",
    "proof",
)


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a batch root was anchored. ``None`` everywhere = not anchored (yet)."""

    chain_id: int | None = None
    contract: bytes | None = None  # 20-byte address
    block_number: int | None = None
    block_hash: bytes | None = None
    tx_hash: bytes | None = None
    timestamp: int | None = None  # block time, seconds since the epoch
    submitter: bytes | None = None  # 20-byte address of the anchoring member

    @property
    def anchored(self) -> bool:
        return self.block_number is not None


@dataclass(frozen=True, slots=True)
class Batch:
    root: bytes
    tree_size: int
    anchor: Anchor = field(default_factory=Anchor)


@dataclass(frozen=True, slots=True)
class BundleItem:
    record: EvidenceRecord
    batch_root: bytes
    tree_size: int
    leaf_index: int
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Bundle:
    case_id: bytes | None
    batches: tuple[Batch, ...]
    items: tuple[BundleItem, ...]
    version: int = BUNDLE_VERSION
    #: on a consortium network: per batch (same order), the proof of its anchor from the
    #: validators' signatures (``arbitration.consensus``), None for a batch not anchored
    consensus: tuple[AnchorConsensus | None, ...] = ()


@dataclass(frozen=True, slots=True)
class BundleReport:
    """What ``verify_bundle`` established."""

    items: int
    loans: dict[str, bool]  # loan id (0x hex) -> chain starts at its genesis item
    content_checked: frozenset[str]  # evidence ids whose plaintext was re-hashed
    anchored: bool  # every batch carries anchor metadata (not yet checked against a chain)


# --- building -----------------------------------------------------------------------------------


def build_bundle(
    batches: Sequence[tuple[Sequence[EvidenceRecord], Anchor]],
    include: set[bytes] | None = None,
    case_id: bytes | None = None,
) -> Bundle:
    """Bundle the records of whole anchoring batches (every leaf, in order), keeping only the
    items in ``include`` (all if ``None``). Items appear batch by batch, in leaf order."""
    out_batches: list[Batch] = []
    items: list[BundleItem] = []
    for records, anchor in batches:
        tree = MerkleTree([r.item_hash() for r in records])
        chosen = [i for i, r in enumerate(records) if include is None or r.evidence_id in include]
        if not chosen:
            continue
        out_batches.append(Batch(tree.root, tree.size, anchor))
        for i in chosen:
            proof = tuple(tree.inclusion_proof(i))
            items.append(BundleItem(records[i], tree.root, tree.size, i, proof))
    return Bundle(case_id, tuple(out_batches), tuple(items))


# --- JSON ---------------------------------------------------------------------------------------


def _anchor_to_json(a: Anchor) -> dict[str, Any]:
    def h(b: bytes | None) -> str | None:
        return None if b is None else S.hx(b)

    return {
        "chain_id": a.chain_id,
        "contract": h(a.contract),
        "block_number": a.block_number,
        "block_hash": h(a.block_hash),
        "tx_hash": h(a.tx_hash),
        "timestamp": a.timestamp,
        "submitter": h(a.submitter),
    }


def dump_bundle(bundle: Bundle) -> bytes:
    """The canonical serialization: fixed field order, 2-space indent, ASCII, final newline."""
    doc: dict[str, Any] = {
        "version": BUNDLE_VERSION_CONSENSUS if bundle.consensus else bundle.version,
        "case_id": None if bundle.case_id is None else S.hx(bundle.case_id),
        "batches": [
            {"root": S.hx(b.root), "tree_size": b.tree_size, "anchor": _anchor_to_json(b.anchor)}
            for b in bundle.batches
        ],
        "items": [
            {
                "evidence_id": S.hx(it.record.evidence_id),
                "kind": it.record.kind.json_name,
                "loan_id": S.hx(it.record.loan_id),
                "sha256": S.hx(it.record.sha256),
                "sm3": S.hx(it.record.sm3),
                "ciphertext_sha256": S.hx(it.record.ciphertext_sha256),
                "prev": S.hx(it.record.prev),
                "batch_root": S.hx(it.batch_root),
                "tree_size": it.tree_size,
                "leaf_index": it.leaf_index,
                "proof": [S.hx(p) for p in it.proof],
            }
            for it in bundle.items
        ],
    }
    if bundle.consensus:
        doc["consensus"] = [None if c is None else consensus_to_json(c) for c in bundle.consensus]
    return (json.dumps(doc, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def _parse_anchor(v: Any, path: str) -> Anchor:
    o = S.obj(v, path, _ANCHOR_FIELDS)
    set_ = [k for k in _ANCHOR_FIELDS if o[k] is not None]
    if not set_:
        return Anchor()
    if len(set_) != len(_ANCHOR_FIELDS):
        missing = next(k for k in _ANCHOR_FIELDS if o[k] is None)
        raise BundleFormatError(f"{path}.{missing}", "null in a partly filled anchor (all set or all null)")
    return Anchor(
        chain_id=S.integer(o["chain_id"], f"{path}.chain_id", 1, _U64),
        contract=S.hexbytes(o["contract"], f"{path}.contract", 20),
        block_number=S.integer(o["block_number"], f"{path}.block_number", 0, _U64),
        block_hash=S.hexbytes(o["block_hash"], f"{path}.block_hash", 32),
        tx_hash=S.hexbytes(o["tx_hash"], f"{path}.tx_hash", 32),
        timestamp=S.integer(o["timestamp"], f"{path}.timestamp", 0, _U64),
        submitter=S.hexbytes(o["submitter"], f"{path}.submitter", 20),
    )


def _parse_item(v: Any, path: str) -> BundleItem:
    o = S.obj(v, path, _ITEM_FIELDS)
    kind_name = S.string(o["kind"], f"{path}.kind")
    try:
        kind = EvidenceKind.from_json_name(kind_name)
    except KeyError:
        raise BundleFormatError(f"{path}.kind", f"unknown kind {kind_name!r}") from None
    proof = S.array(o["proof"], f"{path}.proof", MAX_PROOF_SIZE)
    record = EvidenceRecord(
        evidence_id=S.hexbytes(o["evidence_id"], f"{path}.evidence_id", 32),
        kind=kind,
        loan_id=S.hexbytes(o["loan_id"], f"{path}.loan_id", 32),
        sha256=S.hexbytes(o["sha256"], f"{path}.sha256", 32),
        sm3=S.hexbytes(o["sm3"], f"{path}.sm3", 32),
        ciphertext_sha256=S.hexbytes(o["ciphertext_sha256"], f"{path}.ciphertext_sha256", 32),
        prev=S.hexbytes(o["prev"], f"{path}.prev", 32),
    )
    return BundleItem(
        record=record,
        batch_root=S.hexbytes(o["batch_root"], f"{path}.batch_root", 32),
        tree_size=S.integer(o["tree_size"], f"{path}.tree_size", 1, _U64),
        leaf_index=S.integer(o["leaf_index"], f"{path}.leaf_index", 0, _U64),
        proof=tuple(S.hexbytes(p, f"{path}.proof[{i}]", 32) for i, p in enumerate(proof)),
    )


def parse_bundle(data: bytes) -> Bundle:
    """Parse and schema-check a bundle; ``BundleFormatError`` names the first bad field."""
    loaded = S.load_json(data, MAX_BUNDLE_BYTES)
    version = loaded.get("version") if isinstance(loaded, dict) else None
    keys = ("version", "case_id", "batches", "items")
    if version == BUNDLE_VERSION_CONSENSUS:
        keys += ("consensus",)
    doc = S.obj(loaded, "$", keys)
    if S.integer(doc["version"], "$.version", 0, _U64) not in (BUNDLE_VERSION, BUNDLE_VERSION_CONSENSUS):
        raise BundleFormatError("$.version", f"unsupported version {doc['version']}, want "
                                f"{BUNDLE_VERSION} or {BUNDLE_VERSION_CONSENSUS}")
    case_id = None if doc["case_id"] is None else S.hexbytes(doc["case_id"], "$.case_id", 32)
    batches = []
    for i, b in enumerate(S.array(doc["batches"], "$.batches", MAX_ITEMS)):
        p = f"$.batches[{i}]"
        o = S.obj(b, p, ("root", "tree_size", "anchor"))
        batches.append(
            Batch(
                root=S.hexbytes(o["root"], f"{p}.root", 32),
                tree_size=S.integer(o["tree_size"], f"{p}.tree_size", 1, _U64),
                anchor=_parse_anchor(o["anchor"], f"{p}.anchor"),
            )
        )
    raw_items = S.array(doc["items"], "$.items", MAX_ITEMS)
    if not raw_items:
        raise BundleFormatError("$.items", "a bundle has at least one item")
    items = tuple(_parse_item(v, f"$.items[{i}]") for i, v in enumerate(raw_items))
    consensus: tuple[AnchorConsensus | None, ...] = ()
    if version == BUNDLE_VERSION_CONSENSUS:
        raw = S.array(doc["consensus"], "$.consensus", MAX_ITEMS)
        if len(raw) != len(batches):
            raise BundleFormatError("$.consensus", f"{len(raw)} entries for {len(batches)} batches "
                                    "(one per batch, null for a batch not anchored)")
        consensus = tuple(None if v is None else parse_consensus(v, f"$.consensus[{i}]")
                          for i, v in enumerate(raw))
    return Bundle(case_id, tuple(batches), items, BUNDLE_VERSION, consensus)


# --- verification -------------------------------------------------------------------------------


def _fail(item: BundleItem | None, check: str, detail: str) -> BundleVerificationError:
    return BundleVerificationError(None if item is None else S.hx(item.record.evidence_id), check, detail)


def _check_contents(
    items: Mapping[bytes, BundleItem],
    contents: Mapping[bytes, bytes] | None,
    ciphertexts: Mapping[bytes, bytes] | None,
) -> frozenset[str]:
    checked: set[str] = set()
    for name, given in (("content", contents), ("ciphertext", ciphertexts)):
        for eid in given or {}:
            if eid not in items:
                detail = f"{name} given for an item not in the bundle"
                raise BundleVerificationError(S.hx(eid), f"{name}_unknown", detail)
    for eid, it in items.items():
        if contents is not None and eid in contents:
            data = contents[eid]
            if hashlib.sha256(data).digest() != it.record.sha256:
                got = S.hx(hashlib.sha256(data).digest())
                raise _fail(
                    it, "content_sha256", f"content hashes to {got}, bundle says {S.hx(it.record.sha256)}"
                )
            if sm3(data) != it.record.sm3:
                got = S.hx(sm3(data))
                raise _fail(it, "content_sm3", f"content SM3 is {got}, bundle says {S.hx(it.record.sm3)}")
            checked.add(S.hx(eid))
        if ciphertexts is not None and eid in ciphertexts:
            got_c = hashlib.sha256(ciphertexts[eid]).digest()
            if got_c != it.record.ciphertext_sha256:
                raise _fail(
                    it,
                    "ciphertext_sha256",
                    f"ciphertext hashes to {S.hx(got_c)}, bundle says {S.hx(it.record.ciphertext_sha256)}",
                )
    return frozenset(checked)


def _check_anchors(bundle: Bundle, first_item: Mapping[bytes, BundleItem]) -> None:
    by_block: dict[int, tuple[Batch, Anchor]] = {}
    by_tx: dict[bytes, Batch] = {}
    deployment: tuple[int | None, bytes | None] | None = None
    for b in bundle.batches:
        a, it = b.anchor, first_item[b.root]
        if not a.anchored:
            continue
        assert a.block_number is not None and a.timestamp is not None and a.tx_hash is not None
        if deployment is None:
            deployment = (a.chain_id, a.contract)
        elif deployment != (a.chain_id, a.contract):
            raise _fail(it, "anchor", f"batch {S.hx(b.root)} anchored on another chain or contract")
        if a.tx_hash in by_tx:
            raise _fail(it, "anchor", f"batch {S.hx(b.root)} shares tx {S.hx(a.tx_hash)} with another batch")
        by_tx[a.tx_hash] = b
        seen = by_block.get(a.block_number)
        if seen is not None and (seen[1].block_hash, seen[1].timestamp) != (a.block_hash, a.timestamp):
            raise _fail(
                it,
                "anchor",
                f"batch {S.hx(b.root)}: block {a.block_number} has a different hash or "
                f"timestamp than in batch {S.hx(seen[0].root)}",
            )
        by_block[a.block_number] = (b, a)
    blocks = sorted(by_block.items())
    for (n0, (_, a0)), (n1, (b1, a1)) in zip(blocks, blocks[1:], strict=False):
        assert a0.timestamp is not None and a1.timestamp is not None
        if a1.timestamp < a0.timestamp:
            raise _fail(
                first_item[b1.root],
                "anchor",
                f"batch {S.hx(b1.root)}: block {n1} timestamp "
                f"{a1.timestamp} precedes block {n0} timestamp {a0.timestamp}",
            )
        if a1.block_hash == a0.block_hash:
            raise _fail(
                first_item[b1.root], "anchor", f"batch {S.hx(b1.root)}: blocks {n0} and {n1} share a hash"
            )


def verify_bundle(
    bundle: Bundle,
    contents: Mapping[bytes, bytes] | None = None,
    *,
    ciphertexts: Mapping[bytes, bytes] | None = None,
    require_complete_chains: bool = True,
) -> BundleReport:
    """Verify everything a bundle can prove offline; raise ``BundleVerificationError`` at the first failure.

    ``contents`` maps evidence id -> plaintext (checked against SHA-256 and SM3), ``ciphertexts``
    evidence id -> blob (checked against the ciphertext SHA-256); items absent from them are not
    content-checked, ids not in the bundle are rejected. With ``require_complete_chains`` every
    loan's items must start at its genesis item; a single-item proof bundle passes ``False``.
    """
    batches: dict[bytes, Batch] = {}
    for b in bundle.batches:
        if b.root in batches:
            raise BundleVerificationError(None, "batch", f"batch root {S.hx(b.root)} listed twice")
        batches[b.root] = b
    items: dict[bytes, BundleItem] = {}
    first_item: dict[bytes, BundleItem] = {}
    positions: set[tuple[bytes, int]] = set()
    for it in bundle.items:
        eid = it.record.evidence_id
        if eid in items:
            raise _fail(it, "duplicate_item", "evidence id appears twice")
        items[eid] = it
        batch = batches.get(it.batch_root)
        if batch is None:
            raise _fail(it, "batch", f"batch root {S.hx(it.batch_root)} is not among the bundle's batches")
        if batch.tree_size != it.tree_size:
            raise _fail(
                it, "batch", f"tree size {it.tree_size} but batch {S.hx(batch.root)} has {batch.tree_size}"
            )
        if (it.batch_root, it.leaf_index) in positions:
            raise _fail(it, "batch", f"leaf index {it.leaf_index} of batch {S.hx(it.batch_root)} used twice")
        positions.add((it.batch_root, it.leaf_index))
        first_item.setdefault(it.batch_root, it)
    for b in bundle.batches:
        if b.root not in first_item:
            raise BundleVerificationError(None, "batch", f"batch {S.hx(b.root)} is used by no item")

    checked = _check_contents(items, contents, ciphertexts)

    for it in bundle.items:
        try:
            verify_inclusion(it.record.item_hash(), it.leaf_index, it.tree_size, it.proof, it.batch_root)
        except RootMismatchError as e:
            raise _fail(
                it,
                "inclusion_proof",
                f"path leads to root {S.hx(e.computed)}, batch root is {S.hx(e.expected)}",
            ) from e
        except ProofError as e:
            raise _fail(it, "inclusion_proof", str(e)) from e

    heads: dict[bytes, BundleItem] = {}
    complete: dict[str, bool] = {}
    for it in bundle.items:
        loan, prev = it.record.loan_id, heads.get(it.record.loan_id)
        if prev is None:
            complete[S.hx(loan)] = it.record.prev == GENESIS_PREV
            if require_complete_chains and it.record.prev != GENESIS_PREV:
                raise _fail(
                    it,
                    "hash_chain",
                    f"first item of loan {S.hx(loan)} in the bundle is not the loan's "
                    f"first (prev {S.hx(it.record.prev)}): evidence is missing",
                )
        elif it.record.prev != prev.record.item_hash():
            raise _fail(
                it,
                "hash_chain",
                f"prev {S.hx(it.record.prev)} is not the hash of the previous item "
                f"{S.hx(prev.record.evidence_id)} of loan {S.hx(loan)}",
            )
        else:
            a_prev, a_this = batches[prev.batch_root].anchor, batches[it.batch_root].anchor
            if a_this.anchored and (not a_prev.anchored or a_prev.block_number > a_this.block_number):  # type: ignore[operator]
                raise _fail(
                    it,
                    "anchor",
                    f"anchored before the previous item {S.hx(prev.record.evidence_id)} of loan {S.hx(loan)}",
                )
        heads[loan] = it

    _check_anchors(bundle, first_item)
    return BundleReport(
        items=len(bundle.items),
        loans=complete,
        content_checked=checked,
        anchored=all(b.anchor.anchored for b in bundle.batches),
    )
