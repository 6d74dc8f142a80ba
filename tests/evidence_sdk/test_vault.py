"""The evidence vault: layout, write-once records and keys, tamper detection, id validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils import to_checksum_address

from arbitration.errors import (
    BlobTamperedError,
    InvalidIdError,
    KeyUnwrapError,
    RecordNotFoundError,
    VaultConflictError,
    VaultCorruptError,
)
from arbitration.record import GENESIS_PREV, EvidenceKind, EvidenceRecord
from arbitration.sealing import (
    SealedEvidence,
    add_reader,
    generate_reader_key,
    open_sealed,
    public_key_bytes,
    seal,
)
from arbitration.vault import EvidenceVault, ItemMeta, id_hex

SUBMITTER = "0x" + "ab" * 20
CHECKSUMMED = to_checksum_address(SUBMITTER)
LOAN = (42).to_bytes(32, "big")
LEAD = generate_reader_key()


def _item(n: int, content: bytes = b"", loan: bytes = LOAN, prev: bytes = GENESIS_PREV
          ) -> tuple[EvidenceRecord, SealedEvidence]:
    eid = n.to_bytes(32, "big")
    sealed = seal(content or f"evidence {n}".encode(), eid, [LEAD.public_key()])
    d = sealed.digests
    record = EvidenceRecord(eid, EvidenceKind.OVERDUE_NOTICE, loan, d.sha256, d.sm3, d.ciphertext_sha256, prev)
    return record, sealed


def _put(vault: EvidenceVault, n: int, **kw: object) -> tuple[EvidenceRecord, SealedEvidence]:
    record, sealed = _item(n, **kw)  # type: ignore[arg-type]
    vault.put_item(record, sealed.blob, sealed.wrapped_keys, ItemMeta(SUBMITTER, "text/plain", "scanned letter"))
    return record, sealed


def test_round_trip_writes_the_documented_layout_canonically(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path)
    record, sealed = _put(vault, 1)
    eid = record.evidence_id
    stored = vault.record(eid)
    assert stored.record == record
    assert (stored.media_type, stored.collected, stored.submitter) == ("text/plain", "scanned letter", CHECKSUMMED)
    assert stored.size == len(sealed.blob) and stored.blob == record.ciphertext_sha256.hex()
    assert vault.blob(eid) == sealed.blob
    assert vault.wrapped_keys(eid) == list(sealed.wrapped_keys)
    assert vault.key_for(eid, public_key_bytes(LEAD)) == sealed.wrapped_keys[0]
    assert open_sealed(vault.blob(eid), eid, vault.key_for(eid, public_key_bytes(LEAD)), LEAD,  # type: ignore[arg-type]
                       stored.digests) == b"evidence 1"

    path = tmp_path / "records" / f"{eid.hex()}.json"
    raw = path.read_bytes()
    doc = json.loads(raw)
    assert raw == (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode()
    assert doc == {
        "version": 1,
        "record": {"evidence_id": "0x" + eid.hex(), "kind": "overdue_notice", "loan_id": "0x" + LOAN.hex(),
                   "sha256": "0x" + record.sha256.hex(), "sm3": "0x" + record.sm3.hex(),
                   "ciphertext_sha256": "0x" + record.ciphertext_sha256.hex(), "prev": "0x" + "00" * 32},
        "blob": record.ciphertext_sha256.hex(), "size": len(sealed.blob), "media_type": "text/plain",
        "collected": "scanned letter", "submitter": CHECKSUMMED,
    }
    wk = sealed.wrapped_keys[0]
    key_file = tmp_path / "keys" / eid.hex() / f"{wk.reader.hex()}-{'00' * 32}.json"
    assert json.loads(key_file.read_text()) == {"reader": "0x" + wk.reader.hex(), "case_id": "0x" + "00" * 32,
                                                "sealed": "0x" + wk.sealed.hex()}
    address = record.ciphertext_sha256.hex()
    assert (tmp_path / "blobs" / address[:2] / address[2:4] / address).read_bytes() == sealed.blob
    assert not list(tmp_path.rglob(".tmp-*"))


def test_a_wrong_reader_key_does_not_open_the_item(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path)
    record, sealed = _put(vault, 1)
    eid = record.evidence_id
    stranger = generate_reader_key()
    assert vault.key_for(eid, public_key_bytes(stranger)) is None
    with pytest.raises(KeyUnwrapError):
        open_sealed(vault.blob(eid), eid, vault.wrapped_keys(eid)[0], stranger)


def test_a_tampered_blob_raises_BlobTamperedError(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path)
    record, sealed = _put(vault, 1)
    path = vault.blobs.path_of(record.ciphertext_sha256.hex())
    path.write_bytes(sealed.blob[:-1] + bytes([sealed.blob[-1] ^ 1]))
    with pytest.raises(BlobTamperedError) as e:
        vault.blob(record.evidence_id)
    assert e.value.address == record.ciphertext_sha256.hex()


@pytest.mark.parametrize(
    "bad",
    ["../" + "a" * 61, "..", "a" * 63, "a" * 65, "A" * 64, "0X" + "a" * 64, "a" * 32 + "/" + "a" * 31,
     "a" * 63 + "\x00", "/etc/passwd", b"\x00" * 31, b"\x00" * 33, 7, None],
)
def test_ids_that_could_escape_or_alias_are_refused_before_any_path_is_built(tmp_path: Path, bad: object) -> None:
    vault = EvidenceVault(tmp_path)
    for call in (vault.record, vault.blob, vault.wrapped_keys, vault.batch, vault.has):
        with pytest.raises(InvalidIdError):
            call(bad)  # type: ignore[operator]
    with pytest.raises(InvalidIdError):
        vault.key_for(b"\x01" * 32, bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidIdError):
        vault.put_batch(bad, 1, [b"\x01" * 32])  # type: ignore[arg-type]
    with pytest.raises(InvalidIdError):
        vault.items_of_loan(bad)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batches", "blobs", "keys", "records"]


def test_ids_are_accepted_as_bytes_hex_or_0x_hex() -> None:
    assert id_hex(b"\xab" * 32) == id_hex("ab" * 32) == id_hex("0x" + "ab" * 32) == "ab" * 32


def test_a_different_record_under_a_taken_evidence_id_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path)
    record, _ = _put(vault, 1)
    before = vault.wrapped_keys(record.evidence_id)
    other, other_sealed = _item(1, content=b"another document")
    with pytest.raises(VaultConflictError, match="evidence record"):
        vault.put_item(other, other_sealed.blob, other_sealed.wrapped_keys, ItemMeta(SUBMITTER))
    assert vault.record(record.evidence_id).record == record
    assert vault.wrapped_keys(record.evidence_id) == before
    assert not vault.blobs.exists(other.ciphertext_sha256.hex())
    # same record, other metadata: also a different record
    with pytest.raises(VaultConflictError):
        vault.put_item(record, vault.blob(record.evidence_id), (), ItemMeta(SUBMITTER, "text/plain", "other"))


def test_putting_the_same_item_again_is_idempotent(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path)
    record, sealed = _item(1)
    meta = ItemMeta(SUBMITTER, "text/plain", "scanned letter")
    first = vault.put_item(record, sealed.blob, sealed.wrapped_keys, meta)
    again = vault.put_item(record, sealed.blob, sealed.wrapped_keys, meta)
    assert first == again == vault.record(record.evidence_id)
    assert vault.evidence_ids() == [record.evidence_id]


def test_a_blob_that_is_not_the_records_ciphertext_is_refused(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path)
    record, sealed = _item(1)
    with pytest.raises(ValueError, match="ciphertext_sha256"):
        vault.put_item(record, sealed.blob + b"x", sealed.wrapped_keys, ItemMeta(SUBMITTER))
    assert not vault.has(record.evidence_id)
    assert not list((tmp_path / "blobs").rglob("*.*")) and vault.evidence_ids() == []


def test_wrapped_keys_are_added_per_reader_and_case_and_written_once(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path)
    record, sealed = _put(vault, 1)
    eid = record.evidence_id
    arbitrator = generate_reader_key()
    case = (3).to_bytes(32, "big")
    wk = add_reader(sealed.wrapped_keys[0], eid, LEAD, arbitrator.public_key(), case)
    vault.add_wrapped_key(eid, wk)
    vault.add_wrapped_key(eid, wk)  # same content: no-op
    assert vault.key_for(eid, public_key_bytes(arbitrator)) == wk
    assert vault.key_for(eid, public_key_bytes(arbitrator), case) == wk
    assert vault.key_for(eid, public_key_bytes(arbitrator), b"\x00" * 32) is None
    assert open_sealed(vault.blob(eid), eid, wk, arbitrator) == b"evidence 1"
    rewrapped = add_reader(sealed.wrapped_keys[0], eid, LEAD, arbitrator.public_key(), case)
    with pytest.raises(VaultConflictError, match="wrapped key"):
        vault.add_wrapped_key(eid, rewrapped)
    assert len(vault.wrapped_keys(eid)) == 2


def test_batch_manifests_round_trip_and_are_written_once(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path)
    root, ids = b"\x09" * 32, [b"\x01" * 32, b"\x02" * 32]
    assert vault.batch(root) is None
    vault.put_batch(root, 2, ids)
    vault.put_batch(root, 2, ids)
    assert vault.batch(root) == ids and vault.batch("0x" + root.hex()) == ids
    assert vault.batch_roots() == [root]
    assert json.loads((tmp_path / "batches" / f"{root.hex()}.json").read_text()) == {
        "version": 1, "root": "0x" + root.hex(), "size": 2, "evidence_ids": ["0x" + i.hex() for i in ids]}
    with pytest.raises(VaultConflictError):
        vault.put_batch(root, 2, ids[::-1])
    with pytest.raises(ValueError, match="size 3 but 2"):
        vault.put_batch(b"\x08" * 32, 3, ids)
    with pytest.raises(ValueError, match="twice"):
        vault.put_batch(b"\x08" * 32, 2, [ids[0], ids[0]])


def test_items_of_loan_scans_records_of_that_loan_only(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path)
    a, _ = _put(vault, 1)
    b, _ = _put(vault, 2, prev=a.item_hash())
    _put(vault, 3, loan=(43).to_bytes(32, "big"))
    assert [r.record for r in vault.items_of_loan(LOAN)] == [a, b]
    assert vault.items_of_loan((44).to_bytes(32, "big")) == []


def test_missing_and_corrupt_records_raise_typed_errors(tmp_path: Path) -> None:
    vault = EvidenceVault(tmp_path)
    with pytest.raises(RecordNotFoundError):
        vault.record(b"\x01" * 32)
    record, _ = _put(vault, 1)
    path = tmp_path / "records" / f"{record.evidence_id.hex()}.json"
    doc = json.loads(path.read_text())
    doc["record"]["kind"] = "bribe"
    path.write_text(json.dumps(doc))
    with pytest.raises(VaultCorruptError, match="unknown kind"):
        vault.record(record.evidence_id)
    moved = tmp_path / "records" / f"{'77' * 32}.json"
    doc["record"]["kind"] = "overdue_notice"
    moved.write_text(json.dumps(doc))
    with pytest.raises(VaultCorruptError, match="file name"):
        vault.record(b"\x77" * 32)


def test_items_of_loan_reads_only_that_loans_markers(tmp_path: Path) -> None:
    """The SDK asks for a loan's items on every submit: the cost must be the loan's items, so other
    loans' records are never read (a corrupt one elsewhere does not matter), a marker without a
    committed record is skipped, and a marker pointing at another loan's item is refused."""
    vault = EvidenceVault(tmp_path)
    other = (7).to_bytes(32, "big")
    mine = [_put(vault, n)[0] for n in (1, 2)]
    theirs = _put(vault, 3, loan=other)[0]
    (tmp_path / "records" / f"{theirs.evidence_id.hex()}.json").write_text("not json")
    assert [s.record for s in vault.items_of_loan(LOAN)] == mine

    (tmp_path / "loans" / LOAN.hex() / ((9).to_bytes(32, "big")).hex()).touch()  # crash before the record
    assert [s.record for s in vault.items_of_loan(LOAN)] == mine

    _put(vault, 4, loan=other)
    (tmp_path / "loans" / LOAN.hex() / ((4).to_bytes(32, "big")).hex()).touch()
    with pytest.raises(VaultCorruptError, match="another loan"):
        vault.items_of_loan(LOAN)
