"""The node's data dir is private: created 0700, its SQLite store 0600, from the first byte.

Why not chmod afterwards: a file created 0644 and chmod-ed later can be opened by another local
user in between. ``os.mkdir``/``os.open`` with the mode leave the umask only bits to remove.
SQLite gives a database's ``-wal`` and ``-shm`` files the database file's own mode, so creating
the empty file 0600 before the first connection makes all three private. (The node knows nothing
of the client package, so this is its own copy of ``client.private_files``' helpers.)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["private_dir", "precreate_private_file", "write_private"]

_GROUP_OTHER = 0o077


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) 0700; an existing ``path`` wider than that is tightened."""
    missing: list[Path] = []
    probe = Path(path)
    while not probe.exists() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o700)
    if os.stat(path).st_mode & _GROUP_OTHER:
        os.chmod(path, 0o700)


def precreate_private_file(path: Path) -> None:
    """Create ``path`` empty, mode 0600, unless it exists (an existing one is tightened, not opened:
    closing a descriptor of an open SQLite database would drop this process's locks on it)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if os.stat(path).st_mode & _GROUP_OTHER:
            os.chmod(path, 0o600)
        return
    os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data`` in a file created 0600 (temporary file, fsync,
    rename). A failed write (a full disk) leaves the old file and removes the temporary one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
