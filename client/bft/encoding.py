"""CometBFT v0.38's bytes: header hash, vote sign bytes, validator-set hash, RFC 6962 trees.

Why hand-written protobuf: the few messages involved are tiny and their encoding is fixed by
gogoproto's rules (proto3 scalars omitted when zero, non-nullable sub-messages always written,
``sfixed64`` height and round in votes), and an auditor's machine should not need the bindings
generated from CometBFT's module. Tests compare every function with what the real binary signed.
"""

from __future__ import annotations

import hashlib
import re
from calendar import timegm
from datetime import datetime

from client.bft.errors import MalformedProofError

__all__ = [
    "PRECOMMIT",
    "Timestamp",
    "merkle_root",
    "header_hash",
    "vote_sign_bytes",
    "simple_validator_bytes",
    "parse_time",
    "ed25519_address",
]

#: SignedMsgType of a precommit vote (the votes a commit is made of)
PRECOMMIT = 2

_VARINT, _FIXED64, _BYTES = 0, 1, 2


def _uvarint(n: int) -> bytes:
    if n < 0:
        n &= (1 << 64) - 1  # int64 negatives: ten-byte two's complement, as Go writes them
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _uvarint(field << 3 | wire)


def _varint_field(field: int, value: int) -> bytes:
    """A proto3 integer field; zero is omitted."""
    return _key(field, _VARINT) + _uvarint(value) if value else b""


def _sfixed64_field(field: int, value: int) -> bytes:
    return _key(field, _FIXED64) + value.to_bytes(8, "little", signed=True) if value else b""


def _bytes_field(field: int, value: bytes, always: bool = False) -> bytes:
    """A bytes, string or message field; empty is omitted unless the field is non-nullable."""
    if not value and not always:
        return b""
    return _key(field, _BYTES) + _uvarint(len(value)) + value


class Timestamp(tuple[int, int]):
    """(seconds, nanos) since the Unix epoch, UTC: CometBFT's times keep nanoseconds."""

    @property
    def seconds(self) -> int:
        return self[0]

    @property
    def nanos(self) -> int:
        return self[1]

    def encode(self) -> bytes:
        """google.protobuf.Timestamp"""
        return _varint_field(1, self.seconds) + _varint_field(2, self.nanos)


_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$")


def parse_time(text: object, what: str = "time") -> Timestamp:
    """An RFC 3339 UTC time as CometBFT writes it (``2026-12-05T12:12:46.93570996Z``)."""
    match = _TIME.match(text) if isinstance(text, str) else None
    if match is None:
        raise MalformedProofError(f"{what} is not an RFC 3339 UTC time: {text!r}")
    try:
        whole = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    except ValueError as exc:
        raise MalformedProofError(f"{what} is not a valid date: {text!r}") from exc
    nanos = int((match.group(2) or "0").ljust(9, "0"))
    return Timestamp((timegm(whole.timetuple()), nanos))


def merkle_root(items: list[bytes]) -> bytes:
    """RFC 6962 SHA-256 tree (CometBFT's ``merkle.HashFromByteSlices``)."""
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return hashlib.sha256(b"\x00" + items[0]).digest()
    split = 1 << ((len(items) - 1).bit_length() - 1)  # largest power of two below len
    return hashlib.sha256(b"\x01" + merkle_root(items[:split]) + merkle_root(items[split:])).digest()


def _part_set_header(total: int, hash_: bytes) -> bytes:
    return _varint_field(1, total) + _bytes_field(2, hash_)


def _block_id(hash_: bytes, parts_total: int, parts_hash: bytes) -> bytes:
    """tendermint.types.BlockID (part_set_header non-nullable: always written)."""
    return _bytes_field(1, hash_) + _bytes_field(2, _part_set_header(parts_total, parts_hash),
                                                 always=True)


def _cdc_bytes(value: bytes) -> bytes:
    return _bytes_field(1, value) if value else b""  # gogotypes.BytesValue; empty: nothing


def header_hash(*, version_block: int, version_app: int, chain_id: str, height: int,
                time: Timestamp, last_block_hash: bytes, last_parts_total: int,
                last_parts_hash: bytes, last_commit_hash: bytes, data_hash: bytes,
                validators_hash: bytes, next_validators_hash: bytes, consensus_hash: bytes,
                app_hash: bytes, last_results_hash: bytes, evidence_hash: bytes,
                proposer_address: bytes) -> bytes:
    """The block hash: an RFC 6962 tree over the fourteen encoded header fields."""
    leaves = [
        _varint_field(1, version_block) + _varint_field(2, version_app),
        _bytes_field(1, chain_id.encode()) if chain_id else b"",
        _varint_field(1, height),
        time.encode(),
        _block_id(last_block_hash, last_parts_total, last_parts_hash),
        _cdc_bytes(last_commit_hash),
        _cdc_bytes(data_hash),
        _cdc_bytes(validators_hash),
        _cdc_bytes(next_validators_hash),
        _cdc_bytes(consensus_hash),
        _cdc_bytes(app_hash),
        _cdc_bytes(last_results_hash),
        _cdc_bytes(evidence_hash),
        _cdc_bytes(proposer_address),
    ]
    return merkle_root(leaves)


def vote_sign_bytes(*, chain_id: str, height: int, round_: int, block_hash: bytes,
                    parts_total: int, parts_hash: bytes, time: Timestamp,
                    msg_type: int = PRECOMMIT) -> bytes:
    """What a validator's ed25519 key signs: the length-delimited CanonicalVote.

    ``block_hash`` empty means a vote for nil (no block id in the canonical vote)."""
    body = _varint_field(1, msg_type) + _sfixed64_field(2, height) + _sfixed64_field(3, round_)
    if block_hash or parts_total or parts_hash:
        canonical_id = _bytes_field(1, block_hash) + _bytes_field(
            2, _part_set_header(parts_total, parts_hash), always=True)
        body += _bytes_field(4, canonical_id, always=True)
    body += _bytes_field(5, time.encode(), always=True)
    body += _bytes_field(6, chain_id.encode())
    return _uvarint(len(body)) + body


def simple_validator_bytes(ed25519_pub_key: bytes, voting_power: int) -> bytes:
    """tendermint.types.SimpleValidator: the leaf of the validator-set hash."""
    public_key = _bytes_field(1, ed25519_pub_key, always=True)  # PublicKey{ed25519}
    return _bytes_field(1, public_key, always=True) + _varint_field(2, voting_power)


def ed25519_address(pub_key: bytes) -> bytes:
    """A validator's address: the first 20 bytes of SHA-256 of its ed25519 public key."""
    return hashlib.sha256(pub_key).digest()[:20]
