"""Institution keys in eth-account encrypted keystores; signing happens here, never on the node.

A keystore directory holds one `NAME.json` (Web3 Secret Storage, scrypt) per key. The password
comes from the caller, from `COLEDGER_KEYSTORE_PASSWORD`, or — for the demo consortium only — from
a generated `password` file beside the keystores. Key and password files are created 0600 in a
0700 directory from their first byte (`client.private_files`), never chmod-ed afterwards.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from client.errors import KeystoreError
from client.private_files import ensure_private_dir, write_private

__all__ = [
    "PASSWORD_ENV",
    "Keystore",
    "demo_password",
]

PASSWORD_ENV = "COLEDGER_KEYSTORE_PASSWORD"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# scrypt n=2**14 keeps a node start with seven keys under a few seconds; raise it for production
# keys with `Keystore(..., scrypt_n=2**18)`.
_DEMO_SCRYPT_N = 2**14


class Keystore:
    """A directory of named encrypted keys, all under one password."""

    def __init__(self, directory: Path, password: str, scrypt_n: int = _DEMO_SCRYPT_N) -> None:
        if not password:
            raise KeystoreError("keystore password is empty")
        self.directory = directory
        self._password = password
        self._scrypt_n = scrypt_n
        self._cache: dict[str, LocalAccount] = {}

    def path(self, name: str) -> Path:
        if not _NAME_RE.match(name):
            raise KeystoreError(
                f"bad key name {name!r}: use lowercase letters, digits and '-', at most 63 chars"
            )
        return self.directory / f"{name}.json"

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.json"))

    def create(self, name: str, private_key: bytes | None = None) -> LocalAccount:
        """Create key `name` (fresh random unless `private_key` is given); refuses to overwrite."""
        path = self.path(name)
        if path.exists():
            raise KeystoreError(f"key {name!r} already exists at {path}")
        account: LocalAccount = Account.from_key(private_key or secrets.token_bytes(32))
        encrypted = Account.encrypt(
            account.key, self._password, kdf="scrypt", iterations=self._scrypt_n
        )
        ensure_private_dir(self.directory)
        write_private(path, json.dumps(encrypted).encode())
        self._cache[name] = account
        return account

    def load(self, name: str) -> LocalAccount:
        """Decrypt key `name`; wrong password or a damaged file is a `KeystoreError`."""
        if name in self._cache:
            return self._cache[name]
        path = self.path(name)
        if not path.is_file():
            raise KeystoreError(f"no key {name!r} in {self.directory}")
        try:
            key = Account.decrypt(json.loads(path.read_text()), self._password)
        except (ValueError, KeyError, json.JSONDecodeError) as exc:
            raise KeystoreError(f"cannot decrypt key {name!r} at {path}: {exc}") from exc
        account: LocalAccount = Account.from_key(key)
        self._cache[name] = account
        return account

    def load_or_create(self, name: str) -> LocalAccount:
        return self.load(name) if self.exists(name) else self.create(name)

    def address(self, name: str) -> str:
        """The address of key `name`, read without decrypting (keystores store it in clear)."""
        path = self.path(name)
        if not path.is_file():
            raise KeystoreError(f"no key {name!r} in {self.directory}")
        raw = json.loads(path.read_text())
        return str(Account.from_key(self.load(name).key).address) if "address" not in raw else (
            _checksum(raw["address"])
        )


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    return str(to_checksum_address(address if address.startswith("0x") else "0x" + address))


def demo_password(directory: Path) -> str:
    """The keystore password: `$COLEDGER_KEYSTORE_PASSWORD`, else a generated demo password file.

    The generated file is for the demo consortium on one laptop; institutions set the
    environment variable (or pass a password) and keep no password on disk.
    """
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    path = directory / "password"
    if path.is_file():
        return path.read_text().strip()
    ensure_private_dir(directory)
    password = secrets.token_urlsafe(24)
    write_private(path, (password + "\n").encode())
    return password
