"""Content-addressed blob store for sealed evidence.

Why content addressing: a blob's name is the SHA-256 of its bytes, the same ciphertext hash the
chain anchors, so the store can never serve a blob under a name it does not hash to — ``get``
re-hashes every read and raises ``BlobTamperedError`` instead of returning altered bytes.
Why a tiny interface (``BlobStore``): an object store (S3, MinIO) can replace the filesystem
without touching callers.

Addresses are accepted only as exactly 64 lowercase hex characters, checked before any path is
built, so ``..``, separators, NUL or uppercase aliases can never reach the filesystem.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

from client.private_files import ensure_private_dir

from .errors import BlobNotFoundError, BlobTamperedError, InvalidAddressError, StoreError

__all__ = ["BlobStore", "FileBlobStore", "blob_address", "validate_address"]

_ADDRESS = re.compile(r"[0-9a-f]{64}")


def write_synced_temp(directory: Path, data: bytes) -> str:
    """Write ``data`` to a new temporary file in ``directory`` (created if needed), fsynced;
    its path. The caller renames or links it into place, then calls `fsync_dir`."""
    ensure_private_dir(directory, tighten=False)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def fsync_dir(directory: Path) -> None:
    """Make a rename or link inside ``directory`` durable."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def blob_address(data: bytes) -> str:
    """The address of ``data``: lowercase hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def validate_address(address: object) -> str:
    """Return ``address`` if it is exactly 64 lowercase hex characters, else ``InvalidAddressError``."""
    if not isinstance(address, str) or _ADDRESS.fullmatch(address) is None:
        shown = repr(address)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise InvalidAddressError(f"invalid blob address {shown}: want 64 lowercase hex characters")
    return address


@runtime_checkable
class BlobStore(Protocol):
    """What the evidence service needs from storage."""

    def put(self, data: bytes) -> str:
        """Store ``data`` (idempotent) and return its address."""
        ...

    def get(self, address: str) -> bytes:
        """The bytes stored under ``address``, verified to hash to it."""
        ...

    def exists(self, address: str) -> bool:
        """Whether a blob is stored under ``address`` (no integrity check)."""
        ...


class FileBlobStore:
    """Blobs as files ``ROOT/aa/bb/<address>`` (two fan-out levels keep directories small).

    Writes go to a temporary file in the target directory, are fsynced, then renamed into place
    (``os.replace`` is atomic on POSIX) and the directory fsynced, so a crash leaves either no
    blob or the whole blob, never a prefix under the final name.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root)
        ensure_private_dir(self._root)

    @property
    def root(self) -> Path:
        return self._root

    def path_of(self, address: str) -> Path:
        """The file that holds ``address`` (validated first)."""
        a = validate_address(address)
        return self._root / a[0:2] / a[2:4] / a

    def put(self, data: bytes) -> str:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise StoreError(f"blob must be bytes, got {type(data).__name__}")
        data = bytes(data)
        address = blob_address(data)
        path = self.path_of(address)
        if path.is_file():
            with contextlib.suppress(BlobTamperedError):
                self.get(address)
                return address  # already stored, intact
            # A damaged copy is replaced by the good bytes we were handed.
        tmp = write_synced_temp(path.parent, data)
        try:
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        fsync_dir(path.parent)
        return address

    def get(self, address: str) -> bytes:
        path = self.path_of(address)
        try:
            data = path.read_bytes()
        except FileNotFoundError as e:
            raise BlobNotFoundError(address) from e
        actual = blob_address(data)
        if actual != address:
            raise BlobTamperedError(address, actual)
        return data

    def exists(self, address: str) -> bool:
        return self.path_of(address).is_file()
