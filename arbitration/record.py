"""The evidence record: the fields anchored for one item, their canonical bytes, its hash.

Why a fixed-width binary encoding: the leaf data must be reproducible byte for byte by the
Solidity contract, the Python SDK and any third-party verifier. It is
``abi.encodePacked(uint8 version, bytes32 evidenceId, bytes32 loanId, uint8 kind,
bytes32 sha256, bytes32 sm3, bytes32 ciphertextSha256, bytes32 prev)`` — 194 bytes, no length
prefixes, no ambiguity.

The item hash is the RFC 6962 leaf hash of those bytes, SHA-256(0x00 || record). It serves twice:
as the Merkle leaf of the item's anchoring batch and as the per-loan hash chain link — each
record's ``prev`` is the item hash of the previous record of the same loan (``GENESIS_PREV``,
32 zero bytes, for a loan's first item). Because ``prev`` is inside the hashed bytes, removing,
reordering or inserting an item breaks every later link.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .merkle import hash_leaf

__all__ = ["RECORD_VERSION", "RECORD_SIZE", "GENESIS_PREV", "EvidenceKind", "EvidenceRecord"]

RECORD_VERSION = 1
RECORD_SIZE = 1 + 32 + 32 + 1 + 32 * 4
#: ``prev`` of a loan's first evidence item.
GENESIS_PREV = bytes(32)


class EvidenceKind(IntEnum):
    """Kinds of default evidence; the value is the on-chain ``uint8``, the lowercase name the JSON form."""

    LOAN_AGREEMENT = 0
    DISBURSEMENT_RECEIPT = 1
    REPAYMENT_SCHEDULE = 2
    REPAYMENT_RECORD = 3
    OVERDUE_NOTICE = 4
    COLLECTION_LOG = 5
    FUND_FLOW_TRACE = 6
    VERIFICATION_RECORD = 7
    OTHER = 8

    @property
    def json_name(self) -> str:
        return self.name.lower()

    @classmethod
    def from_json_name(cls, name: str) -> EvidenceKind:
        """Inverse of ``json_name``; ``KeyError`` for an unknown name."""
        if name != name.lower():
            raise KeyError(name)
        return cls[name.upper()]


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    """What is anchored for one evidence item (all ``bytes`` fields are 32 bytes)."""

    evidence_id: bytes
    kind: EvidenceKind
    loan_id: bytes
    sha256: bytes
    sm3: bytes
    ciphertext_sha256: bytes
    prev: bytes = GENESIS_PREV

    def __post_init__(self) -> None:
        for name in ("evidence_id", "loan_id", "sha256", "sm3", "ciphertext_sha256", "prev"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != 32:
                raise ValueError(f"{name} must be 32 bytes")
        if not isinstance(self.kind, EvidenceKind):
            raise ValueError(f"kind must be an EvidenceKind, got {self.kind!r}")

    def encode(self) -> bytes:
        """The canonical 194-byte record (the Merkle leaf data)."""
        return (
            bytes([RECORD_VERSION])
            + self.evidence_id
            + self.loan_id
            + bytes([int(self.kind)])
            + self.sha256
            + self.sm3
            + self.ciphertext_sha256
            + self.prev
        )

    def item_hash(self) -> bytes:
        """SHA-256(0x00 || encode()): the Merkle leaf hash and the next record's ``prev``."""
        return hash_leaf(self.encode())
