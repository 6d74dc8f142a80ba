"""The evidence vault, the index and the access log are 0600 files in 0700 directories from birth."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from arbitration.api.access_log import AccessAction, AccessLog
from arbitration.index import EvidenceIndex
from arbitration.vault import EvidenceVault
from tests._file_modes import assert_private_tree, strict_creation
from tests.evidence_sdk.test_vault import _put


def test_vault_blobs_records_keys_and_loan_markers_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with strict_creation(monkeypatch):
        vault = EvidenceVault(tmp_path / "evidence")
        _put(vault, 1)
        _put(vault, 2)
    # per item: blob, record, wrapped key, loan marker
    assert assert_private_tree(tmp_path / "evidence") == 8


def test_index_and_access_log_sqlite_files_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "evidence"
    with strict_creation(monkeypatch):
        EvidenceVault(root)  # the API keeps the index and the access log in the vault dir
        index = EvidenceIndex(str(root / "index.sqlite3"))
        log = AccessLog(root / "access_log.sqlite3")
        log.append(1, Account.create().address, AccessAction.CONTENT, b"\x01" * 32)
        try:
            names = sorted(p.name for p in root.iterdir())
            assert_private_tree(root)  # including the -wal and -shm files while open
        finally:
            log.close()
            index.close()
    assert {"index.sqlite3", "index.sqlite3-wal", "access_log.sqlite3", "access_log.sqlite3-wal"} <= set(names)
