"""ApiSettings: secrets have no default, placeholders and short secrets are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from arbitration.api.settings import ApiSettings

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
