"""Proof-of-authority block seals: the validator key signs each sealed block's hash.

Why separate from the header: py-evm's post-merge headers have no seal field, and the
auditor's replay must reproduce identical block hashes from genesis; so the signature is
kept beside the block (same SQLite commit) and served by ``coledger_getBlockSeal``.
"""

from __future__ import annotations

from coincurve import PrivateKey, PublicKey
from eth_utils import keccak, to_checksum_address

from .errors import NodeError

__all__ = ["Sealer", "recover_seal_signer", "SealError"]


class SealError(NodeError):
    """A seal signature is malformed or the validator key is unusable."""


def _address_of(public: PublicKey) -> str:
    return to_checksum_address(keccak(public.format(compressed=False)[1:])[12:])


class Sealer:
    """Signs block hashes with the validator's secp256k1 key (65-byte r||s||v, v in {0,1})."""

    def __init__(self, private_key: bytes) -> None:
        if len(private_key) != 32:
            raise SealError(f"validator key must be 32 bytes, got {len(private_key)}")
        try:
            self._key = PrivateKey(private_key)
        except Exception as exc:
            raise SealError(f"invalid validator key: {exc}") from exc
        self.address = _address_of(self._key.public_key)

    def sign(self, block_hash: bytes) -> bytes:
        """Recoverable signature over the 32-byte block hash (no extra hashing)."""
        return self._key.sign_recoverable(block_hash, hasher=None)


def recover_seal_signer(block_hash: bytes, signature: bytes) -> str:
    """Checksum address that produced ``signature`` over ``block_hash``."""
    if len(signature) != 65:
        raise SealError(f"seal signature must be 65 bytes, got {len(signature)}")
    try:
        public = PublicKey.from_signature_and_message(signature, block_hash, hasher=None)
    except Exception as exc:
        raise SealError(f"seal signature does not recover: {exc}") from exc
    return _address_of(public)
