"""The evidence vault: sealed blobs, their anchored records, wrapped keys and batch manifests.

Layout under the vault root ``DIR`` (one directory per institution, by default
``DATA_DIR/evidence``):

- ``DIR/blobs/`` — a ``FileBlobStore``: ciphertexts, content-addressed by SHA-256 hex.
- ``DIR/records/<eid hex>.json`` — ``{"version": 1, "record": {evidence_id, kind, loan_id, sha256,
  sm3, ciphertext_sha256, prev}, "blob", "size", "media_type", "collected", "submitter"}``.
- ``DIR/keys/<eid hex>/<reader pub hex>-<case id hex>.json`` — ``{"reader", "case_id", "sealed"}``.
- ``DIR/batches/<root hex>.json`` — ``{"version": 1, "root", "size", "evidence_ids": [leaf order]}``.

Why write-once files: a record is what was (or will be) anchored; changing it afterwards would
make the vault disagree with the chain. Every record, key and manifest is written to a
temporary file, fsynced, then hard-linked to its final name — ``os.link`` fails if the name
exists, so two writers can never both "win" and a reader never sees half a file. Offering the
same content again is a no-op (retries are safe); different content under a taken name raises
``VaultConflictError``.

Why ids are checked first: every id (evidence id, batch root, reader key, case id) must be 32
bytes, or 64 lowercase hex characters (optionally ``0x``-prefixed), before any path is built, so
``..``, separators, NUL or uppercase aliases never reach the filesystem.

JSON is written canonically (sorted keys, no whitespace, ASCII); hex values in documents use the
bundle's one spelling (``0x`` + lowercase hex); the ``blob`` field is the store address (no ``0x``).
Put order is blob, keys, record: a record on disk implies its blob and first keys are there, so
the record is the commit point of ``put_item``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_utils import is_address, to_checksum_address

from client.private_files import ensure_private_dir, precreate_private_file

from . import _schema as S
from ._vault_files import MAX_FILE, read_bounded, same_json, write_once
from .errors import (
    BundleFormatError,
    InvalidIdError,
    KeyUnwrapError,
    RecordNotFoundError,
    VaultConflictError,
    VaultCorruptError,
)
from .record import EvidenceKind, EvidenceRecord
from .sealing import ContentDigests, WrappedKey, open_sealed, public_key_bytes
from .store import FileBlobStore, blob_address

__all__ = [
    "VAULT_VERSION",
    "MAX_MEDIA_TYPE",
    "MAX_COLLECTED",
    "ItemMeta",
    "StoredRecord",
    "EvidenceVault",
    "id_hex",
]

VAULT_VERSION = 1
MAX_MEDIA_TYPE = 255
MAX_COLLECTED = 64 * 1024
_MAX_BATCH = 1 << 32
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEY_NAME = re.compile(r"([0-9a-f]{64})-([0-9a-f]{64})\.json")
_RECORD_FIELDS = ("version", "record", "blob", "size", "media_type", "collected", "submitter")
_REC_FIELDS = ("evidence_id", "kind", "loan_id", "sha256", "sm3", "ciphertext_sha256", "prev")


def id_hex(value: object, what: str = "id") -> str:
    """``value`` as 64 lowercase hex characters: 32 bytes, or that hex with an optional ``0x``.

    Anything else raises ``InvalidIdError`` (before any path is built from it).
    """
    if isinstance(value, bytes | bytearray):
        if len(value) == 32:
            return bytes(value).hex()
    elif isinstance(value, str):
        text = value[2:] if value.startswith("0x") else value
        if _HEX64.fullmatch(text) is not None:
            return text
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    raise InvalidIdError(f"invalid {what} {shown}: want 32 bytes or 64 lowercase hex characters")


@dataclass(frozen=True, slots=True)
class ItemMeta:
    """What the vault keeps beside a record: the content's media type, how it was collected, who deposited it."""

    submitter: str
    media_type: str = "application/octet-stream"
    collected: str = ""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One vault record: the anchored ``record``, its blob's address and size, and its metadata.

    ``size`` is the byte length of the stored blob (the ciphertext).
    """

    record: EvidenceRecord
    blob: str
    size: int
    media_type: str
    collected: str
    submitter: str

    @property
    def evidence_id(self) -> bytes:
        return self.record.evidence_id

    @property
    def digests(self) -> ContentDigests:
        r = self.record
        return ContentDigests(r.sha256, r.sm3, r.ciphertext_sha256)


def _dumps(doc: Any) -> bytes:
    return (json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n").encode("ascii")


def _record_doc(rec: StoredRecord) -> dict[str, Any]:
    r = rec.record
    return {
        "version": VAULT_VERSION,
        "record": {
            "evidence_id": S.hx(r.evidence_id),
            "kind": r.kind.json_name,
            "loan_id": S.hx(r.loan_id),
            "sha256": S.hx(r.sha256),
            "sm3": S.hx(r.sm3),
            "ciphertext_sha256": S.hx(r.ciphertext_sha256),
            "prev": S.hx(r.prev),
        },
        "blob": rec.blob,
        "size": rec.size,
        "media_type": rec.media_type,
        "collected": rec.collected,
        "submitter": rec.submitter,
    }


def _key_doc(wk: WrappedKey) -> dict[str, Any]:
    return {"reader": S.hx(wk.reader), "case_id": S.hx(wk.case_id), "sealed": S.hx(wk.sealed)}


def _checked_meta(meta: ItemMeta) -> ItemMeta:
    if not isinstance(meta.submitter, str) or not is_address(meta.submitter):
        raise InvalidIdError(f"submitter {meta.submitter!r} is not an address")
    if not isinstance(meta.media_type, str) or not 0 < len(meta.media_type) <= MAX_MEDIA_TYPE:
        raise ValueError(f"media type must be 1..{MAX_MEDIA_TYPE} characters")
    if not isinstance(meta.collected, str) or len(meta.collected) > MAX_COLLECTED:
        raise ValueError(f"'collected' must be a string of at most {MAX_COLLECTED} characters")
    return ItemMeta(to_checksum_address(meta.submitter), meta.media_type, meta.collected)


def _check_wrapped(wk: WrappedKey) -> None:
    id_hex(wk.reader, "reader key")
    id_hex(wk.case_id, "case id")
    if not isinstance(wk.sealed, bytes) or not wk.sealed:
        raise ValueError("wrapped key 'sealed' must be non-empty bytes")


class EvidenceVault:
    """One institution's evidence on disk (see the module docstring for the layout)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root)
        ensure_private_dir(self._root)  # evidence and who may read it: owner only (0700)
        self._blobs = FileBlobStore(self._root / "blobs")
        for sub in ("records", "keys", "batches"):
            ensure_private_dir(self._root / sub)

    @property
    def root(self) -> Path:
        return self._root

    @property
    def blobs(self) -> FileBlobStore:
        return self._blobs

    # -- paths (ids validated first) --------------------------------------------------------------

    def _record_path(self, eid: object) -> Path:
        return self._root / "records" / f"{id_hex(eid, 'evidence id')}.json"

    def _keys_dir(self, eid: object) -> Path:
        return self._root / "keys" / id_hex(eid, "evidence id")

    def _batch_path(self, root: object) -> Path:
        return self._root / "batches" / f"{id_hex(root, 'batch root')}.json"

    # -- items ------------------------------------------------------------------------------------

    def put_item(
        self, record: EvidenceRecord, blob: bytes, wrapped_keys: Iterable[WrappedKey], meta: ItemMeta
    ) -> StoredRecord:
        """Store an item's blob, its wrapped keys, then its record (write-once; same content is a no-op)."""
        if not isinstance(record, EvidenceRecord):
            raise TypeError(f"record must be an EvidenceRecord, got {type(record).__name__}")
        path = self._record_path(record.evidence_id)
        keys = list(wrapped_keys)
        for wk in keys:
            _check_wrapped(wk)
        meta = _checked_meta(meta)
        stored = StoredRecord(record, record.ciphertext_sha256.hex(), len(blob), meta.media_type,
                              meta.collected, meta.submitter)
        if blob_address(bytes(blob)) != stored.blob:
            raise ValueError(
                f"blob hashes to another value than the record's ciphertext_sha256 {S.hx(record.ciphertext_sha256)}"
            )
        doc = _dumps(_record_doc(stored))
        existing = read_bounded(path)
        if existing is not None and not same_json(existing, doc):
            # Refuse before touching anything: keys written now would belong to another item.
            raise VaultConflictError(str(path), f"evidence record {S.hx(record.evidence_id)}")
        self._blobs.put(blob)
        for wk in keys:
            self.add_wrapped_key(record.evidence_id, wk)
        # The per-loan marker goes before the record (which commits the item): a crash in between
        # leaves a marker without a record, which `items_of_loan` skips — never a hidden item.
        marker_dir = self._loan_dir(record.loan_id)
        ensure_private_dir(marker_dir, tighten=False)
        precreate_private_file(marker_dir / record.evidence_id.hex())
        write_once(path, doc, f"evidence record {S.hx(record.evidence_id)}")
        return stored

    def _loan_dir(self, loan_id: bytes | str) -> Path:
        return self._root / "loans" / id_hex(loan_id, "loan id")

    def has(self, evidence_id: bytes | str) -> bool:
        return self._record_path(evidence_id).is_file()

    def record(self, evidence_id: bytes | str) -> StoredRecord:
        """The stored record; ``RecordNotFoundError`` if absent, ``VaultCorruptError`` if it does not parse."""
        path = self._record_path(evidence_id)
        raw = read_bounded(path)
        if raw is None:
            raise RecordNotFoundError(id_hex(evidence_id))
        stored = _parse_record(raw, path)
        if stored.record.evidence_id.hex() != path.stem:
            raise VaultCorruptError(str(path), "evidence id does not match the file name")
        return stored

    def blob(self, evidence_id: bytes | str) -> bytes:
        """The item's ciphertext, re-hashed on read (``BlobTamperedError`` if it was altered)."""
        return self._blobs.get(self.record(evidence_id).blob)

    def evidence_ids(self) -> list[bytes]:
        """Every evidence id with a record, in byte order."""
        names = (p.name[:-5] for p in (self._root / "records").iterdir() if p.name.endswith(".json"))
        return sorted(bytes.fromhex(n) for n in names if _HEX64.fullmatch(n))

    def items_of_loan(self, loan_id: bytes | str) -> list[StoredRecord]:
        """Records of one loan (32-byte id), in evidence-id order.

        Read through the per-loan markers (``loans/<loan>/<evidence id>``) written by `put_item`, so
        the cost is the loan's items, not the vault's; a vault written before markers existed is
        scanned whole. Each record is checked to name this loan.
        """
        want = bytes.fromhex(id_hex(loan_id, "loan id"))
        out = []
        if (self._root / "loans").is_dir():
            directory = self._loan_dir(loan_id)
            names = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
            for name in names:
                if not self.has(name):
                    continue  # marker of an item whose record was never committed
                rec = self.record(name)
                if rec.record.loan_id != want:
                    raise VaultCorruptError(str(directory / name), "loan marker names an item of another loan")
                out.append(rec)
            return out
        for eid in self.evidence_ids():
            rec = self.record(eid)
            if rec.record.loan_id == want:
                out.append(rec)
        return out

    # -- wrapped keys -----------------------------------------------------------------------------

    def add_wrapped_key(self, evidence_id: bytes | str, wrapped: WrappedKey) -> None:
        """Store one wrapped key of the item (write-once per reader and case)."""
        _check_wrapped(wrapped)
        directory = self._keys_dir(evidence_id)
        path = directory / f"{wrapped.reader.hex()}-{wrapped.case_id.hex()}.json"
        write_once(path, _dumps(_key_doc(wrapped)), f"wrapped key of evidence {id_hex(evidence_id)}")

    def wrapped_keys(self, evidence_id: bytes | str) -> list[WrappedKey]:
        """Every wrapped key of the item, ordered by (reader, case id)."""
        directory = self._keys_dir(evidence_id)
        if not directory.is_dir():
            return []
        out = []
        for p in sorted(directory.iterdir()):
            m = _KEY_NAME.fullmatch(p.name)
            if m is None:
                continue  # temporaries, foreign files
            raw = read_bounded(p)
            if raw is None:
                continue
            wk = _parse_key(raw, p)
            if (wk.reader.hex(), wk.case_id.hex()) != m.groups():
                raise VaultCorruptError(str(p), "reader or case id does not match the file name")
            out.append(wk)
        return out

    def key_for(
        self, evidence_id: bytes | str, reader_pub: bytes | str, case_id: bytes | str | None = None
    ) -> WrappedKey | None:
        """The item's key wrapped for ``reader_pub`` (for ``case_id`` if given, else the first by case id)."""
        reader = id_hex(reader_pub, "reader key")
        case = None if case_id is None else id_hex(case_id, "case id")
        for wk in self.wrapped_keys(evidence_id):
            if wk.reader.hex() == reader and (case is None or wk.case_id.hex() == case):
                return wk
        return None

    def open(self, evidence_id: bytes | str, reader_key: X25519PrivateKey) -> bytes:
        """Decrypt an item with ``reader_key``, checking the ciphertext SHA-256 and the plaintext SHA-256 and SM3.

        Tries each key wrapped for that reader (one per case); ``KeyUnwrapError`` if there is none
        or none opens, ``BlobTamperedError`` / ``ContentDecryptionError`` for altered bytes.
        """
        stored = self.record(evidence_id)
        reader = public_key_bytes(reader_key)
        candidates = [wk for wk in self.wrapped_keys(evidence_id) if wk.reader == reader]
        if not candidates:
            raise KeyUnwrapError(f"evidence {S.hx(stored.evidence_id)} has no key wrapped for reader {S.hx(reader)}")
        blob = self._blobs.get(stored.blob)
        for wk in candidates[:-1]:
            with contextlib.suppress(KeyUnwrapError):
                return open_sealed(blob, stored.evidence_id, wk, reader_key, stored.digests)
        return open_sealed(blob, stored.evidence_id, candidates[-1], reader_key, stored.digests)

    # -- batches ----------------------------------------------------------------------------------

    def put_batch(self, root: bytes | str, size: int, evidence_ids: Sequence[bytes]) -> None:
        """Record which evidence ids (leaf order) a batch root covers; written once, before anchoring."""
        path = self._batch_path(root)
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= _MAX_BATCH:
            raise ValueError(f"batch size {size!r} out of range 1..{_MAX_BATCH}")
        ids = [id_hex(e, "evidence id") for e in evidence_ids]
        if len(ids) != size:
            raise ValueError(f"batch size {size} but {len(ids)} evidence ids")
        if len(set(ids)) != len(ids):
            raise ValueError("an evidence id appears twice in the batch")
        doc = {"version": VAULT_VERSION, "root": "0x" + id_hex(root), "size": size,
               "evidence_ids": ["0x" + e for e in ids]}
        write_once(path, _dumps(doc), f"batch manifest {doc['root']}")

    def batch(self, root: bytes | str) -> list[bytes] | None:
        """The evidence ids of batch ``root`` in leaf order, or ``None`` if the vault has no manifest."""
        path = self._batch_path(root)
        raw = read_bounded(path)
        if raw is None:
            return None
        try:
            doc = S.obj(S.load_json(raw, MAX_FILE), "$", ("version", "root", "size", "evidence_ids"))
            S.integer(doc["version"], "$.version", VAULT_VERSION, VAULT_VERSION)
            got_root = S.hexbytes(doc["root"], "$.root", 32)
            size = S.integer(doc["size"], "$.size", 1, _MAX_BATCH)
            ids = [S.hexbytes(e, f"$.evidence_ids[{i}]", 32)
                   for i, e in enumerate(S.array(doc["evidence_ids"], "$.evidence_ids", _MAX_BATCH))]
        except BundleFormatError as e:
            raise VaultCorruptError(str(path), str(e)) from e
        if got_root.hex() != path.stem or size != len(ids):
            raise VaultCorruptError(str(path), "root does not match the file name, or size the id count")
        return ids

    def batch_roots(self) -> list[bytes]:
        """Roots of every batch manifest in the vault, in byte order."""
        names = (p.name[:-5] for p in (self._root / "batches").iterdir() if p.name.endswith(".json"))
        return sorted(bytes.fromhex(n) for n in names if _HEX64.fullmatch(n))


# --- documents ------------------------------------------------------------------------------------


def _parse_record(raw: bytes, path: Path) -> StoredRecord:
    try:
        doc = S.obj(S.load_json(raw, MAX_FILE), "$", _RECORD_FIELDS)
        S.integer(doc["version"], "$.version", VAULT_VERSION, VAULT_VERSION)
        r = S.obj(doc["record"], "$.record", _REC_FIELDS)
        kind_name = S.string(r["kind"], "$.record.kind")
        try:
            kind = EvidenceKind.from_json_name(kind_name)
        except KeyError:
            raise BundleFormatError("$.record.kind", f"unknown kind {kind_name!r}") from None
        record = EvidenceRecord(
            evidence_id=S.hexbytes(r["evidence_id"], "$.record.evidence_id", 32),
            kind=kind,
            loan_id=S.hexbytes(r["loan_id"], "$.record.loan_id", 32),
            sha256=S.hexbytes(r["sha256"], "$.record.sha256", 32),
            sm3=S.hexbytes(r["sm3"], "$.record.sm3", 32),
            ciphertext_sha256=S.hexbytes(r["ciphertext_sha256"], "$.record.ciphertext_sha256", 32),
            prev=S.hexbytes(r["prev"], "$.record.prev", 32),
        )
        blob = S.string(doc["blob"], "$.blob")
        if blob != record.ciphertext_sha256.hex():
            raise BundleFormatError("$.blob", "is not the record's ciphertext_sha256")
        submitter = S.string(doc["submitter"], "$.submitter")
        if not is_address(submitter):
            raise BundleFormatError("$.submitter", "not an address")
        return StoredRecord(
            record=record,
            blob=blob,
            size=S.integer(doc["size"], "$.size", 0, 1 << 63),
            media_type=S.string(doc["media_type"], "$.media_type"),
            collected=S.string(doc["collected"], "$.collected"),
            submitter=to_checksum_address(submitter),
        )
    except BundleFormatError as e:
        raise VaultCorruptError(str(path), str(e)) from e


def _parse_key(raw: bytes, path: Path) -> WrappedKey:
    try:
        doc = S.obj(S.load_json(raw, MAX_FILE), "$", ("reader", "case_id", "sealed"))
        sealed = S.string(doc["sealed"], "$.sealed")
        if not re.fullmatch(r"0x(?:[0-9a-f]{2})+", sealed):
            raise BundleFormatError("$.sealed", "expected 0x and lowercase hex bytes")
        return WrappedKey(
            reader=S.hexbytes(doc["reader"], "$.reader", 32),
            case_id=S.hexbytes(doc["case_id"], "$.case_id", 32),
            sealed=bytes.fromhex(sealed[2:]),
        )
    except BundleFormatError as e:
        raise VaultCorruptError(str(path), str(e)) from e
