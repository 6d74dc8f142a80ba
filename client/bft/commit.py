"""A CometBFT signed header, and the proof that more than 2/3 of the voting power signed it.

Why full ``VerifyCommit`` semantics (every non-absent signature checked, not just until 2/3
is reached): a verifier that stops early would accept a commit carrying a forged signature
after the honest two thirds, and an auditor must name every validator whose signature is bad.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from client.bft.encoding import Timestamp, header_hash, parse_time, vote_sign_bytes
from client.bft.errors import (
    CommitVerificationError,
    HeaderMismatchError,
    MalformedProofError,
    ValidatorSetError,
)
from client.bft.validators import ValidatorSet

__all__ = ["BLOCK_ID_ABSENT", "BLOCK_ID_COMMIT", "BLOCK_ID_NIL", "CommitSig", "SignedHeader",
           "CommitCheck", "verify_commit", "verify_signed_header"]

BLOCK_ID_ABSENT, BLOCK_ID_COMMIT, BLOCK_ID_NIL = 1, 2, 3


@dataclass(frozen=True)
class CommitSig:
    flag: int
    validator_address: bytes
    timestamp: Timestamp
    signature: bytes


@dataclass(frozen=True)
class SignedHeader:
    """A block's header and the commit that decided it, as CometBFT's ``/commit`` serves them."""

    height: int
    chain_id: str
    time: Timestamp
    header: dict[str, Any]  # the JSON as served (kept for bundles and reports)
    commit: dict[str, Any]
    computed_hash: bytes  # the header's hash, recomputed here
    last_block_hash: bytes
    app_hash: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    proposer_address: bytes
    commit_height: int
    commit_round: int
    block_hash: bytes  # what the commit signs
    parts_total: int
    parts_hash: bytes
    signatures: tuple[CommitSig, ...] = field(default_factory=tuple)

    @classmethod
    def from_json(cls, doc: Any) -> SignedHeader:
        """From ``{"header": …, "commit": …}`` (CometBFT's ``signed_header``)."""
        if not isinstance(doc, dict):
            raise MalformedProofError("a signed header must be an object with header and commit")
        header, commit = doc.get("header"), doc.get("commit")
        if not isinstance(header, dict) or not isinstance(commit, dict):
            raise MalformedProofError("a signed header needs both 'header' and 'commit' objects")
        height = _int(header.get("height"), "header.height")
        where = f"block {height}"
        version = _obj(header.get("version"), f"{where}: header.version")
        last_id = _obj(header.get("last_block_id"), f"{where}: header.last_block_id")
        last_parts = _obj(last_id.get("parts"), f"{where}: header.last_block_id.parts")
        time = parse_time(header.get("time"), f"{where}: header.time")
        chain_id = header.get("chain_id")
        if not isinstance(chain_id, str):
            raise MalformedProofError(f"{where}: header.chain_id is missing")
        fields = {name: _hex(header.get(name), f"{where}: header.{name}") for name in (
            "last_commit_hash", "data_hash", "validators_hash", "next_validators_hash",
            "consensus_hash", "app_hash", "last_results_hash", "evidence_hash",
            "proposer_address")}
        computed = header_hash(
            version_block=_int(version.get("block"), f"{where}: version.block"),
            version_app=_int(version.get("app", "0"), f"{where}: version.app"),
            chain_id=chain_id, height=height, time=time,
            last_block_hash=_hex(last_id.get("hash"), f"{where}: last_block_id.hash"),
            last_parts_total=_int(last_parts.get("total"), f"{where}: last parts total"),
            last_parts_hash=_hex(last_parts.get("hash"), f"{where}: last parts hash"),
            **fields)
        block_id = _obj(commit.get("block_id"), f"{where}: commit.block_id")
        parts = _obj(block_id.get("parts"), f"{where}: commit.block_id.parts")
        raw_sigs = commit.get("signatures")
        if not isinstance(raw_sigs, list):
            raise MalformedProofError(f"{where}: commit.signatures is not a list")
        sigs = tuple(_commit_sig(s, f"{where}: signature {i}") for i, s in enumerate(raw_sigs))
        return cls(
            height=height, chain_id=chain_id, time=time, header=header, commit=commit,
            computed_hash=computed,
            last_block_hash=_hex(last_id.get("hash"), f"{where}: last_block_id.hash"),
            app_hash=fields["app_hash"], validators_hash=fields["validators_hash"],
            next_validators_hash=fields["next_validators_hash"],
            proposer_address=fields["proposer_address"],
            commit_height=_int(commit.get("height"), f"{where}: commit.height"),
            commit_round=_int(commit.get("round", 0), f"{where}: commit.round"),
            block_hash=_hex(block_id.get("hash"), f"{where}: commit.block_id.hash"),
            parts_total=_int(parts.get("total"), f"{where}: commit parts total"),
            parts_hash=_hex(parts.get("hash"), f"{where}: commit parts hash"),
            signatures=sigs)

    def to_json(self) -> dict[str, Any]:
        return {"header": self.header, "commit": self.commit}


@dataclass(frozen=True)
class CommitCheck:
    """What a verified commit proves: this block hash, at this BFT time, signed by these."""

    height: int
    block_hash: bytes
    time: Timestamp
    signed_power: int
    total_power: int
    signers: tuple[str, ...]  # validator names (or addresses) whose commit signatures verified


def verify_commit(sh: SignedHeader, vset: ValidatorSet) -> CommitCheck:
    """CometBFT's ``VerifyCommit``: every signature that is present must verify against the
    validator at its index, and those for the block must hold more than 2/3 of the power."""
    where = f"block {sh.height}"
    if sh.commit_height != sh.height:
        raise CommitVerificationError(
            f"{where}: the commit is for height {sh.commit_height}, not {sh.height}")
    if len(sh.signatures) != len(vset.validators):
        raise CommitVerificationError(
            f"{where}: the commit has {len(sh.signatures)} signature slots, the validator set "
            f"has {len(vset.validators)} validators")
    needed = vset.total_power * 2 // 3
    tallied = 0
    signers: list[str] = []
    for index, (sig, validator) in enumerate(zip(sh.signatures, vset.validators, strict=True)):
        if sig.flag == BLOCK_ID_ABSENT:
            continue
        if sig.flag not in (BLOCK_ID_COMMIT, BLOCK_ID_NIL):
            raise CommitVerificationError(f"{where}: signature {index} has unknown flag {sig.flag}")
        who = validator.name or validator.address_hex
        if sig.validator_address != validator.address:
            outsider = vset.by_address(sig.validator_address) is None
            raise CommitVerificationError(
                f"{where}: signature {index} is by {sig.validator_address.hex().upper()}"
                + (", a key outside the validator set" if outsider else
                   f", but validator {index} of the set is {who}"))
        for_block = sig.flag == BLOCK_ID_COMMIT
        message = vote_sign_bytes(
            chain_id=vset.chain_id, height=sh.height, round_=sh.commit_round,
            block_hash=sh.block_hash if for_block else b"",
            parts_total=sh.parts_total if for_block else 0,
            parts_hash=sh.parts_hash if for_block else b"", time=sig.timestamp)
        try:
            Ed25519PublicKey.from_public_bytes(validator.pub_key).verify(sig.signature, message)
        except InvalidSignature:
            raise CommitVerificationError(
                f"{where}: the signature of validator {who} ({validator.address_hex}) does not "
                f"verify") from None
        if for_block:
            tallied += validator.power
            signers.append(who)
    if tallied <= needed:
        raise CommitVerificationError(
            f"{where}: signatures for the block hold {tallied} of {vset.total_power} voting "
            f"power; more than two thirds (> {needed}) are needed")
    return CommitCheck(sh.height, sh.block_hash, sh.time, tallied, vset.total_power,
                       tuple(signers))


def verify_signed_header(sh: SignedHeader, vset: ValidatorSet,
                         next_vset: ValidatorSet | None = None) -> CommitCheck:
    """The header is the block the commit signs, on our chain, under our validator set (and
    names ``next_vset`` — by default the same — as the next height's); then
    :func:`verify_commit`."""
    where = f"block {sh.height}"
    if sh.chain_id != vset.chain_id:
        raise HeaderMismatchError(
            f"{where}: header of chain {sh.chain_id!r}, the validator set is of {vset.chain_id!r}")
    if sh.computed_hash != sh.block_hash:
        raise HeaderMismatchError(
            f"{where}: the header hashes to {sh.computed_hash.hex().upper()}, but the commit "
            f"signs block {sh.block_hash.hex().upper()}")
    for name, theirs, ours in (
            ("validators_hash", sh.validators_hash, vset.hash()),
            ("next_validators_hash", sh.next_validators_hash, (next_vset or vset).hash())):
        if theirs != ours:
            raise ValidatorSetError(
                f"{where}: the header's {name} is {theirs.hex().upper()}, the validator set "
                f"from genesis and governance hashes to {ours.hex().upper()} (the node names "
                f"other validators)")
    return verify_commit(sh, vset)


def _commit_sig(doc: Any, where: str) -> CommitSig:
    sig = _obj(doc, where)
    flag = _int(sig.get("block_id_flag"), f"{where}: block_id_flag")
    if flag == BLOCK_ID_ABSENT:
        return CommitSig(flag, b"", Timestamp((0, 0)), b"")
    raw = sig.get("signature")
    try:
        signature = base64.b64decode(str(raw), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedProofError(f"{where}: signature is not base64") from exc
    return CommitSig(flag, _hex(sig.get("validator_address"), f"{where}: validator_address"),
                     parse_time(sig.get("timestamp"), f"{where}: timestamp"), signature)


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedProofError(f"{where} is missing or not an object")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise MalformedProofError(f"{where} is not an integer: {value!r}")
    try:
        return int(str(value))
    except ValueError as exc:
        raise MalformedProofError(f"{where} is not an integer: {value!r}") from exc


def _hex(value: Any, where: str) -> bytes:
    if value is None or value == "":
        return b""
    try:
        return bytes.fromhex(str(value))
    except ValueError as exc:
        raise MalformedProofError(f"{where} is not hex: {value!r}") from exc
