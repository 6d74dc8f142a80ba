"""Checkpoints of the replayed chain: a SQLite file in the output directory.

Format (stated, pinned by ``FORMAT``): ``DIR/checkpoint.sqlite`` is a
:class:`node.store.SqliteStore` — py-evm's key/value database (state trie, headers, the
transaction and receipt tries the replay itself built) in table ``kv``, plus table ``meta``
with the last verified block.  Everything py-evm writes between two checkpoints sits in the
store's in-memory overlay and is committed in ONE SQLite transaction together with the meta
row, so a checkpoint is always a consistent verified prefix; a divergence or a crash leaves
the previous checkpoint untouched.  Only values the replay recomputed are stored: resuming
trusts this file (written by the auditor), never the node.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth.db.atomic import AtomicDB

from client.audit.errors import CheckpointError
from node.store import SqliteStore

__all__ = ["CheckpointInfo", "CheckpointStore", "CHECKPOINT_FILE", "FORMAT"]

CHECKPOINT_FILE = "checkpoint.sqlite"
FORMAT = "coledger-audit-checkpoint/1"


@dataclass
class CheckpointInfo:
    """The last block a checkpoint verified, and the running totals up to it."""

    chain_id: int
    genesis_hash: str
    last_block: int
    last_hash: str
    state_root: str
    transactions: int
    gas_used: int


class CheckpointStore:
    """Opens (or creates) the checkpoint file; :attr:`db` is what the replay chain uses."""

    def __init__(self, out_dir: Path, fresh: bool) -> None:
        self.path = Path(out_dir) / CHECKPOINT_FILE
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
        elif not self.path.exists():
            raise CheckpointError(f"no checkpoint in {out_dir}: run without --from-checkpoint first")
        try:
            self.store = SqliteStore(self.path)
        except Exception as exc:
            raise CheckpointError(f"cannot open checkpoint {self.path}: {exc}") from exc
        self.db = AtomicDB(self.store)
        self._extra: dict[str, str] = {}

    def load(self) -> CheckpointInfo:
        """The committed checkpoint; CheckpointError if absent or of another format."""
        fmt = self.store.get_meta("format")
        raw = self.store.get_meta("checkpoint")
        if fmt != FORMAT or raw is None:
            raise CheckpointError(
                f"{self.path} holds no usable checkpoint (format {fmt!r}, want {FORMAT!r})")
        try:
            return CheckpointInfo(**json.loads(raw))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint {self.path} is unreadable: {exc}") from exc

    def save_extra(self, name: str, doc: dict[str, Any]) -> None:
        """Stage a document the replay needs to resume (e.g. the validator sets governance
        scheduled); the next :meth:`save` commits it atomically with the checkpoint."""
        self._extra[f"extra:{name}"] = json.dumps(doc, sort_keys=True)

    def load_extra(self, name: str) -> dict[str, Any]:
        raw = self.store.get_meta(f"extra:{name}")
        try:
            return dict(json.loads(raw)) if raw else {}
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint {self.path}: {name} is unreadable: {exc}") from exc

    def save(self, info: CheckpointInfo) -> None:
        """Durably commit the overlay (all py-evm writes so far) with ``info``."""
        self.store.commit_block([SqliteStore.meta_write({
            "format": FORMAT, "checkpoint": json.dumps(asdict(info), sort_keys=True),
            **self._extra})])
        self._extra = {}

    def discard(self) -> None:
        """Drop uncommitted writes (the blocks after the last checkpoint)."""
        self.store.discard()

    def close(self) -> None:
        self.store.close()
