"""Telling a full disk apart from other write failures, in SQLite's and the OS's words.

Why its own module: the store must say "database or disk is full" (and stop the retries from
hiding it) rather than whatever a later statement reports. SQLite reports a full filesystem as
SQLITE_FULL on the write that hit it; a few writes (the ``-shm`` index growing, an fsync) come
back as SQLITE_IOERR instead, so for those the filesystem's free space decides.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

__all__ = ["LOW_SPACE_BYTES", "free_bytes", "is_disk_full", "is_enospc", "space_words"]

#: below this many free bytes an SQLite I/O error is taken for a full disk (a page and its
#: WAL frame header, with room for the ``-shm`` file's next 32 KB region)
LOW_SPACE_BYTES = 64 * 1024
_SQLITE_FULL = 13
_SQLITE_IOERR = 10


def free_bytes(directory: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the filesystem of ``directory``."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def is_disk_full(exc: sqlite3.Error, directory: Path) -> bool:
    """True when ``exc`` means the filesystem holding ``directory`` is full."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # Python < 3.11 has no error codes: SQLite's own words
        return "database or disk is full" in str(exc)
    primary = code & 0xFF
    if primary == _SQLITE_FULL:
        return True
    if primary == _SQLITE_IOERR:
        free = free_bytes(directory)
        return free is not None and free < LOW_SPACE_BYTES
    return False


def is_enospc(exc: BaseException) -> bool:
    """True for the OS's "No space left on device" (or a quota's "Disk quota exceeded")."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def space_words(directory: Path) -> str:
    """``"N bytes free on the filesystem of DIR"``, for an operator's message."""
    free = free_bytes(directory)
    amount = "unknown space" if free is None else f"{free:,} bytes"
    return f"{amount} free on the filesystem of {directory}"
