"""Files and directories only their owner can read: keystores, passwords, evidence metadata.

Why "from the first byte": writing a file and chmod-ing it afterwards leaves a window in which
another local user can open it (and keep the descriptor). Here files are created by ``os.open``
with mode 0600 and directories by ``os.mkdir`` with mode 0700, so the process umask can only take
bits away, never add them; a secret is never on disk with a wider mode. Directories we own that
an older version created wider (0755) are tightened when opened.

Why SQLite files are created here first: SQLite creates a database file 0644 (less the umask) and
gives its ``-wal`` and ``-shm`` files the database file's mode, so creating the empty database
file 0600 before the first connection makes all three private.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from client.errors import InsecureFileError

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "ensure_private_dir",
    "precreate_private_file",
    "require_owner_only",
    "write_private",
]

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_GROUP_OTHER = 0o077


def ensure_private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Make ``path`` (and missing parents) a directory; the ones created here are 0700.

    ``tighten``: an existing ``path`` with group/other bits is chmod-ed to 0700 (a data dir made
    by an older version). Parents that already exist are never touched: they are not ours.
    """
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another thread or process made it meanwhile
            os.mkdir(directory, PRIVATE_DIR_MODE)
    if tighten and path.stat().st_mode & _GROUP_OTHER:
        os.chmod(path, PRIVATE_DIR_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data`` in a file created 0600 (temp file, fsync, rename)."""
    path = Path(path)
    # mkstemp: O_CREAT | O_EXCL with mode 0600 and a fresh name (a crashed writer's leftover
    # temporary never blocks the next one)
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


def precreate_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists; an existing one is tightened.

    Call before the first ``sqlite3.connect`` of the file. An existing file is never opened here
    (closing a descriptor of an SQLite database would drop the process's locks on it).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        if os.stat(path).st_mode & _GROUP_OTHER:
            os.chmod(path, PRIVATE_FILE_MODE)
        return
    os.close(fd)


def require_owner_only(path: Path, what: str) -> None:
    """Refuse a secret file that group or others may read or write (`InsecureFileError`)."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & _GROUP_OTHER:
        raise InsecureFileError(str(path), mode, what)
