"""Evidence content encryption and per-reader key wrapping.

Why this shape (envelope encryption):
- Each item is encrypted once, with AES-256-GCM under a fresh 32-byte data key and a random
  96-bit nonce, the evidence id as associated data: a blob copied under another evidence id
  does not decrypt, and any changed bit fails the tag.
- The data key is wrapped separately for each authorized reader (lead bank, assigned arbitrator)
  with HPKE (RFC 9180) base mode, Suite(X25519, HKDF-SHA256, AES-256-GCM). The HPKE API has no
  aad argument, so the evidence id and the case id are bound in ``info``: a wrapped key lifted
  onto another item or another case does not open. Adding a reader means one more wrapped key
  (``add_reader``); the content, and therefore its ciphertext hash anchored on chain, never
  changes.
- SHA-256 and SM3 of the plaintext (what courts compare against the original) and SHA-256 of
  the ciphertext (the blob's store address) are recorded at sealing time.

Randomness comes from ``os.urandom`` unless a caller injects ``rng``; only the golden test does,
to pin the on-disk format.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from .errors import ContentDecryptionError, KeyUnwrapError, SealError

__all__ = [
    "Rng",
    "ID_SIZE",
    "DATA_KEY_SIZE",
    "NONCE_SIZE",
    "BLOB_VERSION",
    "NO_CASE",
    "HPKE_SUITE",
    "KEY_INFO_LABEL",
    "ContentDigests",
    "WrappedKey",
    "SealedEvidence",
    "new_evidence_id",
    "generate_reader_key",
    "private_key_bytes",
    "public_key_bytes",
    "load_private_key",
    "load_public_key",
    "digest_content",
    "sm3",
    "key_info",
    "encrypt_content",
    "decrypt_content",
    "wrap_data_key",
    "unwrap_data_key",
    "seal",
    "open_sealed",
    "add_reader",
]

#: A source of random bytes: ``rng(n)`` returns n bytes. Production uses ``os.urandom``.
Rng = Callable[[int], bytes]

#: Evidence ids and case ids are bytes32, as on chain.
ID_SIZE = 32
DATA_KEY_SIZE = 32
NONCE_SIZE = 12
#: First byte of every stored blob: blob = BLOB_VERSION || nonce (12) || AES-GCM ciphertext+tag.
BLOB_VERSION = 1
#: The case id bound into keys wrapped before any case exists (e.g. at submission).
NO_CASE = bytes(ID_SIZE)
#: RFC 9180 suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
HPKE_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
#: Prefix of the HPKE ``info``; a new wrapping scheme gets a new label.
KEY_INFO_LABEL = b"coledger/evidence-data-key/v1"
_TAG_SIZE = 16


@dataclass(frozen=True, slots=True)
class ContentDigests:
    """Hashes recorded for an item: plaintext SHA-256 and SM3, ciphertext (blob) SHA-256."""

    sha256: bytes
    sm3: bytes
    ciphertext_sha256: bytes


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """An item's data key sealed to one reader for one (evidence id, case id).

    ``reader`` is the reader's raw 32-byte X25519 public key, so readers find their own entry;
    ``sealed`` is the HPKE output (encapsulated key || ciphertext || tag, 80 bytes).
    """

    reader: bytes
    case_id: bytes
    sealed: bytes


@dataclass(frozen=True, slots=True)
class SealedEvidence:
    """The result of sealing one item: the blob to store, its digests and the wrapped keys."""

    evidence_id: bytes
    blob: bytes
    digests: ContentDigests
    wrapped_keys: tuple[WrappedKey, ...]


def _check_id(name: str, value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != ID_SIZE:
        raise SealError(f"{name} must be {ID_SIZE} bytes")


def _random(rng: Rng, n: int) -> bytes:
    out = rng(n)
    if not isinstance(out, bytes) or len(out) != n:
        got = len(out) if isinstance(out, bytes) else type(out).__name__
        raise SealError(f"rng returned {got}, want {n} bytes")
    return out


def new_evidence_id(rng: Rng = os.urandom) -> bytes:
    """A fresh random 32-byte evidence id (random, not content-derived: equal contents stay unlinkable)."""
    return _random(rng, ID_SIZE)


# --- reader keys --------------------------------------------------------------------------------


def generate_reader_key() -> X25519PrivateKey:
    """A new X25519 key pair for a reader (lead bank, arbitrator)."""
    return X25519PrivateKey.generate()


def private_key_bytes(key: X25519PrivateKey) -> bytes:
    """Raw 32-byte private key (store it encrypted; it opens every item wrapped to it)."""
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def public_key_bytes(key: X25519PublicKey | X25519PrivateKey) -> bytes:
    """Raw 32-byte public key, the reader's identity in ``WrappedKey.reader``."""
    pub = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def load_private_key(raw: bytes) -> X25519PrivateKey:
    """Inverse of ``private_key_bytes``."""
    try:
        return X25519PrivateKey.from_private_bytes(raw)
    except ValueError as e:
        raise SealError(f"invalid X25519 private key: {e}") from e


def load_public_key(raw: bytes) -> X25519PublicKey:
    """Inverse of ``public_key_bytes``."""
    try:
        return X25519PublicKey.from_public_bytes(raw)
    except ValueError as e:
        raise SealError(f"invalid X25519 public key: {e}") from e


# --- digests ------------------------------------------------------------------------------------


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905-2016) digest, which Chinese courts and arbitration bodies commonly expect."""
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def digest_content(plaintext: bytes, blob: bytes) -> ContentDigests:
    """The three hashes recorded for an item."""
    return ContentDigests(
        sha256=hashlib.sha256(plaintext).digest(),
        sm3=sm3(plaintext),
        ciphertext_sha256=hashlib.sha256(blob).digest(),
    )


# --- content ------------------------------------------------------------------------------------


def encrypt_content(plaintext: bytes, evidence_id: bytes, data_key: bytes, rng: Rng = os.urandom) -> bytes:
    """AES-256-GCM encrypt under ``data_key`` with the evidence id as associated data -> blob."""
    _check_id("evidence id", evidence_id)
    if len(data_key) != DATA_KEY_SIZE:
        raise SealError(f"data key must be {DATA_KEY_SIZE} bytes")
    nonce = _random(rng, NONCE_SIZE)
    return bytes([BLOB_VERSION]) + nonce + AESGCM(data_key).encrypt(nonce, plaintext, evidence_id)


def decrypt_content(blob: bytes, evidence_id: bytes, data_key: bytes) -> bytes:
    """Inverse of ``encrypt_content``; ``ContentDecryptionError`` on any mismatch or tampering."""
    _check_id("evidence id", evidence_id)
    if len(blob) < 1 + NONCE_SIZE + _TAG_SIZE:
        raise ContentDecryptionError(f"blob of {len(blob)} bytes is too short")
    if blob[0] != BLOB_VERSION:
        raise ContentDecryptionError(f"blob version {blob[0]}, want {BLOB_VERSION}")
    nonce, body = blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :]
    try:
        return AESGCM(data_key).decrypt(nonce, body, evidence_id)
    except (InvalidTag, ValueError) as e:
        raise ContentDecryptionError(
            f"content of evidence {evidence_id.hex()} does not decrypt: wrong key or evidence id, or tampered"
        ) from e


# --- data keys ----------------------------------------------------------------------------------


def key_info(evidence_id: bytes, case_id: bytes = NO_CASE) -> bytes:
    """HPKE ``info``: label || 0x00 || evidence id (32) || case id (32) — fixed widths, unambiguous."""
    _check_id("evidence id", evidence_id)
    _check_id("case id", case_id)
    return KEY_INFO_LABEL + b"\x00" + evidence_id + case_id


def wrap_data_key(
    data_key: bytes, evidence_id: bytes, reader: X25519PublicKey, case_id: bytes = NO_CASE
) -> WrappedKey:
    """Seal ``data_key`` to ``reader`` for this evidence id and case."""
    if len(data_key) != DATA_KEY_SIZE:
        raise SealError(f"data key must be {DATA_KEY_SIZE} bytes")
    sealed = HPKE_SUITE.encrypt(data_key, reader, info=key_info(evidence_id, case_id))
    return WrappedKey(reader=public_key_bytes(reader), case_id=case_id, sealed=sealed)


def unwrap_data_key(wrapped: WrappedKey, evidence_id: bytes, private_key: X25519PrivateKey) -> bytes:
    """Open a wrapped key; ``KeyUnwrapError`` for a wrong reader key, evidence id or case id."""
    info = key_info(evidence_id, wrapped.case_id)
    try:
        key = HPKE_SUITE.decrypt(wrapped.sealed, private_key, info=info)
    except (InvalidTag, ValueError) as e:
        raise KeyUnwrapError(
            f"data key of evidence {evidence_id.hex()} (case {wrapped.case_id.hex()}) does not open"
            " with this reader key"
        ) from e
    if len(key) != DATA_KEY_SIZE:
        raise KeyUnwrapError(f"unwrapped data key has {len(key)} bytes, want {DATA_KEY_SIZE}")
    return key


# --- whole items --------------------------------------------------------------------------------


def seal(
    plaintext: bytes,
    evidence_id: bytes,
    readers: Iterable[X25519PublicKey],
    case_id: bytes = NO_CASE,
    rng: Rng = os.urandom,
) -> SealedEvidence:
    """Encrypt an item under a fresh data key and wrap that key for every reader.

    The data key exists only inside this call; afterwards only its wrapped forms do.
    """
    _check_id("evidence id", evidence_id)
    data_key = _random(rng, DATA_KEY_SIZE)
    blob = encrypt_content(plaintext, evidence_id, data_key, rng)
    wrapped = tuple(wrap_data_key(data_key, evidence_id, r, case_id) for r in readers)
    return SealedEvidence(evidence_id, blob, digest_content(plaintext, blob), wrapped)


def open_sealed(
    blob: bytes,
    evidence_id: bytes,
    wrapped: WrappedKey,
    private_key: X25519PrivateKey,
    expected: ContentDigests | None = None,
) -> bytes:
    """Unwrap the reader's data key and decrypt; with ``expected``, also check all three hashes."""
    if expected is not None and hashlib.sha256(blob).digest() != expected.ciphertext_sha256:
        raise ContentDecryptionError(f"ciphertext of evidence {evidence_id.hex()} does not match its SHA-256")
    plaintext = decrypt_content(blob, evidence_id, unwrap_data_key(wrapped, evidence_id, private_key))
    if expected is not None:
        got = digest_content(plaintext, blob)
        if got.sha256 != expected.sha256 or got.sm3 != expected.sm3:
            raise ContentDecryptionError(
                f"plaintext of evidence {evidence_id.hex()} does not match its hashes"
            )
    return plaintext


def add_reader(
    wrapped: WrappedKey,
    evidence_id: bytes,
    holder_key: X25519PrivateKey,
    new_reader: X25519PublicKey,
    case_id: bytes | None = None,
) -> WrappedKey:
    """Give ``new_reader`` access: a current holder unwraps its key and wraps it anew.

    ``case_id`` defaults to the holder's; opening a case passes the case id so the arbitrator's
    key is bound to it. The content blob is untouched.
    """
    data_key = unwrap_data_key(wrapped, evidence_id, holder_key)
    return wrap_data_key(data_key, evidence_id, new_reader, wrapped.case_id if case_id is None else case_id)
