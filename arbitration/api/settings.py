"""The API's one settings object: environment variables `COLEDGER_API_*` (or keyword arguments).

Why strict: the token secret signs every bearer token, so it has no default, and the values people
paste from examples ("changethis", "secret", ...) are refused at start rather than discovered in
production. The signer key (Operator role) is optional: without it the access log is kept and
hash-chained locally but not anchored on chain.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ApiSettings", "MIN_SECRET_LENGTH"]

MIN_SECRET_LENGTH = 32
_PLACEHOLDERS = ("changethis", "changeme", "change-me", "change_me", "secret", "password", "example", "xxxx")


class ApiSettings(BaseSettings):
    """Everything `create_app` needs; see the README section "Arbitration API"."""

    model_config = SettingsConfigDict(env_prefix="COLEDGER_API_", extra="forbid")

    rpc_url: str = "http://127.0.0.1:8545"
    #: deployment.json written by `coledger node start` ({"contracts": {"Consortium": ..., ...}}).
    deployment_file: Path
    vault_dir: Path
    #: SQLite file of the evidence index; the access log lives beside it unless `access_log_path`.
    index_path: Path
    access_log_path: Path | None = None
    token_secret: SecretStr
    token_ttl: int = Field(300, ge=10, le=3600, description="bearer token lifetime, seconds")
    challenge_ttl: int = Field(120, ge=10, le=900, description="sign-in challenge lifetime, seconds")
    max_challenges: int = Field(10_000, ge=10, description="outstanding challenges kept at most")
    max_upload_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    role_cache_seconds: float = Field(3.0, ge=0.0, le=60.0)
    sync_interval: float = Field(0.5, gt=0.0, le=60.0)
    #: Sync the index before answering a data request (read-your-writes); off = up to `sync_interval` stale.
    sync_on_read: bool = True
    #: Serialized evidence pages kept for reuse until the index changes (bytes; 0 = no cache).
    page_cache_bytes: int = Field(128 * 1024 * 1024, ge=0)
    #: Operator key (Web3 Secret Storage JSON) + a file holding its password: anchors the access log.
    signer_keyfile: Path | None = None
    signer_password_file: Path | None = None
    anchor_interval: float = Field(2.0, gt=0.0, le=3600.0)
    #: `Secure` flag of the page cookie: set it behind TLS (browsers drop Secure cookies on plain http).
    cookie_secure: bool = False

    @field_validator("token_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        low = raw.lower()
        if len(raw) < MIN_SECRET_LENGTH:
            raise ValueError(f"token_secret must be at least {MIN_SECRET_LENGTH} characters")
        if any(p in low for p in _PLACEHOLDERS) or len(set(raw)) < 8:
            raise ValueError("token_secret looks like a placeholder; generate one: "
                             "python -c 'import secrets; print(secrets.token_urlsafe(48))'")
        return value

    @model_validator(mode="after")
    def _signer_pair(self) -> ApiSettings:
        if (self.signer_keyfile is None) != (self.signer_password_file is None):
            raise ValueError("signer_keyfile and signer_password_file go together")
        return self

    @property
    def access_log_file(self) -> Path:
        return self.access_log_path or self.index_path.with_name("access_log.sqlite3")

    def contracts(self) -> dict[str, str]:
        """The contract addresses of the deployment record (name -> 0x address)."""
        try:
            record: Any = json.loads(self.deployment_file.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read deployment file {self.deployment_file}: {exc}") from exc
        contracts = record.get("contracts") if isinstance(record, dict) else None
        if not isinstance(contracts, dict):
            raise ValueError(f"deployment file {self.deployment_file} has no \"contracts\" object")
        return {str(k): str(v) for k, v in contracts.items()}
