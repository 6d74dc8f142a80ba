"""ApiSettings: secrets have no default, placeholders and short secrets are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from pydantic import ValidationError

from arbitration.api.services import build_services
from arbitration.api.settings import ApiSettings
from client.errors import InsecureFileError

GOOD = "k3J9-xQ2mV8pLw4Zt7Rb1Nc6Hy5Fd0Gs"


def _base(tmp_path: Path) -> dict[str, object]:
    return {"deployment_file": tmp_path / "deployment.json", "vault_dir": tmp_path / "vault",
            "index_path": tmp_path / "index.sqlite3"}


def test_the_token_secret_has_no_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLEDGER_API_TOKEN_SECRET", raising=False)
    with pytest.raises(ValidationError, match="token_secret"):
        ApiSettings(**_base(tmp_path))  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", [
    "short", "changethis" * 4, "x" * 64, "my-secret-" * 4, "CHANGEME-please-1234567890abcdef",
])
def test_short_repetitive_and_placeholder_secrets_are_refused(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ValidationError, match="token_secret"):
        ApiSettings(**_base(tmp_path), token_secret=secret)  # type: ignore[arg-type]


def test_defaults_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLEDGER_API_TOKEN_SECRET", GOOD)
    monkeypatch.setenv("COLEDGER_API_MAX_UPLOAD_BYTES", "2048")
    s = ApiSettings(**_base(tmp_path))  # type: ignore[arg-type]
    assert (s.token_ttl, s.max_upload_bytes, s.sync_interval, s.cookie_secure) == (300, 2048, 0.5, False)
    assert s.access_log_file == tmp_path / "access_log.sqlite3"
    assert GOOD not in repr(s)  # SecretStr


def test_the_signer_key_and_its_password_file_go_together(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="go together"):
        ApiSettings(**_base(tmp_path), token_secret=GOOD, signer_keyfile=tmp_path / "k.json")  # type: ignore[arg-type]


def test_a_deployment_file_without_contracts_is_refused(tmp_path: Path) -> None:
    s = ApiSettings(**_base(tmp_path), token_secret=GOOD)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot read deployment file"):
        s.contracts()
    s.deployment_file.write_text('{"chain_id": 1}')
    with pytest.raises(ValueError, match='no "contracts"'):
        s.contracts()


def _signer_settings(tmp_path: Path, password_mode: int) -> ApiSettings:
    keyfile, password = tmp_path / "operator.json", tmp_path / "operator.password"
    keyfile.write_text(json.dumps(Account.encrypt(Account.create().key, "pw", iterations=2)))
    password.write_text("pw")
    os.chmod(password, password_mode)
    (tmp_path / "deployment.json").write_text('{"contracts": {}}')
    return ApiSettings(**_base(tmp_path), token_secret=GOOD, signer_keyfile=keyfile,  # type: ignore[arg-type]
                       signer_password_file=password)


@pytest.mark.parametrize("password_mode", [0o644, 0o640, 0o604, 0o660])
def test_a_signer_password_file_others_can_read_refuses_the_start_and_opens_nothing(
    tmp_path: Path, password_mode: int
) -> None:
    settings = _signer_settings(tmp_path, password_mode)
    with pytest.raises(InsecureFileError, match=r"chmod 600 .*operator\.password") as info:
        build_services(settings)
    assert info.value.path == str(settings.signer_password_file) and info.value.mode == password_mode
    assert not settings.vault_dir.exists() and not settings.index_path.exists()


def test_the_api_process_refuses_a_readable_password_file_naming_it_and_the_fix(tmp_path: Path) -> None:
    settings = _signer_settings(tmp_path, 0o644)
    env = {**os.environ, "COLEDGER_API_TOKEN_SECRET": GOOD, "COLEDGER_API_RPC_URL": "http://127.0.0.1:9",
           "COLEDGER_API_DEPLOYMENT_FILE": str(settings.deployment_file),
           "COLEDGER_API_VAULT_DIR": str(settings.vault_dir), "COLEDGER_API_INDEX_PATH": str(settings.index_path),
           "COLEDGER_API_SIGNER_KEYFILE": str(settings.signer_keyfile),
           "COLEDGER_API_SIGNER_PASSWORD_FILE": str(settings.signer_password_file)}
    done = subprocess.run([sys.executable, "-m", "arbitration.api", "--port", "0"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert (f"signer password file {settings.signer_password_file} is readable by group or others (mode 0644)"
            in done.stderr)
    assert f"run `chmod 600 {settings.signer_password_file}`" in done.stderr
    assert not settings.vault_dir.exists()
