"""Keystores, password and borrower-key files are 0600 in 0700 directories from the first byte."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from client.borrower import load_or_create_borrower_key
from client.errors import InsecureFileError
from client.keys import PASSWORD_ENV, Keystore, demo_password
from client.private_files import ensure_private_dir, require_owner_only
from tests._file_modes import assert_private_tree, mode, strict_creation


def test_keystore_files_and_directory_are_private_from_creation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    keystore = tmp_path / "data" / "keystore"
    with strict_creation(monkeypatch):
        Keystore(keystore, demo_password(keystore)).create("lead-bank")
        load_or_create_borrower_key(keystore)
    assert sorted(p.name for p in keystore.iterdir()) == ["borrower-id.key", "lead-bank.json", "password"]
    assert assert_private_tree(tmp_path / "data") == 3


def test_a_data_dir_an_older_version_made_0755_is_tightened(tmp_path: Path) -> None:
    old = tmp_path / "coledger-data"
    old.mkdir()
    os.chmod(old, 0o755)
    ensure_private_dir(old)
    assert mode(old) == 0o700
    assert mode(tmp_path) != 0 and ensure_private_dir(tmp_path / "a" / "b", tighten=False)
    assert mode(tmp_path / "a") == 0o700 == mode(tmp_path / "a" / "b")


def test_a_secret_readable_by_others_is_refused_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    secret = tmp_path / "operator.password"
    secret.write_text("pw")
    os.chmod(secret, 0o640)
    with pytest.raises(InsecureFileError) as info:
        require_owner_only(secret, "signer password file")
    assert str(info.value) == (f"signer password file {secret} is readable by group or others (mode 0640); "
                               f"refusing to use it: run `chmod 600 {secret}`")
    assert (info.value.path, info.value.mode) == (str(secret), 0o640)
    os.chmod(secret, 0o600)
    require_owner_only(secret, "signer password file")
