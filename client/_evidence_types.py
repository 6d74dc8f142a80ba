"""The views and events of the evidence contracts as frozen dataclasses, and log decoding.

Public through `client.evidence_chain`, which re-exports every name here. Ids and hashes are
32-byte `bytes`, addresses checksummed, transaction and block hashes 0x-hex strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_utils import to_checksum_address

__all__ = [
    "EVENT_BUILDERS",
    "AccessLogAnchored",
    "AwardRecorded",
    "BatchAnchor",
    "BatchAnchored",
    "CaseEvent",
    "CaseInfo",
    "CaseOpened",
    "CaseStatus",
    "EvidenceEvent",
    "ItemAnchor",
    "ItemAnchored",
    "ReaderKeyRegistered",
]


class CaseStatus(IntEnum):
    """Mirrors `IArbitrationCases.CaseStatus`."""

    NONE = 0
    OPEN = 1
    AWARDED = 2


@dataclass(frozen=True)
class ItemAnchor:
    """Where a single evidence item was anchored (`EvidenceRegistry.item`)."""

    item_hash: bytes
    block_number: int
    submitter: str


@dataclass(frozen=True)
class BatchAnchor:
    """A batch root's anchor (`EvidenceRegistry.batch`)."""

    batch_id: int
    size: int
    block_number: int
    submitter: str


@dataclass(frozen=True)
class CaseInfo:
    """`IArbitrationCases.CaseView`; all zeros (status NONE) for an unknown case."""

    case_id: int
    loan_id: int
    arbitrator: str
    opener: str
    opened_block: int
    opened_at: int
    frozen_head: bytes
    frozen_count: int
    status: CaseStatus
    award_hash: bytes
    access_log_head: bytes
    access_log_entries: int


@dataclass(frozen=True)
class ItemAnchored:
    """`EvidenceAnchored`: one item anchored on its own."""

    evidence_id: bytes
    loan_id: bytes
    kind: int
    item_hash: bytes
    prev: bytes
    sha256: bytes
    sm3: bytes
    ciphertext_sha256: bytes
    submitter: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class BatchAnchored:
    """`EvidenceBatchAnchored`: the root and size of a Merkle batch."""

    batch_id: int
    root: bytes
    size: int
    submitter: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class ReaderKeyRegistered:
    member: str
    key: bytes
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class CaseOpened:
    case_id: int
    loan_id: int
    arbitrator: str
    opener: str
    frozen_head: bytes
    frozen_count: int
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class AwardRecorded:
    case_id: int
    arbitrator: str
    award_hash: bytes
    signature: bytes
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class AccessLogAnchored:
    case_id: int
    log_head: bytes
    entries: int
    operator: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


EvidenceEvent = ItemAnchored | BatchAnchored | ReaderKeyRegistered
CaseEvent = CaseOpened | AwardRecorded | AccessLogAnchored


def _meta(log: Any) -> dict[str, Any]:
    return {"block_number": int(log["blockNumber"]), "block_hash": _hex(log["blockHash"]),
            "tx_hash": _hex(log["transactionHash"]), "log_index": int(log["logIndex"])}


def _hex(value: Any) -> str:
    return "0x" + (bytes(value).hex() if not isinstance(value, str) else value.removeprefix("0x"))


#: Builds the dataclass of a decoded log from its event name, its args and the raw log.
EVENT_BUILDERS: dict[str, Any] = {
    "EvidenceAnchored": lambda a, log: ItemAnchored(
        bytes(a["evidenceId"]), bytes(a["loanId"]), int(a["kind"]), bytes(a["itemHash"]),
        bytes(a["prev"]), bytes(a["sha256Hash"]), bytes(a["sm3Hash"]), bytes(a["ciphertextSha256"]),
        to_checksum_address(a["submitter"]), **_meta(log)),
    "EvidenceBatchAnchored": lambda a, log: BatchAnchored(
        int(a["batchId"]), bytes(a["root"]), int(a["size"]), to_checksum_address(a["submitter"]),
        **_meta(log)),
    "ReaderKeyRegistered": lambda a, log: ReaderKeyRegistered(
        to_checksum_address(a["member"]), bytes(a["key"]), **_meta(log)),
    "CaseOpened": lambda a, log: CaseOpened(
        int(a["caseId"]), int(a["loanId"]), to_checksum_address(a["arbitrator"]),
        to_checksum_address(a["opener"]), bytes(a["frozenHead"]), int(a["frozenCount"]), **_meta(log)),
    "AwardRecorded": lambda a, log: AwardRecorded(
        int(a["caseId"]), to_checksum_address(a["arbitrator"]), bytes(a["awardHash"]),
        bytes(a["signature"]), **_meta(log)),
    "AccessLogAnchored": lambda a, log: AccessLogAnchored(
        int(a["caseId"]), bytes(a["logHead"]), int(a["entries"]), to_checksum_address(a["operator"]),
        **_meta(log)),
}
