"""Checks that secrets are created private from the first byte (issue 13, defect 5).

`strict_creation` sets the umask to 0, so a file or directory created without an explicit mode
comes out world-readable (0666/0777) and shows in `os.stat`; and it refuses any chmod of a regular
file, so write-then-chmod (a window at 0644) fails the test even though the end mode would be right.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


@contextmanager
def strict_creation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_chmod = os.chmod

    def no_file_chmod(path: Any, mode: int, *args: Any, **kw: Any) -> None:
        if os.path.isfile(path):
            raise AssertionError(f"chmod({path}, {mode:o}) after creation: a window at the wider mode")
        real_chmod(path, mode, *args, **kw)

    monkeypatch.setattr(os, "chmod", no_file_chmod)
    monkeypatch.setattr(Path, "chmod", lambda self, mode, **kw: no_file_chmod(self, mode, **kw))
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def assert_private_tree(root: Path) -> int:
    """Every directory under (and including) `root` is 0700 and every file 0600; returns files seen."""
    wrong = [] if mode(root) == 0o700 else [f"{root} {mode(root):04o}"]
    files = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = Path(dirpath) / d
            if mode(p) != 0o700:
                wrong.append(f"{p} {mode(p):04o}")
        for f in filenames:
            p = Path(dirpath) / f
            files += 1
            if mode(p) != 0o600:
                wrong.append(f"{p} {mode(p):04o}")
    assert not wrong, "not private: " + ", ".join(wrong)
    return files
