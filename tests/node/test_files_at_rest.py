"""The node's data dir is 0700 and its store (with WAL and shared memory) 0600 from the first byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.core import ChainCore
from tests._file_modes import mode, strict_creation


def test_chain_dir_is_0700_and_chain_sqlite_wal_and_shm_are_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = tmp_path / "data" / "chain"
    with strict_creation(monkeypatch):
        core = ChainCore(chain, 1337, 30_000_000)
        try:
            files = {p.name: mode(p) for p in chain.iterdir() if p.name.startswith("chain.sqlite")}
        finally:
            core.store.close()
    assert mode(tmp_path / "data") == 0o700 and mode(chain) == 0o700
    assert files == {"chain.sqlite": 0o600, "chain.sqlite-wal": 0o600, "chain.sqlite-shm": 0o600}


def test_a_store_an_older_version_left_0644_is_tightened_on_open(tmp_path: Path) -> None:
    ChainCore(tmp_path / "chain", 1337, 30_000_000).store.close()
    (tmp_path / "chain" / "chain.sqlite").chmod(0o644)
    (tmp_path / "chain").chmod(0o755)
    ChainCore(tmp_path / "chain", 1337, 30_000_000).store.close()
    assert mode(tmp_path / "chain") == 0o700 and mode(tmp_path / "chain" / "chain.sqlite") == 0o600
