"""Write-once files for the evidence vault (private): atomic exclusive create, bounded reads.

``write_once`` writes a temporary file in the target directory, fsyncs it, then hard-links it to
the final name: ``os.link`` is atomic and fails if the name exists, so a file appears whole or
not at all, and two writers can never both create it. Offering equal JSON again is a no-op;
different content raises ``VaultConflictError``.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from .errors import VaultConflictError, VaultCorruptError
from .store import fsync_dir, write_synced_temp

__all__ = ["MAX_FILE", "read_bounded", "same_json", "write_once"]

MAX_FILE = 16 * 1024 * 1024  # a batch manifest of 2**18 ids is ~17 MB; bigger is not ours


def read_bounded(path: Path) -> bytes | None:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE + 1)
    except FileNotFoundError:
        return None
    if len(data) > MAX_FILE:
        raise VaultCorruptError(str(path), f"larger than {MAX_FILE} bytes")
    return data


def same_json(a: bytes, b: bytes) -> bool:
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return False


def write_once(path: Path, data: bytes, what: str) -> bool:
    """Create ``path`` with ``data`` atomically and exclusively; True if written, False if already equal."""
    tmp = write_synced_temp(path.parent, data)
    try:
        try:
            os.link(tmp, path)  # atomic, and fails if the name is taken: exclusive create
        except FileExistsError:
            existing = read_bounded(path)
            if existing is not None and same_json(existing, data):
                return False
            raise VaultConflictError(str(path), what) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    fsync_dir(path.parent)
    return True
