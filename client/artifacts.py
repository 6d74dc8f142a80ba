"""Compiled contract artifacts, loaded from the committed `client/artifacts/` directory.

Running coledger needs no compiler: `coledger build` writes these files, the repository commits
them, and a test recompiles to prove they still match the sources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from client.errors import ConfigError

__all__ = ["ARTIFACTS_DIR", "ContractArtifact", "load_artifact", "available_artifacts"]

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"


@dataclass(frozen=True)
class ContractArtifact:
    """What a caller needs to deploy and talk to one contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes
    source: str


@cache
def load_artifact(name: str, directory: Path = ARTIFACTS_DIR) -> ContractArtifact:
    """Load contract `name` (e.g. ``"Consortium"``) from the artifacts directory."""
    path = directory / f"{name}.json"
    if not path.is_file():
        known = ", ".join(available_artifacts(directory)) or "none"
        raise ConfigError(f"no compiled artifact for contract {name!r} in {directory} (have: {known})")
    raw = json.loads(path.read_text())
    return ContractArtifact(
        name=raw["contractName"],
        abi=raw["abi"],
        bytecode=bytes.fromhex(raw["bytecode"]),
        deployed_bytecode=bytes.fromhex(raw["deployedBytecode"]),
        source=raw["sourceName"],
    )


def available_artifacts(directory: Path = ARTIFACTS_DIR) -> list[str]:
    """Names of the contracts that have artifacts."""
    return sorted(p.stem for p in directory.glob("*.json") if p.stem != "manifest")
