"""Typed API for the evidence contracts: EvidenceRegistry and ArbitrationCases.

The registry anchors evidence records (one item, or the root and size of a Merkle batch) and holds
members' X25519 reader keys; ArbitrationCases opens cases on defaulted loans, records the
arbitrator's EIP-712 signed award and anchors access-log heads. This module only speaks to the
chain: record encoding, Merkle trees and sealing live in `arbitration` (which may import `client`,
never the reverse). Hashes and ids are 32-byte `bytes`; transaction and block hashes are 0x-hex.
`events(from_block, to_block)` yields each contract's logs as frozen dataclasses in chain order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar, cast

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from client._evidence_types import (
    EVENT_BUILDERS,
    AccessLogAnchored,
    AwardRecorded,
    BatchAnchor,
    BatchAnchored,
    CaseEvent,
    CaseInfo,
    CaseOpened,
    CaseStatus,
    EvidenceEvent,
    ItemAnchor,
    ItemAnchored,
    ReaderKeyRegistered,
)
from client.contracts import bind, deploy
from client.errors import CoLedgerValueError
from client.tx import Call, TransactionPipeline

__all__ = [
    "AWARD_DOMAIN_NAME",
    "AWARD_DOMAIN_VERSION",
    "MAX_BATCH_SIZE",
    "MAX_EVIDENCE_KIND",
    "AccessLogAnchored",
    "ArbitrationCasesClient",
    "AwardRecorded",
    "BatchAnchor",
    "BatchAnchored",
    "CaseInfo",
    "CaseOpened",
    "CaseStatus",
    "CaseEvent",
    "EvidenceEvent",
    "EvidenceRegistryClient",
    "ItemAnchor",
    "ItemAnchored",
    "ReaderKeyRegistered",
    "award_digest",
    "deploy_arbitration_cases",
    "deploy_evidence_registry",
]

AWARD_DOMAIN_NAME = "coledger ArbitrationCases"
AWARD_DOMAIN_VERSION = "1"
MAX_BATCH_SIZE = 2**32
MAX_EVIDENCE_KIND = 8
_T = TypeVar("_T")
_LOG_RANGE = 2_000  # blocks per eth_getLogs request
_AWARD_TYPES = {
    "Award": [
        {"name": "caseId", "type": "uint256"},
        {"name": "loanId", "type": "uint64"},
        {"name": "awardHash", "type": "bytes32"},
    ]
}


def deploy_evidence_registry(pipeline: TransactionPipeline, consortium: str) -> str:
    """Deploy an EvidenceRegistry checking roles in `consortium`; returns its address."""
    return deploy(pipeline, "EvidenceRegistry", consortium)


def deploy_arbitration_cases(pipeline: TransactionPipeline, consortium: str, loan_ledger: str) -> str:
    """Deploy ArbitrationCases for `consortium` and `loan_ledger`; returns its address."""
    return deploy(pipeline, "ArbitrationCases", consortium, loan_ledger)


# -- EIP-712 award ----------------------------------------------------------------------------


def _award_typed(chain_id: int, contract: str, case_id: int, loan_id: int, award_hash: bytes
                 ) -> SignableMessage:
    domain = {"name": AWARD_DOMAIN_NAME, "version": AWARD_DOMAIN_VERSION, "chainId": chain_id,
              "verifyingContract": to_checksum_address(contract)}
    message = {"caseId": case_id, "loanId": loan_id, "awardHash": _hash32(award_hash, "award_hash")}
    return encode_typed_data(domain_data=domain, message_types=_AWARD_TYPES, message_data=message)


def award_digest(chain_id: int, contract: str, case_id: int, loan_id: int, award_hash: bytes) -> bytes:
    """The EIP-712 digest of `Award(caseId, loanId, awardHash)` (equals `awardDigest` on chain)."""
    signable = _award_typed(chain_id, contract, case_id, loan_id, award_hash)
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


# -- clients ----------------------------------------------------------------------------------


class _Client:
    _NAME = ""

    def __init__(self, w3: Web3, address: str, pipeline: TransactionPipeline | None = None) -> None:
        self.w3 = w3
        self.pipeline = pipeline
        self.contract: Contract = bind(w3, self._NAME, address)
        self.address: str = self.contract.address
        self._decoders = {bytes(HexBytes(e().topic)): e() for e in self._event_types()}

    def _event_types(self) -> list[Any]:
        raise NotImplementedError

    def _call(self, fn: str, *args: Any) -> Call:
        data = bytes.fromhex(self.contract.encode_abi(fn, args=list(args))[2:])
        return Call(to=self.address, data=data, label=f"{self._NAME}.{fn}")

    def _send(self, call: Call) -> TxReceipt:
        if self.pipeline is None:
            raise CoLedgerValueError(f"this {type(self).__name__} is read-only: give it a pipeline")
        return self.pipeline.transact(call)

    def _decode(self, log: Any) -> Any:
        topics = log["topics"]
        decoder = self._decoders.get(bytes(HexBytes(topics[0]))) if topics else None
        if decoder is None:
            return None
        event = decoder.process_log(log)
        return EVENT_BUILDERS[event["event"]](event["args"], log)

    def receipt_events(self, receipt: TxReceipt) -> list[Any]:
        """The typed events this contract emitted in `receipt`, in log order."""
        return [e for log in receipt["logs"]
                if Web3.to_checksum_address(log["address"]) == self.address
                and (e := self._decode(log)) is not None]

    def events(self, from_block: int = 0, to_block: int | None = None) -> Iterator[Any]:
        """This contract's events in blocks `from_block..to_block` (default: head), in chain order."""
        head = int(self.w3.eth.block_number) if to_block is None else to_block
        start = from_block
        while start <= head:
            end = min(head, start + _LOG_RANGE - 1)
            logs = self.w3.eth.get_logs({"address": cast(Any, self.address), "fromBlock": start,
                                         "toBlock": end})
            for log in sorted(logs, key=lambda lg: (int(lg["blockNumber"]), int(lg["logIndex"]))):
                event = self._decode(log)
                if event is not None:
                    yield event
            start = end + 1


class EvidenceRegistryClient(_Client):
    """EvidenceRegistry operations signed by one key (`pipeline`), or read-only."""

    _NAME = "EvidenceRegistry"

    def _event_types(self) -> list[Any]:
        e = self.contract.events
        return [e.EvidenceAnchored, e.EvidenceBatchAnchored, e.ReaderKeyRegistered]

    def anchor_item_call(self, evidence_id: bytes, loan_id32: bytes, kind: int, sha256: bytes,
                         sm3: bytes, ciphertext_sha256: bytes, prev: bytes) -> Call:
        """The `anchorItem` call (to batch with other calls or estimate)."""
        if not 0 <= int(kind) <= 255:
            raise CoLedgerValueError(f"evidence kind {kind} is not a uint8")
        return self._call(
            "anchorItem", _hash32(evidence_id, "evidence_id"), _hash32(loan_id32, "loan_id32"), int(kind),
            _hash32(sha256, "sha256"), _hash32(sm3, "sm3"),
            _hash32(ciphertext_sha256, "ciphertext_sha256"), _hash32(prev, "prev"),
        )

    def anchor_item(self, evidence_id: bytes, loan_id32: bytes, kind: int, sha256: bytes, sm3: bytes,
                    ciphertext_sha256: bytes, prev: bytes) -> TxReceipt:
        """Anchor one record; `item_anchored(receipt)` gives its `ItemAnchored` event."""
        return self._send(self.anchor_item_call(evidence_id, loan_id32, kind, sha256, sm3,
                                                ciphertext_sha256, prev))

    def anchor_batch_call(self, root: bytes, size: int) -> Call:
        if not 1 <= size <= MAX_BATCH_SIZE:
            raise CoLedgerValueError(f"batch size {size} is outside 1..2**32")
        return self._call("anchorBatch", _hash32(root, "root"), size)

    def anchor_batch(self, root: bytes, size: int) -> TxReceipt:
        """Anchor a Merkle batch root with its size; `batch_anchored(receipt)` gives the batch id."""
        return self._send(self.anchor_batch_call(root, size))

    def register_reader_key(self, pub32: bytes) -> TxReceipt:
        """Publish the caller's X25519 reader public key (32 raw bytes)."""
        return self._send(self._call("registerReaderKey", _hash32(pub32, "reader key")))

    def item_anchored(self, receipt: TxReceipt) -> ItemAnchored:
        """The `ItemAnchored` event of an `anchor_item` receipt."""
        return _one(self.receipt_events(receipt), ItemAnchored)

    def batch_anchored(self, receipt: TxReceipt) -> BatchAnchored:
        """The `BatchAnchored` event of an `anchor_batch` receipt."""
        return _one(self.receipt_events(receipt), BatchAnchored)

    def reader_key(self, address: str) -> bytes | None:
        key = bytes(self.contract.functions.readerKey(_address(address)).call())
        return None if key == bytes(32) else key

    def item(self, evidence_id: bytes) -> ItemAnchor | None:
        """The anchor of a singly anchored item, or None (batch items are not stored per item)."""
        item_hash, block, submitter = self.contract.functions.item(_hash32(evidence_id, "evidence_id")).call()
        if bytes(item_hash) == bytes(32):
            return None
        return ItemAnchor(bytes(item_hash), int(block), to_checksum_address(submitter))

    def batch(self, root: bytes) -> BatchAnchor | None:
        batch_id, size, block, submitter = self.contract.functions.batch(_hash32(root, "root")).call()
        if int(batch_id) == 0:
            return None
        return BatchAnchor(int(batch_id), int(size), int(block), to_checksum_address(submitter))

    def item_count(self) -> int:
        return int(self.contract.functions.itemCount().call())

    def batch_count(self) -> int:
        return int(self.contract.functions.batchCount().call())

    def events(self, from_block: int = 0, to_block: int | None = None) -> Iterator[EvidenceEvent]:
        """`ItemAnchored`, `BatchAnchored` and `ReaderKeyRegistered` events, in chain order."""
        return super().events(from_block, to_block)


class ArbitrationCasesClient(_Client):
    """ArbitrationCases operations signed by one key (`pipeline`), or read-only."""

    _NAME = "ArbitrationCases"

    def _event_types(self) -> list[Any]:
        e = self.contract.events
        return [e.CaseOpened, e.AwardRecorded, e.AccessLogAnchored]

    def open_case_call(self, loan_id: int, arbitrator: str, frozen_head: bytes, frozen_count: int) -> Call:
        return self._call("openCase", int(loan_id), _address(arbitrator),
                          _hash32(frozen_head, "frozen_head"), int(frozen_count))

    def open_case(self, loan_id: int, arbitrator: str, frozen_head: bytes, frozen_count: int) -> int:
        """Open a case on defaulted loan `loan_id`; returns the case id."""
        receipt = self._send(self.open_case_call(loan_id, arbitrator, frozen_head, frozen_count))
        return _one(self.receipt_events(receipt), CaseOpened).case_id

    def domain(self) -> dict[str, Any]:
        """The EIP-712 domain awards are signed in."""
        return {"name": AWARD_DOMAIN_NAME, "version": AWARD_DOMAIN_VERSION,
                "chainId": int(self.w3.eth.chain_id), "verifyingContract": self.address}

    def sign_award(self, account: LocalAccount, case_id: int, loan_id: int, award_hash: bytes) -> bytes:
        """The arbitrator's 65-byte EIP-712 signature of the award, made locally with its key."""
        signable = _award_typed(int(self.w3.eth.chain_id), self.address, case_id, loan_id, award_hash)
        return bytes(Account.sign_message(signable, account.key).signature)

    def record_award(self, case_id: int, award_hash: bytes, signature: bytes) -> TxReceipt:
        """Record the award (the pipeline must be the case's arbitrator)."""
        return self._send(self._call("recordAward", int(case_id), _hash32(award_hash, "award_hash"),
                                     bytes(signature)))

    def anchor_access_log(self, case_id: int, head: bytes, entries: int) -> TxReceipt:
        """Anchor an access-log head (operator); `case_id` 0 is for reads outside any case."""
        return self._send(self._call("anchorAccessLog", int(case_id), _hash32(head, "head"), int(entries)))

    def case(self, case_id: int) -> CaseInfo:
        v = self.contract.functions.caseInfo(int(case_id)).call()
        return CaseInfo(
            int(case_id), int(v[0]), to_checksum_address(v[1]), to_checksum_address(v[2]), int(v[3]),
            int(v[4]), bytes(v[5]), int(v[6]), CaseStatus(int(v[7])), bytes(v[8]), bytes(v[9]), int(v[10]),
        )

    def case_of_loan(self, loan_id: int) -> int:
        """The latest case opened on `loan_id`, or 0."""
        return int(self.contract.functions.caseOfLoan(int(loan_id)).call())

    def case_count(self) -> int:
        return int(self.contract.functions.caseCount().call())

    def award_digest(self, case_id: int, loan_id: int, award_hash: bytes) -> bytes:
        """The digest as the contract computes it (`awardDigest`)."""
        return bytes(self.contract.functions.awardDigest(
            int(case_id), int(loan_id), _hash32(award_hash, "award_hash")).call())

    def domain_separator(self) -> bytes:
        return bytes(self.contract.functions.domainSeparator().call())

    def events(self, from_block: int = 0, to_block: int | None = None) -> Iterator[CaseEvent]:
        """`CaseOpened`, `AwardRecorded` and `AccessLogAnchored` events, in chain order."""
        return super().events(from_block, to_block)


# -- helpers ----------------------------------------------------------------------------------


def _one(events: list[Any], kind: type[_T]) -> _T:
    found = [e for e in events if isinstance(e, kind)]
    if len(found) != 1:
        raise CoLedgerValueError(f"expected one {kind.__name__} event in the receipt, found {len(found)}")
    return found[0]


def _hash32(value: bytes, name: str = "value") -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise CoLedgerValueError(f"{name} must be 32 bytes, got {value!r}")
    return bytes(value)


def _address(value: str) -> str:
    if not is_address(value):
        raise CoLedgerValueError(f"not an address: {value!r}")
    return str(to_checksum_address(value))

