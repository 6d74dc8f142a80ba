"""The content-addressed filesystem blob store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from arbitration.errors import BlobNotFoundError, BlobTamperedError, InvalidAddressError
from arbitration.store import BlobStore, FileBlobStore, validate_address


def test_put_get_exists_round_trip_under_aa_bb_layout(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    assert isinstance(store, BlobStore)
    address = store.put(b"ciphertext")
    assert address == hashlib.sha256(b"ciphertext").hexdigest()
    assert store.exists(address)
    assert store.get(address) == b"ciphertext"
    assert (tmp_path / address[:2] / address[2:4] / address).read_bytes() == b"ciphertext"
    assert store.put(b"ciphertext") == address  # idempotent
    assert not [p for p in tmp_path.rglob(".tmp-*")]  # no temporaries left behind


def test_missing_blob_raises_BlobNotFoundError(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    missing = "0" * 64
    assert not store.exists(missing)
    with pytest.raises(BlobNotFoundError, match=missing):
        store.get(missing)


def test_tampered_blob_on_disk_raises_BlobTamperedError_naming_the_address(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    address = store.put(b"original ciphertext")
    path = store.path_of(address)
    path.write_bytes(b"altered ciphertext")
    with pytest.raises(BlobTamperedError) as e:
        store.get(address)
    assert e.value.address == address
    assert e.value.actual == hashlib.sha256(b"altered ciphertext").hexdigest()
    assert address in str(e.value)
    store.put(b"original ciphertext")  # putting the good bytes again repairs it
    assert store.get(address) == b"original ciphertext"


@pytest.mark.parametrize(
    "address",
    [
        "../" + "a" * 61,
        "a" * 63,
        "a" * 65,
        "A" * 64,
        "/etc/passwd",
        "..",
        "a" * 32 + "/" + "a" * 31,
        "a" * 63 + "\x00",
        "g" * 64,
        " " + "a" * 63,
        "a" * 64 + "\n",
        "",
    ],
)
def test_invalid_address_raises_InvalidAddressError_before_touching_disk(
    tmp_path: Path, address: str
) -> None:
    store = FileBlobStore(tmp_path / "store")
    for op in (store.get, store.exists, store.path_of):
        with pytest.raises(InvalidAddressError, match="want 64 lowercase hex"):
            op(address)


def test_non_string_address_is_rejected() -> None:
    with pytest.raises(InvalidAddressError):
        validate_address(b"a" * 64)
