"""Content encryption and per-reader key wrapping."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from arbitration.errors import ContentDecryptionError, KeyUnwrapError, SealError
from arbitration.sealing import (
    BLOB_VERSION,
    NONCE_SIZE,
    add_reader,
    decrypt_content,
    generate_reader_key,
    load_private_key,
    load_public_key,
    new_evidence_id,
    open_sealed,
    private_key_bytes,
    public_key_bytes,
    seal,
    sm3,
    unwrap_data_key,
)
from tests.evidence._fixtures import build_fixture

GOLDEN_BLOB = json.loads((Path(__file__).parent / "golden" / "blob_v1.json").read_text())
CASE = hashlib.sha256(b"case").digest()


def test_sm3_matches_gbt32905_example() -> None:
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_seal_then_open_round_trips_for_every_reader_and_records_hashes() -> None:
    bank, arbitrator = generate_reader_key(), generate_reader_key()
    eid, text = new_evidence_id(), b"overdue notice" * 100
    sealed = seal(text, eid, [bank.public_key(), arbitrator.public_key()], case_id=CASE)
    assert sealed.digests.sha256 == hashlib.sha256(text).digest()
    assert sealed.digests.sm3 == sm3(text)
    assert sealed.digests.ciphertext_sha256 == hashlib.sha256(sealed.blob).digest()
    assert sealed.blob[0] == BLOB_VERSION and text not in sealed.blob
    assert [w.reader for w in sealed.wrapped_keys] == [public_key_bytes(bank), public_key_bytes(arbitrator)]
    for key, wrapped in zip((bank, arbitrator), sealed.wrapped_keys, strict=True):
        assert open_sealed(sealed.blob, eid, wrapped, key, sealed.digests) == text


def test_fresh_data_key_and_nonce_per_item() -> None:
    reader = generate_reader_key()
    a = seal(b"same", new_evidence_id(), [reader.public_key()])
    b = seal(b"same", new_evidence_id(), [reader.public_key()])
    assert a.blob[1 : 1 + NONCE_SIZE] != b.blob[1 : 1 + NONCE_SIZE]
    assert unwrap_data_key(a.wrapped_keys[0], a.evidence_id, reader) != unwrap_data_key(
        b.wrapped_keys[0], b.evidence_id, reader
    )


def test_wrong_reader_key_raises_KeyUnwrapError() -> None:
    reader, stranger = generate_reader_key(), generate_reader_key()
    eid = new_evidence_id()
    sealed = seal(b"secret", eid, [reader.public_key()])
    with pytest.raises(KeyUnwrapError, match="does not open"):
        open_sealed(sealed.blob, eid, sealed.wrapped_keys[0], stranger)


def test_wrapped_key_moved_to_another_evidence_id_raises_KeyUnwrapError() -> None:
    reader = generate_reader_key()
    eid = new_evidence_id()
    sealed = seal(b"secret", eid, [reader.public_key()])
    with pytest.raises(KeyUnwrapError):
        unwrap_data_key(sealed.wrapped_keys[0], new_evidence_id(), reader)


def test_wrapped_key_relabelled_to_another_case_raises_KeyUnwrapError() -> None:
    reader = generate_reader_key()
    eid = new_evidence_id()
    w = seal(b"secret", eid, [reader.public_key()], case_id=CASE).wrapped_keys[0]
    moved = type(w)(reader=w.reader, case_id=hashlib.sha256(b"other case").digest(), sealed=w.sealed)
    with pytest.raises(KeyUnwrapError):
        unwrap_data_key(moved, eid, reader)


def test_content_under_another_evidence_id_raises_ContentDecryptionError() -> None:
    reader = generate_reader_key()
    eid = new_evidence_id()
    sealed = seal(b"secret", eid, [reader.public_key()])
    key = unwrap_data_key(sealed.wrapped_keys[0], eid, reader)
    with pytest.raises(ContentDecryptionError, match="does not decrypt"):
        decrypt_content(sealed.blob, new_evidence_id(), key)


@pytest.mark.parametrize("position", [1, 5, 13, -17, -1])
def test_any_tampered_blob_byte_raises_ContentDecryptionError(position: int) -> None:
    reader = generate_reader_key()
    eid = new_evidence_id()
    sealed = seal(b"secret evidence", eid, [reader.public_key()])
    blob = bytearray(sealed.blob)
    blob[position] ^= 0x01
    with pytest.raises(ContentDecryptionError):
        open_sealed(bytes(blob), eid, sealed.wrapped_keys[0], reader)


def test_truncated_blob_and_unknown_version_raise_ContentDecryptionError() -> None:
    with pytest.raises(ContentDecryptionError, match="too short"):
        decrypt_content(b"\x01" + bytes(20), bytes(32), bytes(32))
    with pytest.raises(ContentDecryptionError, match="blob version 2, want 1"):
        decrypt_content(b"\x02" + bytes(40), bytes(32), bytes(32))


def test_open_with_expected_digests_rejects_a_swapped_blob() -> None:
    reader = generate_reader_key()
    eid = new_evidence_id()
    a = seal(b"A", eid, [reader.public_key()])
    b = seal(b"B", eid, [reader.public_key()])
    with pytest.raises(ContentDecryptionError, match="does not match its SHA-256"):
        open_sealed(b.blob, eid, b.wrapped_keys[0], reader, a.digests)


def test_new_reader_gets_a_new_wrapped_key_and_the_content_is_not_reencrypted() -> None:
    bank, arbitrator = generate_reader_key(), generate_reader_key()
    eid = new_evidence_id()
    sealed = seal(b"agreement", eid, [bank.public_key()])
    blob_before = sealed.blob
    granted = add_reader(sealed.wrapped_keys[0], eid, bank, arbitrator.public_key(), case_id=CASE)
    assert granted.case_id == CASE and granted.reader == public_key_bytes(arbitrator)
    assert open_sealed(blob_before, eid, granted, arbitrator, sealed.digests) == b"agreement"
    with pytest.raises(KeyUnwrapError):  # a non-holder cannot grant
        add_reader(sealed.wrapped_keys[0], eid, arbitrator, arbitrator.public_key())


def test_reader_keys_serialize_round_trip() -> None:
    key = generate_reader_key()
    raw, pub = private_key_bytes(key), public_key_bytes(key)
    assert len(raw) == len(pub) == 32
    assert public_key_bytes(load_private_key(raw)) == pub
    assert public_key_bytes(load_public_key(pub)) == pub
    with pytest.raises(SealError):
        load_public_key(b"short")


def test_ids_must_be_32_bytes() -> None:
    with pytest.raises(SealError, match="evidence id must be 32 bytes"):
        seal(b"x", b"short", [])


def test_golden_blob_format_is_pinned() -> None:
    g = GOLDEN_BLOB
    eid, key, nonce = (bytes.fromhex(g[k]) for k in ("evidence_id", "data_key", "nonce"))
    blob = bytes.fromhex(g["blob"])
    assert blob[0] == 1 and blob[1:13] == nonce
    assert decrypt_content(blob, eid, key) == bytes.fromhex(g["plaintext"])
    fx = build_fixture()
    assert fx.blobs[eid] == blob
    assert fx.records[0].encode().hex() == g["record"]
    assert fx.records[0].item_hash().hex() == g["item_hash"]
