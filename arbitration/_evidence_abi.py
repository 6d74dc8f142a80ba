"""Events of EvidenceRegistry and ArbitrationCases, decoded by hand from raw JSON-RPC logs (private).

Why by hand and not from the artifacts: the offline chain check (``arbitration.chain_check``)
must stay small and must not need the compiled contracts, and the index reads these few fixed
events on its hot path. The signatures are the ones ``IEvidenceRegistry`` / ``IArbitrationCases``
declare (a test compares them with the compiled ABIs). Also here: the EIP-712 typed data of an
award, shared by ``arbitration.proofs`` (which writes it into ``case.json``) and the checker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

EVIDENCE_ANCHORED_SIG = (
    "EvidenceAnchored(bytes32,bytes32,uint8,bytes32,bytes32,bytes32,bytes32,bytes32,address)"
)
BATCH_ANCHORED_SIG = "EvidenceBatchAnchored(uint256,bytes32,uint64,address)"
READER_KEY_SIG = "ReaderKeyRegistered(address,bytes32)"
CASE_OPENED_SIG = "CaseOpened(uint256,uint64,address,address,bytes32,uint32)"
AWARD_RECORDED_SIG = "AwardRecorded(uint256,address,bytes32,bytes)"
ACCESS_LOG_SIG = "AccessLogAnchored(uint256,bytes32,uint64,address)"

EVIDENCE_ANCHORED = keccak(text=EVIDENCE_ANCHORED_SIG)
BATCH_ANCHORED = keccak(text=BATCH_ANCHORED_SIG)
READER_KEY = keccak(text=READER_KEY_SIG)
CASE_OPENED = keccak(text=CASE_OPENED_SIG)
AWARD_RECORDED = keccak(text=AWARD_RECORDED_SIG)
ACCESS_LOG = keccak(text=ACCESS_LOG_SIG)

AWARD_DOMAIN_NAME = "coledger ArbitrationCases"
AWARD_DOMAIN_VERSION = "1"
AWARD_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Award": [
        {"name": "caseId", "type": "uint256"},
        {"name": "loanId", "type": "uint64"},
        {"name": "awardHash", "type": "bytes32"},
    ],
}


def award_typed_data(
    chain_id: int, cases_contract: str, case_id: int, loan_id: int, award_hash: bytes
) -> dict[str, Any]:
    """The full EIP-712 message an arbitrator signs for an award (eth-account ``full_message`` form)."""
    return {
        "types": AWARD_TYPES,
        "primaryType": "Award",
        "domain": {
            "name": AWARD_DOMAIN_NAME,
            "version": AWARD_DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(cases_contract),
        },
        "message": {"caseId": case_id, "loanId": loan_id, "awardHash": "0x" + award_hash.hex()},
    }


# --- raw logs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogPosition:
    address: bytes  # 20 bytes
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int


def hexint(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(str(value), 16)


def hexbytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    text = str(value)
    return bytes.fromhex(text[2:] if text.startswith("0x") else text)


def position(log: dict[str, Any]) -> LogPosition:
    return LogPosition(
        hexbytes(log["address"]), hexint(log["blockNumber"]), hexbytes(log["blockHash"]),
        hexbytes(log["transactionHash"]), hexint(log["logIndex"]),
    )


def topics(log: dict[str, Any]) -> list[bytes]:
    return [hexbytes(t) for t in log.get("topics") or []]


def words(data: bytes) -> list[bytes]:
    return [data[i : i + 32] for i in range(0, len(data), 32)]


def address_of(word: bytes) -> bytes:
    return word[12:]


@dataclass(frozen=True, slots=True)
class ItemAnchoredLog:
    evidence_id: bytes
    loan_id: bytes
    kind: int
    item_hash: bytes
    prev: bytes
    sha256: bytes
    sm3: bytes
    ciphertext_sha256: bytes
    submitter: bytes


@dataclass(frozen=True, slots=True)
class BatchAnchoredLog:
    batch_id: int
    root: bytes
    size: int
    submitter: bytes


@dataclass(frozen=True, slots=True)
class CaseOpenedLog:
    case_id: int
    loan_id: int
    arbitrator: bytes
    opener: bytes
    frozen_head: bytes
    frozen_count: int


@dataclass(frozen=True, slots=True)
class AwardRecordedLog:
    case_id: int
    arbitrator: bytes
    award_hash: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class AccessLogAnchoredLog:
    case_id: int
    log_head: bytes
    entries: int
    operator: bytes


EvidenceLog = ItemAnchoredLog | BatchAnchoredLog | CaseOpenedLog | AwardRecordedLog | AccessLogAnchoredLog


def decode(log: dict[str, Any]) -> EvidenceLog | None:
    """The evidence or case event of a raw log, ``None`` for any other (or malformed) log."""
    t = topics(log)
    if not t:
        return None
    data = hexbytes(log.get("data", "0x"))
    w = words(data)
    try:
        if t[0] == EVIDENCE_ANCHORED and len(t) == 4 and len(w) == 6:
            return ItemAnchoredLog(t[1], t[2], int.from_bytes(w[0], "big"), w[1], w[2], w[3], w[4], w[5],
                                   address_of(t[3]))
        if t[0] == BATCH_ANCHORED and len(t) == 4 and len(w) == 1:
            return BatchAnchoredLog(int.from_bytes(t[1], "big"), t[2], int.from_bytes(w[0], "big"),
                                    address_of(t[3]))
        if t[0] == CASE_OPENED and len(t) == 4 and len(w) == 3:
            return CaseOpenedLog(int.from_bytes(t[1], "big"), int.from_bytes(t[2], "big"), address_of(t[3]),
                                 address_of(w[0]), w[1], int.from_bytes(w[2], "big"))
        if t[0] == AWARD_RECORDED and len(t) == 3:
            award_hash, signature = abi_decode(["bytes32", "bytes"], data)
            return AwardRecordedLog(int.from_bytes(t[1], "big"), address_of(t[2]), bytes(award_hash),
                                    bytes(signature))
        if t[0] == ACCESS_LOG and len(t) == 3 and len(w) == 2:
            return AccessLogAnchoredLog(int.from_bytes(t[1], "big"), w[0], int.from_bytes(w[1], "big"),
                                        address_of(t[2]))
    except Exception:  # noqa: BLE001 - a malformed log of a foreign contract is not ours
        return None
    return None
