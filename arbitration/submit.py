"""The lead bank's evidence SDK: seal, store, chain and anchor evidence; open cases; share keys.

``EvidenceSubmitter`` ties the pieces together for one member key:

- ``submit_evidence`` seals the content for the member's own reader key (and, if the loan has an
  open case, for that case's arbitrator, bound to the case id), links it to the loan's hash chain
  (``prev`` = item hash of the loan's last anchored item), writes the vault, then anchors the
  record with ``EvidenceRegistry.anchorItem``.
- ``anchor_batch`` does the same for many items (any loans) and anchors one RFC 6962 root; the
  batch manifest is in the vault before the root is on chain, so an index can always map it back.
- ``open_case`` freezes the loan's head and count, opens the case on chain, then wraps every
  item's data key for the arbitrator's registered reader key, bound to the case id.

Where ``prev`` comes from (a deliberate choice): the vault is the source of a loan's items, and
the chain decides which of them count and in what order. A vault record counts once anchored —
by itself (``EvidenceRegistry.item``, whose item hash must equal the record's) or as a leaf of an
anchored batch whose vault manifest recomputes to the root (``EvidenceRegistry.batch``, size
checked). Anchored items are ordered by (anchoring block, leaf index); items of one loan
anchored in the same block (only possible with concurrent submitters) are ordered by following
their ``prev`` links. Records whose anchoring failed are ignored, so a failed transaction never
poisons the chain. Items of the loan anchored by another institution are not in this vault and
therefore not linked; that, and concurrent submitters on one loan, would show up as a broken
chain in the verifier rather than being hidden here. The index (``arbitration.index``) is the
fast path for reading; this walk costs one view call per item and suits the submitting side.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address
from web3 import Web3

from client.evidence_chain import (
    MAX_BATCH_SIZE,
    ArbitrationCasesClient,
    BatchAnchor,
    CaseStatus,
    EvidenceRegistryClient,
)
from client.tx import TransactionPipeline

from .errors import LoanChainError, NoReaderAccessError, ReaderKeyNotRegisteredError, SubmitError
from .merkle import MerkleTree
from .reader_keys import derive_reader_key
from .record import GENESIS_PREV, EvidenceKind, EvidenceRecord
from .sealing import WrappedKey, add_reader, load_public_key, new_evidence_id, public_key_bytes, seal
from .vault import EvidenceVault, ItemMeta, StoredRecord

__all__ = [
    "DEFAULT_MEDIA_TYPE",
    "KindLike",
    "SubmitReceipt",
    "BatchReceipt",
    "AnchoredItem",
    "EvidenceSubmitter",
    "loan_id32",
    "case_id32",
    "parse_kind",
    "guess_media_type",
]

DEFAULT_MEDIA_TYPE = "application/octet-stream"
KindLike = EvidenceKind | int | str
_U64 = 1 << 64


@dataclass(frozen=True, slots=True)
class SubmitReceipt:
    """One anchored item: its id, item hash (the next item's ``prev``), and where it was anchored."""

    evidence_id: bytes
    item_hash: bytes
    tx_hash: str  # 0x-hex, as client.evidence_chain reports it
    block_number: int


@dataclass(frozen=True, slots=True)
class BatchReceipt:
    """One anchored batch: its RFC 6962 root and size, the on-chain batch id, the leaves' evidence ids."""

    root: bytes
    size: int
    batch_id: int
    evidence_ids: tuple[bytes, ...]
    tx_hash: str
    block_number: int


@dataclass(frozen=True, slots=True)
class AnchoredItem:
    """A vault record that the chain anchored: in a batch (``batch_root`` set) or alone."""

    stored: StoredRecord
    block_number: int
    batch_root: bytes | None
    leaf_index: int

    @property
    def evidence_id(self) -> bytes:
        return self.stored.evidence_id

    @property
    def item_hash(self) -> bytes:
        return self.stored.record.item_hash()


def loan_id32(loan_id: int) -> bytes:
    """A LoanLedger loan id (uint64) as the 32-byte big-endian id evidence records carry."""
    if isinstance(loan_id, bool) or not isinstance(loan_id, int) or not 0 < loan_id < _U64:
        raise ValueError(f"loan id {loan_id!r} is not a positive uint64")
    return loan_id.to_bytes(32, "big")


def case_id32(case_id: int) -> bytes:
    """An ArbitrationCases case id (uint256) as the 32-byte case id bound into wrapped keys."""
    if isinstance(case_id, bool) or not isinstance(case_id, int) or not 0 < case_id < 1 << 256:
        raise ValueError(f"case id {case_id!r} is not a positive uint256")
    return case_id.to_bytes(32, "big")


def parse_kind(kind: KindLike) -> EvidenceKind:
    """An ``EvidenceKind`` from itself, its uint8 value, or its JSON name (``overdue_notice``; ``-`` allowed)."""
    if isinstance(kind, EvidenceKind):
        return kind
    try:
        if isinstance(kind, str):
            return EvidenceKind.from_json_name(kind.replace("-", "_"))
        if isinstance(kind, int) and not isinstance(kind, bool):
            return EvidenceKind(kind)
    except (KeyError, ValueError):
        pass
    names = ", ".join(k.json_name for k in EvidenceKind)
    raise ValueError(f"unknown evidence kind {kind!r} (kinds: {names})")


def guess_media_type(filename: str) -> str:
    """The media type of a file name, ``application/octet-stream`` when unknown."""
    return mimetypes.guess_type(filename)[0] or DEFAULT_MEDIA_TYPE


class EvidenceSubmitter:
    """Submit and share evidence as one member (``account``), storing into ``vault``."""

    def __init__(
        self,
        w3: Web3,
        registry_address: str,
        cases_address: str,
        account: LocalAccount,
        vault: EvidenceVault,
        pipeline: TransactionPipeline | None = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.address = to_checksum_address(account.address)
        self.pipeline = pipeline if pipeline is not None else TransactionPipeline(w3, account)
        self.registry = EvidenceRegistryClient(w3, registry_address, self.pipeline)
        self.cases = ArbitrationCasesClient(w3, cases_address, self.pipeline)
        self.vault = vault
        self._reader = derive_reader_key(bytes(account.key))
        self._reader_pub = public_key_bytes(self._reader)
        self._key_published = False
        self._manifests: dict[bytes, list[bytes]] = {}
        self._batch_anchors: dict[bytes, BatchAnchor] = {}

    @property
    def reader_key(self) -> X25519PrivateKey:
        """The member's X25519 reader key (derived from its signing key)."""
        return self._reader

    @property
    def reader_public(self) -> bytes:
        return self._reader_pub

    # -- reader key -------------------------------------------------------------------------------

    def ensure_reader_key(self) -> bool:
        """Publish the member's reader key unless the chain already has it; True if a transaction was sent."""
        if self.registry.reader_key(self.address) == self._reader_pub:
            self._key_published = True
            return False
        self.registry.register_reader_key(self._reader_pub)
        self._key_published = True
        return True

    def _publish_once(self) -> None:
        if not self._key_published:
            self.ensure_reader_key()

    # -- a loan's chain ---------------------------------------------------------------------------

    def anchored_items(self, loan_id: int) -> list[AnchoredItem]:
        """The loan's vault records that are anchored on chain, in anchoring order (see the module docs)."""
        records = self.vault.items_of_loan(loan_id32(loan_id))
        if not records:
            return []
        leaves = self._leaf_positions()
        found: list[AnchoredItem] = []
        for stored in records:
            eid = stored.evidence_id
            single = self.registry.item(eid)
            if single is not None:
                if single.item_hash != stored.record.item_hash():
                    raise LoanChainError(
                        "0x" + eid.hex(), "the chain anchored another item hash than the vault record"
                    )
                found.append(AnchoredItem(stored, single.block_number, None, 0))
                continue
            placed = [(anchor.block_number, root, index) for root, index in leaves.get(eid, [])
                      if (anchor := self._batch_anchor(root)) is not None]
            if placed:
                block, root, index = min(placed)
                found.append(AnchoredItem(stored, block, root, index))
        return _anchoring_order(found)

    def loan_head(self, loan_id: int) -> tuple[bytes, int]:
        """(item hash of the loan's last anchored item, number of anchored items); (zeros, 0) for none."""
        items = self.anchored_items(loan_id)
        return (items[-1].item_hash if items else GENESIS_PREV), len(items)

    def _leaf_positions(self) -> dict[bytes, list[tuple[bytes, int]]]:
        for root in self.vault.batch_roots():
            if root not in self._manifests:  # manifests are write-once: cache forever
                ids = self.vault.batch(root)
                if ids is not None:
                    self._manifests[root] = ids
        out: dict[bytes, list[tuple[bytes, int]]] = {}
        for root, ids in self._manifests.items():
            for index, eid in enumerate(ids):
                out.setdefault(eid, []).append((root, index))
        return out

    def _batch_anchor(self, root: bytes) -> BatchAnchor | None:
        """The chain's anchor of a vault batch, after checking the manifest recomputes to its root and size."""
        if root in self._batch_anchors:
            return self._batch_anchors[root]
        anchor = self.registry.batch(root)
        if anchor is None:
            return None
        ids = self._manifests[root]
        first = "0x" + ids[0].hex()
        if anchor.size != len(ids):
            raise LoanChainError(first, f"batch {root.hex()} has size {anchor.size} on chain, {len(ids)} in the vault")
        leaf_hashes = []
        for eid in ids:
            if not self.vault.has(eid):
                raise LoanChainError("0x" + eid.hex(), f"leaf of anchored batch {root.hex()} is missing from the vault")
            leaf_hashes.append(self.vault.record(eid).record.item_hash())
        if MerkleTree(leaf_hashes).root != root:
            raise LoanChainError(first, f"the vault's manifest of batch {root.hex()} does not recompute to its root")
        self._batch_anchors[root] = anchor
        return anchor

    # -- submitting -------------------------------------------------------------------------------

    def submit_evidence(
        self,
        loan_id: int,
        kind: KindLike,
        content: bytes,
        media_type: str = DEFAULT_MEDIA_TYPE,
        collected: str = "",
    ) -> SubmitReceipt:
        """Seal, chain, store and anchor one item of evidence on ``loan_id``."""
        loan = loan_id32(loan_id)
        kind = parse_kind(kind)
        self._publish_once()
        share = self._open_case_reader(loan_id)
        prev, _ = self.loan_head(loan_id)
        record, blob, keys = self._seal(loan, kind, bytes(content), prev, share)
        self.vault.put_item(record, blob, keys, ItemMeta(self.address, media_type, collected))
        receipt = self.registry.anchor_item(record.evidence_id, loan, int(kind), record.sha256, record.sm3,
                                            record.ciphertext_sha256, prev)
        event = self.registry.item_anchored(receipt)
        if event.item_hash != record.item_hash():
            raise SubmitError(f"the registry computed item hash 0x{event.item_hash.hex()}, "
                              f"the SDK 0x{record.item_hash().hex()}: record encodings disagree")
        return SubmitReceipt(record.evidence_id, event.item_hash, event.tx_hash, event.block_number)

    def anchor_batch(
        self,
        items: Sequence[tuple[int, KindLike, bytes]],
        media_type: str = DEFAULT_MEDIA_TYPE,
        collected: str = "",
    ) -> BatchReceipt:
        """Seal and store ``(loan_id, kind, content)`` items, then anchor their Merkle root with the size.

        Leaves are in the given order; each loan's items are chained in that order after the
        loan's current head. ``media_type`` and ``collected`` apply to every item.
        """
        if not 1 <= len(items) <= MAX_BATCH_SIZE:
            raise ValueError(f"a batch has 1..{MAX_BATCH_SIZE} items, got {len(items)}")
        parsed = [(loan_id32(loan_id), loan_id, parse_kind(kind), bytes(content)) for loan_id, kind, content in items]
        self._publish_once()
        heads: dict[int, bytes] = {}
        shares: dict[int, tuple[X25519PublicKey, bytes] | None] = {}
        for _, loan_id, _, _ in parsed:
            if loan_id not in heads:
                heads[loan_id] = self.loan_head(loan_id)[0]
                shares[loan_id] = self._open_case_reader(loan_id)
        sealed = []
        for loan, loan_id, kind, content in parsed:
            record, blob, keys = self._seal(loan, kind, content, heads[loan_id], shares[loan_id])
            heads[loan_id] = record.item_hash()
            sealed.append((record, blob, keys))
        tree = MerkleTree([record.item_hash() for record, _, _ in sealed])
        meta = ItemMeta(self.address, media_type, collected)
        for record, blob, keys in sealed:
            self.vault.put_item(record, blob, keys, meta)
        eids = tuple(record.evidence_id for record, _, _ in sealed)
        self.vault.put_batch(tree.root, tree.size, eids)
        event = self.registry.batch_anchored(self.registry.anchor_batch(tree.root, tree.size))
        return BatchReceipt(tree.root, tree.size, event.batch_id, eids, event.tx_hash, event.block_number)

    def _seal(
        self, loan: bytes, kind: EvidenceKind, content: bytes, prev: bytes,
        share: tuple[X25519PublicKey, bytes] | None,
    ) -> tuple[EvidenceRecord, bytes, list[WrappedKey]]:
        eid = new_evidence_id()
        sealed = seal(content, eid, [self._reader.public_key()])
        keys = list(sealed.wrapped_keys)
        if share is not None:
            reader, case = share
            keys.append(add_reader(keys[0], eid, self._reader, reader, case))
        d = sealed.digests
        record = EvidenceRecord(eid, kind, loan, d.sha256, d.sm3, d.ciphertext_sha256, prev)
        return record, sealed.blob, keys

    def _open_case_reader(self, loan_id: int) -> tuple[X25519PublicKey, bytes] | None:
        """The arbitrator's reader key and case id of the loan's open case, or None if no case is open."""
        case_id = self.cases.case_of_loan(loan_id)
        if case_id == 0:
            return None
        info = self.cases.case(case_id)
        if info.status != CaseStatus.OPEN:
            return None
        return self._arbitrator_key(info.arbitrator, f"to read evidence of case {case_id}"), case_id32(case_id)

    def _arbitrator_key(self, arbitrator: str, purpose: str) -> X25519PublicKey:
        raw = self.registry.reader_key(arbitrator)
        if raw is None:
            raise ReaderKeyNotRegisteredError(to_checksum_address(arbitrator), purpose)
        return load_public_key(raw)

    # -- cases ------------------------------------------------------------------------------------

    def open_case(self, loan_id: int, arbitrator: str) -> int:
        """Open a case on defaulted ``loan_id`` for ``arbitrator`` and give it every item's key.

        Checked before anything is sent: the arbitrator published a reader key, and this vault
        holds a key of the caller's for every anchored item of the loan. The frozen head and
        count are the loan's chain at this moment.
        """
        if not isinstance(arbitrator, str) or not is_address(arbitrator):
            raise ValueError(f"arbitrator {arbitrator!r} is not an address")
        arbitrator = to_checksum_address(arbitrator)
        self._arbitrator_key(arbitrator, "the case's evidence is wrapped for it")
        items = self.anchored_items(loan_id)
        self._own_keys(it.stored for it in items)
        head = items[-1].item_hash if items else GENESIS_PREV
        case_id = self.cases.open_case(loan_id, arbitrator, head, len(items))
        self.grant_case_access(case_id, items)
        return case_id

    def grant_case_access(self, case_id: int, items: Sequence[AnchoredItem] | None = None) -> int:
        """Wrap the keys of the case's loan items (default: all anchored now) for its arbitrator.

        Idempotent: items already wrapped for the arbitrator in this case are skipped. Returns
        the number of keys added. Use it again for items this vault learns of later.
        """
        info = self.cases.case(case_id)
        if info.status == CaseStatus.NONE:
            raise SubmitError(f"case {case_id} does not exist")
        reader = self._arbitrator_key(info.arbitrator, f"to read evidence of case {case_id}")
        reader_pub, case = public_key_bytes(reader), case_id32(case_id)
        todo = list(items) if items is not None else self.anchored_items(info.loan_id)
        added = 0
        for it, own in zip(todo, self._own_keys(it.stored for it in todo), strict=True):
            if self.vault.key_for(it.evidence_id, reader_pub, case) is not None:
                continue
            self.vault.add_wrapped_key(it.evidence_id, add_reader(own, it.evidence_id, self._reader, reader, case))
            added += 1
        return added

    def _own_keys(self, records: Iterable[StoredRecord]) -> list[WrappedKey]:
        out = []
        for stored in records:
            own = self.vault.key_for(stored.evidence_id, self._reader_pub)
            if own is None:
                raise NoReaderAccessError("0x" + stored.evidence_id.hex(), "0x" + self._reader_pub.hex())
            out.append(own)
        return out


def _anchoring_order(items: list[AnchoredItem]) -> list[AnchoredItem]:
    """Sort by (block, leaf index); within one block follow ``prev`` links from the previous head."""
    items = sorted(items, key=lambda it: (it.block_number, it.leaf_index, it.evidence_id))
    out: list[AnchoredItem] = []
    i = 0
    while i < len(items):
        j = i
        while j < len(items) and items[j].block_number == items[i].block_number:
            j += 1
        group = items[i:j]
        while group:
            head = out[-1].item_hash if out else GENESIS_PREV
            nxt = next((it for it in group if it.stored.record.prev == head), group[0])
            group.remove(nxt)
            out.append(nxt)
        i = j
    return out
