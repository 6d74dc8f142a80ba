"""What a demo data dir is, and the one file that says so (`DATA_DIR/demo.json`).

Why a marker: `coledger demo` plays the story into a data dir that also works with every other
`coledger` command (`--data-dir DIR`), so it must never play into a dir that holds something else
(an institution's real keys, another chain), and a rerun must know whether the story finished.
The marker is written *before* anything else is created (status "playing") and updated to
"played" with the summary the "where to look" block needs; so a rerun either resumes serving a
played demo or refuses a half-played one, naming why.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client.private_files import ensure_private_dir, write_private

from .errors import DemoDirError

__all__ = ["DemoPaths", "DemoRecord", "check_data_dir", "hold_lock", "start_fresh"]

MARKER = "demo.json"
_VERSION = 1


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo keeps what it makes (the node's own files are `client.config.DataDir`'s)."""

    root: Path

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    @property
    def work(self) -> Path:
        """Logs, the API's token secret, the downloaded case zip, the award document (0700)."""
        return self.root / "demo"

    @property
    def audit(self) -> Path:
        return self.root / "audit"

    @property
    def node_log(self) -> Path:
        return self.work / "node.log"

    @property
    def api_log(self) -> Path:
        return self.work / "api.log"


@dataclass
class DemoRecord:
    """The marker's content: status, and what the story produced (for the "where to look" block)."""

    status: str = "playing"  # playing | played
    started_at: int = field(default_factory=lambda: int(time.time()))
    step: str = ""  # the last step begun (names where an interrupted demo stopped)
    summary: dict[str, Any] = field(default_factory=dict)

    def save(self, paths: DemoPaths) -> None:
        body = {"coledger_demo": _VERSION, "status": self.status, "started_at": self.started_at,
                "step": self.step, "summary": self.summary}
        write_private(paths.marker, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode())


def check_data_dir(root: Path) -> DemoRecord | None:
    """None for a fresh dir (absent or empty); the record of a played demo; otherwise refuse.

    Refused, with nothing touched: a file in place of the dir, a non-empty dir without the
    marker (not a demo's), an unreadable marker, a demo that did not finish.
    """
    if root.exists() and not root.is_dir():
        raise DemoDirError(f"--data-dir {root} is a file, not a directory; give a new or empty directory")
    if not root.exists() or not any(root.iterdir()):
        return None
    paths = DemoPaths(root)
    if not paths.marker.is_file():
        raise DemoDirError(f"--data-dir {root} is not empty and is not a coledger demo's data dir "
                           f"(no {MARKER}); give a new or empty directory, e.g. --data-dir demo-data")
    try:
        raw = json.loads(paths.marker.read_text())
        record = DemoRecord(str(raw["status"]), int(raw["started_at"]), str(raw.get("step", "")),
                            dict(raw.get("summary", {})))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DemoDirError(f"{paths.marker} is unreadable ({exc}); use a fresh --data-dir") from exc
    if record.status != "played":
        where = f" (stopped during: {record.step})" if record.step else ""
        raise DemoDirError(f"{root} holds a demo that did not finish{where}; play it again in a fresh "
                           "--data-dir (delete this one when done with it)")
    return record


def start_fresh(root: Path) -> tuple[DemoPaths, DemoRecord]:
    """Create the dir (0700), its work dir and the marker ("playing") before anything else."""
    ensure_private_dir(root)
    paths = DemoPaths(root)
    ensure_private_dir(paths.work)
    record = DemoRecord()
    record.save(paths)
    return paths, record


def hold_lock(paths: DemoPaths) -> int:
    """Lock the demo dir for this process's lifetime (the fd is returned; closing it unlocks).

    Two demos on one dir would run two nodes on one chain store; the second is refused.
    """
    fd = os.open(paths.work / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DemoDirError(f"{paths.root} is in use by another `coledger demo` (stop it with Ctrl-C first)") from None
    return fd
