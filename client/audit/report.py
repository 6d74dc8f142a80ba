"""``replay.json``: the machine-readable result of one replay run."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ReplayReport", "REPORT_FILE", "REPORT_FORMAT"]

REPORT_FILE = "replay.json"
REPORT_FORMAT = "coledger-audit-replay/1"


@dataclass
class ReplayReport:
    """Everything a reader of ``replay.json`` gets; ``result`` is ok, diverged or error."""

    rpc: str
    result: str = "error"
    error: str | None = None
    chain_id: int | None = None
    genesis_hash: str | None = None
    to_block: int | None = None
    blocks: int = 0                    # blocks verified, genesis excluded, incl. a checkpoint's
    transactions: int = 0              # transactions verified, incl. a checkpoint's
    gas_used: int = 0
    executed_blocks: int = 0           # re-executed in this run
    executed_transactions: int = 0
    resumed_from: int | None = None    # checkpoint block this run started after
    head: dict[str, Any] = field(default_factory=dict)  # number, hash, state_root (recomputed)
    verified_through: int | None = None  # last block before the first divergence
    divergence: dict[str, Any] | None = None
    divergences: list[dict[str, Any]] = field(default_factory=list)
    seals: dict[str, Any] = field(default_factory=dict)
    commits: dict[str, Any] = field(default_factory=dict)  # a network: CometBFT commits checked
    checkpoint: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    format: str = REPORT_FORMAT

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, out_dir: Path) -> Path:
        """Atomically (re)write ``out_dir/replay.json``."""
        path = Path(out_dir) / REPORT_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, out_dir: Path) -> ReplayReport:
        raw = json.loads((Path(out_dir) / REPORT_FILE).read_text())
        return cls(**raw)
