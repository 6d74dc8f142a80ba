"""Pseudonymous borrower ids: HMAC-SHA256 of the national id under a consortium key.

Nothing personal reaches the chain. Every member holds the same consortium key (distributed off
chain), so the same person gets the same id at every bank — which is what lets the contracts
enforce a consortium-wide exposure cap (multi-platform borrowing control) — while anyone without
the key cannot test a guessed id number against the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from client.errors import CoLedgerValueError, ConfigError
from client.private_files import ensure_private_dir, write_private

__all__ = [
    "BORROWER_KEY_ENV",
    "borrower_id",
    "load_or_create_borrower_key",
    "national_id_check_char",
    "normalize_national_id",
]

BORROWER_KEY_ENV = "COLEDGER_BORROWER_KEY"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_DOMAIN = b"coledger/borrower/v1\x00"


def national_id_check_char(first17: str) -> str:
    """The GB 11643-1999 check character of an 18-character resident identity number."""
    if len(first17) != 17 or not first17.isdigit():
        raise CoLedgerValueError("a national id's first 17 characters must be digits")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def normalize_national_id(national_id: str) -> str:
    """Upper-cased, whitespace-stripped id, checked for length, digits and its check character."""
    text = "".join(national_id.split()).upper()
    if len(text) != 18:
        raise CoLedgerValueError(f"a national id has 18 characters, got {len(text)}")
    expected = national_id_check_char(text[:17])
    if text[17] != expected:
        raise CoLedgerValueError("national id check character does not match (mistyped id?)")
    return text


def borrower_id(national_id: str, consortium_key: bytes) -> bytes:
    """The 32-byte on-chain borrower id for `national_id`."""
    if len(consortium_key) < 32:
        raise CoLedgerValueError("the consortium borrower key must be at least 32 bytes")
    normalized = normalize_national_id(national_id)
    return hmac.new(consortium_key, _DOMAIN + normalized.encode(), hashlib.sha256).digest()


def load_or_create_borrower_key(directory: Path) -> bytes:
    """The consortium borrower key: `$COLEDGER_BORROWER_KEY` (hex), else `DIR/borrower-id.key`.

    The demo generates the file on first use; a real consortium distributes one key to all
    members out of band and sets the environment variable.
    """
    from_env = os.environ.get(BORROWER_KEY_ENV)
    if from_env:
        try:
            key = bytes.fromhex(from_env.removeprefix("0x"))
        except ValueError as exc:
            raise ConfigError(f"${BORROWER_KEY_ENV} is not hex") from exc
        if len(key) < 32:
            raise ConfigError(f"${BORROWER_KEY_ENV} must be at least 32 bytes")
        return key
    path = directory / "borrower-id.key"
    if path.is_file():
        return bytes.fromhex(path.read_text().strip())
    ensure_private_dir(directory)
    key = secrets.token_bytes(32)
    write_private(path, (key.hex() + "\n").encode())
    return key
