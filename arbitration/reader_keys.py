"""A member's evidence reader key, derived from the member's signing key.

Why derive instead of generating and storing a second key: the institution already protects its
secp256k1 signing key (encrypted keystore, HSM later); an X25519 key derived from it by HKDF
needs no second secret to back up, rotates with the member key, and is reproducible on any
machine holding the keystore. HKDF with a fixed salt and a versioned ``info`` label separates it
from every other use of the signing key: knowing the reader key reveals nothing about the
signing key, and a future scheme gets a new label.

The public half is published on chain with ``EvidenceRegistry.registerReaderKey`` so a lead bank
opening a case can wrap data keys for the assigned arbitrator without asking it for anything.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import SealError
from .sealing import public_key_bytes

__all__ = ["READER_KEY_SALT", "READER_KEY_INFO", "derive_reader_key", "reader_public_key"]

READER_KEY_SALT = b"coledger"
READER_KEY_INFO = b"coledger evidence reader key v1"
_MEMBER_KEY_SIZE = 32


def derive_reader_key(member_private_key: bytes) -> X25519PrivateKey:
    """X25519 private key = HKDF-SHA256(ikm=member key, salt=b"coledger", info=READER_KEY_INFO, 32 bytes).

    ``member_private_key`` is the raw 32-byte secp256k1 key of the member (``LocalAccount.key``).
    """
    if not isinstance(member_private_key, bytes | bytearray) or len(member_private_key) != _MEMBER_KEY_SIZE:
        raise SealError(f"member private key must be {_MEMBER_KEY_SIZE} bytes")
    okm = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=READER_KEY_SALT, info=READER_KEY_INFO
    ).derive(bytes(member_private_key))
    return X25519PrivateKey.from_private_bytes(okm)


def reader_public_key(member_private_key: bytes) -> bytes:
    """The raw 32-byte X25519 public key to publish with ``registerReaderKey``."""
    return public_key_bytes(derive_reader_key(member_private_key))
