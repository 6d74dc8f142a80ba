"""The consensus proof of one anchor as a bundle carries it (types and strict JSON only).

Kept apart from :mod:`arbitration.consensus` (which verifies) so that the bundle parser can read
it without importing the verifier, and the verifier can import the bundle's types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import _schema as S
from .errors import BundleFormatError

__all__ = ["AnchorConsensus", "consensus_to_json", "parse_consensus"]

_FIELDS = ("block_number", "tx_index", "header_rlp", "receipt_proof", "transaction_proof",
           "signed_header", "next_signed_header")
_MAX_NODES = 64
_MAX_NODE_BYTES = 1 << 20
_MAX_HEADER_BYTES = 4096


@dataclass(frozen=True, slots=True)
class AnchorConsensus:
    """What proves one anchoring block from the validators' signatures."""

    block_number: int
    tx_index: int
    header_rlp: bytes
    receipt_proof: tuple[bytes, ...]
    transaction_proof: tuple[bytes, ...]
    signed_header: dict[str, Any]
    next_signed_header: dict[str, Any]


def consensus_to_json(c: AnchorConsensus) -> dict[str, Any]:
    return {
        "block_number": c.block_number,
        "tx_index": c.tx_index,
        "header_rlp": S.hx(c.header_rlp),
        "receipt_proof": [S.hx(n) for n in c.receipt_proof],
        "transaction_proof": [S.hx(n) for n in c.transaction_proof],
        "signed_header": c.signed_header,
        "next_signed_header": c.next_signed_header,
    }


def parse_consensus(value: Any, path: str) -> AnchorConsensus:
    """Strict parse (``BundleFormatError`` names the field); signed headers are checked later."""
    o = S.obj(value, path, _FIELDS)

    def nodes(name: str) -> tuple[bytes, ...]:
        raw = S.array(o[name], f"{path}.{name}", _MAX_NODES)
        return tuple(_hexdata(n, f"{path}.{name}[{i}]", _MAX_NODE_BYTES) for i, n in enumerate(raw))

    for name in ("signed_header", "next_signed_header"):
        if not isinstance(o[name], dict):
            raise BundleFormatError(f"{path}.{name}", "expected object")
    return AnchorConsensus(
        block_number=S.integer(o["block_number"], f"{path}.block_number", 1, 2**63 - 1),
        tx_index=S.integer(o["tx_index"], f"{path}.tx_index", 0, 2**32),
        header_rlp=_hexdata(o["header_rlp"], f"{path}.header_rlp", _MAX_HEADER_BYTES),
        receipt_proof=nodes("receipt_proof"),
        transaction_proof=nodes("transaction_proof"),
        signed_header=o["signed_header"],
        next_signed_header=o["next_signed_header"],
    )


def _hexdata(value: Any, path: str, limit: int) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) % 2:
        raise BundleFormatError(path, "expected 0x-prefixed hex of whole bytes")
    if len(value) > 2 + 2 * limit:
        raise BundleFormatError(path, f"longer than {limit} bytes")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise BundleFormatError(path, "not hex") from None
