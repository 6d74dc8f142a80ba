"""Domain replay of the evidence contracts (EvidenceRegistry, ArbitrationCases) from their events.

:class:`EvidenceLedger` rebuilds, from the events alone, every singly anchored evidence item
(with its item hash recomputed here with hashlib: SHA-256(0x00 || record), the RFC 6962 leaf hash
of the 194-byte record), every Merkle batch (root, size, submitter, block), the reader keys, and
every arbitration case (loan, opener, arbitrator, frozen head and count, award hash and signature,
access-log anchors). :class:`~client.audit.domain.Ledger` feeds it its events; the views
comparison (:mod:`client.audit.views_evidence`) and the invariants
(:mod:`client.audit.invariants_evidence`) read it.

Per-loan hash chains, as the auditor sees them. A batch commits only to a root and a size: its
items (and their loans) live off chain. So each singly anchored item's ``prev`` is classified
against what the chain shows at the moment it is anchored ("head" = the item hash of the loan's
last singly anchored item, GENESIS = 32 zero bytes for a loan without one):

- ``genesis``: prev is GENESIS and the loan has no earlier single item;
- ``linked``: prev is the loan's head;
- ``via-batch`` (unverifiable on chain, not a violation): prev is no anchored single item hash,
  but a batch was anchored after the loan's head (after any position if the loan has no single
  item yet), so prev may be a leaf of it; also a size-1 batch root, which *is* its leaf's hash;
- ``broken``: anything else: prev restarts at GENESIS after the loan has items, is an earlier
  (not the last) item of the loan (a fork), is an item of another loan, is the root of a batch
  of more than one item (an interior node, never an item hash), or matches nothing while no batch
  was anchored since the loan's head.

Frozen sets are checked the same way when a case opens (``CaseState.frozen_problem``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from client.audit.events import Event

__all__ = [
    "AWARD_DOMAIN_NAME", "AWARD_DOMAIN_VERSION", "CASE_AWARDED", "CASE_OPEN", "GENESIS", "KIND_NAMES",
    "AccessAnchor", "BatchState", "CaseState", "EvidenceItem", "EvidenceLedger", "LoanChain",
    "award_signer", "domain_separator", "item_hash", "loan_number", "record_bytes",
]

GENESIS = bytes(32)
RECORD_VERSION = 1
MAX_KIND = 8
MAX_BATCH_SIZE = 2**32
KIND_NAMES = ("loan agreement", "disbursement receipt", "repayment schedule", "repayment record",
              "overdue notice", "collection log", "fund-flow trace", "verification record", "other")
CASE_OPEN, CASE_AWARDED = 1, 2
AWARD_DOMAIN_NAME = "coledger ArbitrationCases"
AWARD_DOMAIN_VERSION = "1"
_AWARD_TYPES = {"Award": [{"name": "caseId", "type": "uint256"}, {"name": "loanId", "type": "uint64"},
                          {"name": "awardHash", "type": "bytes32"}]}
_DOMAIN_TYPEHASH = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
_SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


# ---------------------------------------------------------------- pure helpers


def record_bytes(evidence_id: bytes, loan: bytes, kind: int, sha256: bytes, sm3: bytes,
                 ciphertext_sha256: bytes, prev: bytes) -> bytes:
    """The 194-byte evidence record: version 1 || id || loan || kind || sha256 || sm3 || ct || prev."""
    return (bytes([RECORD_VERSION]) + evidence_id + loan + bytes([kind & 0xFF]) + sha256 + sm3
            + ciphertext_sha256 + prev)


def item_hash(evidence_id: bytes, loan: bytes, kind: int, sha256: bytes, sm3: bytes,
              ciphertext_sha256: bytes, prev: bytes) -> bytes:
    """SHA-256(0x00 || record): the RFC 6962 leaf hash, the item hash the registry anchors."""
    record = record_bytes(evidence_id, loan, kind, sha256, sm3, ciphertext_sha256, prev)
    return hashlib.sha256(b"\x00" + record).digest()


def loan_number(loan: bytes) -> int | None:
    """The LoanLedger id (uint64) a 32-byte evidence loan id stands for, or None if it is none."""
    n = int.from_bytes(loan, "big")
    return n if 0 < n < 1 << 64 else None


def domain_separator(chain_id: int, contract: str) -> bytes:
    """The EIP-712 domain separator of ArbitrationCases at `contract` on `chain_id`."""
    return keccak(abi_encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "address"],
        [_DOMAIN_TYPEHASH, keccak(text=AWARD_DOMAIN_NAME), keccak(text=AWARD_DOMAIN_VERSION), chain_id,
         to_checksum_address(contract)]))


def award_signer(chain_id: int, contract: str, case_id: int, loan_id: int, award_hash: bytes,
                 signature: bytes) -> tuple[str | None, str]:
    """(lower-case signer address, "") of an EIP-712 `Award(caseId, loanId, awardHash)` signature,
    or (None, why not): the signature must be 65 bytes, low-s and v 27/28 (as OpenZeppelin's
    ECDSA.tryRecover demands)."""
    if len(signature) != 65:
        return None, f"signature is {len(signature)} bytes, not 65"
    if int.from_bytes(signature[32:64], "big") > _SECP256K1_HALF_N:
        return None, "signature has a high s (malleable)"
    if signature[64] not in (27, 28):
        return None, f"signature v is {signature[64]}, not 27 or 28"
    signable = encode_typed_data(
        domain_data={"name": AWARD_DOMAIN_NAME, "version": AWARD_DOMAIN_VERSION, "chainId": chain_id,
                     "verifyingContract": to_checksum_address(contract)},
        message_types=_AWARD_TYPES,
        message_data={"caseId": case_id, "loanId": loan_id, "awardHash": award_hash})
    try:
        return str(Account.recover_message(signable, signature=signature)).lower(), ""
    except Exception as exc:  # noqa: BLE001 - any failure to recover is a bad signature
        return None, f"signature does not recover: {exc}"


# ---------------------------------------------------------------- state


@dataclass
class EvidenceItem:
    """One singly anchored item, as the EvidenceAnchored event tells it."""

    evidence_id: bytes
    loan: bytes
    kind: int
    item_hash: bytes  # recomputed from the record fields
    reported_hash: bytes  # the event's itemHash
    prev: bytes
    sha256: bytes
    sm3: bytes
    ciphertext_sha256: bytes
    submitter: str
    block: int
    timestamp: int
    tx_hash: str
    log_index: int
    position: int = 0  # index among the loan's singly anchored items
    link: str = ""  # genesis | linked | via-batch | broken
    link_note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "evidence_id": self.evidence_id, "loan": self.loan, "loan_id": loan_number(self.loan),
            "kind": self.kind, "item_hash": self.item_hash, "reported_hash": self.reported_hash,
            "prev": self.prev, "sha256": self.sha256, "sm3": self.sm3,
            "ciphertext_sha256": self.ciphertext_sha256, "submitter": self.submitter, "block": self.block,
            "timestamp": self.timestamp, "tx": self.tx_hash, "position": self.position, "link": self.link,
            "link_note": self.link_note}


@dataclass
class BatchState:
    batch_id: int
    root: bytes
    size: int
    submitter: str
    block: int
    timestamp: int
    tx_hash: str
    log_index: int

    def as_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "root": self.root, "size": self.size, "submitter": self.submitter,
                "block": self.block, "timestamp": self.timestamp, "tx": self.tx_hash}


@dataclass
class LoanChain:
    """A loan's singly anchored items in anchoring order (evidence ids) and its head."""

    loan: bytes
    items: list[bytes] = field(default_factory=list)
    head: bytes = GENESIS
    head_position: tuple[int, int] = (-1, -1)  # (block, log index) of the head item
    links: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AccessAnchor:
    block: int
    timestamp: int
    head: bytes
    entries: int
    operator: str
    tx_hash: str


@dataclass
class CaseState:
    case_id: int
    loan_id: int
    arbitrator: str
    opener: str
    frozen_head: bytes
    frozen_count: int
    opened_block: int
    opened_at: int
    tx_hash: str
    singles_at_open: int = 0  # singly anchored items of the loan when the case opened
    frozen_status: str = ""  # empty | on chain | via batch | inconsistent
    frozen_problem: str = ""
    status: int = CASE_OPEN
    award_hash: bytes = GENESIS
    award_signature: bytes = b""
    award_block: int | None = None
    award_signer: str | None = None  # recovered from the signature (when the chain id is known)

    def as_dict(self, ledger: EvidenceLedger) -> dict[str, Any]:
        logs = ledger.access_logs.get(self.case_id, [])
        return {
            "case_id": self.case_id, "loan_id": self.loan_id, "arbitrator": self.arbitrator,
            "opener": self.opener, "opened_block": self.opened_block, "opened_at": self.opened_at,
            "tx": self.tx_hash, "frozen_head": self.frozen_head, "frozen_count": self.frozen_count,
            "frozen_status": self.frozen_status, "frozen_problem": self.frozen_problem,
            "singles_at_open": self.singles_at_open, "later_items": ledger.later_items(self),
            "status": {CASE_OPEN: "open", CASE_AWARDED: "awarded"}.get(self.status, str(self.status)),
            "award_hash": self.award_hash if self.status == CASE_AWARDED else None,
            "award_signature": self.award_signature or None, "award_block": self.award_block,
            "award_signer": self.award_signer,
            "access_log": [{"block": a.block, "timestamp": a.timestamp, "head": a.head, "entries": a.entries,
                            "operator": a.operator, "tx": a.tx_hash} for a in logs],
        }


class EvidenceLedger:
    """Event-sourced state of EvidenceRegistry and ArbitrationCases; fed by ``Ledger.apply``."""

    def __init__(self, arbitration_cases: str = "") -> None:
        self.arbitration_cases = arbitration_cases.lower()
        self.chain_id: int | None = None  # set by whoever knows it (the checker); for award signers
        self.items: dict[bytes, EvidenceItem] = {}  # evidence id -> item, in anchoring order
        self.by_hash: dict[bytes, bytes] = {}  # recomputed item hash -> evidence id
        self.batches: dict[int, BatchState] = {}
        self.batch_of_root: dict[bytes, int] = {}
        self.last_batch: tuple[int, int] = (-1, -1)  # (block, log index) of the latest batch
        self.batched_items = 0
        self.chains: dict[bytes, LoanChain] = {}
        self.reader_keys: dict[str, tuple[bytes, int]] = {}  # member -> (key, block)
        self.reader_key_events = 0
        self.cases: dict[int, CaseState] = {}
        self.case_of_loan: dict[int, int] = {}
        self.access_logs: dict[int, list[AccessAnchor]] = {}
        # cumulative (block, timestamp, single items, batches, batched items) at each anchoring block
        self.timeline: list[tuple[int, int, int, int, int]] = []

    def handlers(self) -> dict[str, Callable[[Event], None]]:
        return {"EvidenceAnchored": self._on_item, "EvidenceBatchAnchored": self._on_batch,
                "ReaderKeyRegistered": self._on_reader_key, "CaseOpened": self._on_case_opened,
                "AwardRecorded": self._on_award, "AccessLogAnchored": self._on_access_log}

    @property
    def active(self) -> bool:
        return bool(self.items or self.batches or self.cases or self.reader_keys or self.access_logs)

    # ---------------------------------------------------------------- registry

    def _tick(self, e: Event) -> None:
        row = (e.block, e.timestamp, len(self.items), len(self.batches), self.batched_items)
        if self.timeline and self.timeline[-1][0] == e.block:
            self.timeline[-1] = row
        else:
            self.timeline.append(row)

    def classify(self, loan: bytes, prev: bytes) -> tuple[str, str]:
        """How `prev` links a new single item of `loan` to what is anchored now (see the module doc)."""
        chain = self.chains.get(loan)
        head = chain.head if chain else GENESIS
        n = len(chain.items) if chain else 0
        if prev == head:
            return ("genesis", "") if n == 0 else ("linked", "")
        if prev == GENESIS:
            return "broken", f"restarts at GENESIS after {n} items of the loan (head 0x{head.hex()})"
        since = chain.head_position if chain else (-1, -1)
        earlier = self.by_hash.get(prev)
        if earlier is not None:
            other = self.items[earlier]
            if other.loan != loan:
                return "broken", (f"prev is item 0x{earlier.hex()} of loan {_loan_text(other.loan)}, "
                                  f"not of this loan")
            return "broken", (f"fork: prev is item #{other.position} of the loan, whose head is "
                              f"item #{n - 1}")
        batch_id = self.batch_of_root.get(prev)
        if batch_id is not None:
            b = self.batches[batch_id]
            if b.size != 1:
                return "broken", f"prev is the root of batch {batch_id} of {b.size} items, not an item hash"
            if (b.block, b.log_index) > since:
                return "via-batch", f"prev is the single leaf of batch {batch_id}"
            return "broken", f"prev is the single leaf of batch {batch_id}, anchored before the loan's head"
        if self.last_batch > since:
            return "via-batch", "prev is no single item; a batch anchored since the loan's head may hold it"
        return "broken", ("prev matches no anchored item and no batch was anchored since the loan's "
                          + ("head" if n else "first block"))

    def _on_item(self, e: Event) -> None:
        a = e.args
        eid, loan = a["evidenceId"], a["loanId"]
        recomputed = item_hash(eid, loan, a["kind"], a["sha256Hash"], a["sm3Hash"], a["ciphertextSha256"],
                               a["prev"])
        link, note = self.classify(loan, a["prev"])
        chain = self.chains.get(loan)
        if chain is None:
            chain = self.chains[loan] = LoanChain(loan)
        it = EvidenceItem(eid, loan, a["kind"], recomputed, a["itemHash"], a["prev"], a["sha256Hash"],
                          a["sm3Hash"], a["ciphertextSha256"], str(a["submitter"]).lower(), e.block, e.timestamp,
                          e.tx_hash, e.log_index, len(chain.items), link, note)
        chain.items.append(eid)
        chain.head, chain.head_position = recomputed, e.position
        chain.links[link] = chain.links.get(link, 0) + 1
        self.items.setdefault(eid, it)
        self.by_hash.setdefault(recomputed, eid)
        self._tick(e)

    def _on_batch(self, e: Event) -> None:
        a = e.args
        b = BatchState(a["batchId"], a["root"], a["size"], str(a["submitter"]).lower(), e.block, e.timestamp,
                       e.tx_hash, e.log_index)
        self.batches.setdefault(b.batch_id, b)
        self.batch_of_root.setdefault(b.root, b.batch_id)
        self.last_batch = e.position
        self.batched_items += b.size
        self._tick(e)

    def _on_reader_key(self, e: Event) -> None:
        self.reader_keys[str(e.args["member"]).lower()] = (e.args["key"], e.block)
        self.reader_key_events += 1

    # ---------------------------------------------------------------- cases

    def frozen_check(self, loan_id: int, head: bytes, count: int) -> tuple[str, str]:
        """(status, problem) of a frozen set (head, count) of loan `loan_id` against what is anchored."""
        loan = loan_id.to_bytes(32, "big")
        chain = self.chains.get(loan)
        n = len(chain.items) if chain else 0
        since = chain.head_position if chain else (-1, -1)
        if head == GENESIS:
            if count != 0:
                return "inconsistent", f"no frozen head but a frozen count of {count}"
            if n:
                return "inconsistent", f"empty frozen set, but {n} items of the loan were anchored"
            return "empty", ""
        eid = self.by_hash.get(head)
        if eid is not None:
            it = self.items[eid]
            if it.loan != loan:
                return "inconsistent", f"frozen head is an item of loan {_loan_text(it.loan)}"
            if chain is not None and head != chain.head:
                return "inconsistent", (f"frozen head is item #{it.position} of the loan, but item #{n - 1} "
                                        f"was anchored after it, before the case opened")
            if count < it.position + 1:
                return "inconsistent", f"frozen count {count} < the {it.position + 1} items up to the head"
            if count > it.position + 1 and self.last_batch == (-1, -1):
                return "inconsistent", (f"frozen count {count} > the {it.position + 1} items up to the "
                                        f"head, and no batch could hold the others")
            return "on chain", ""
        if count < n:
            return "inconsistent", f"frozen count {count} < the {n} single items of the loan"
        if head in self.batch_of_root and self.batches[self.batch_of_root[head]].size != 1:
            return "inconsistent", "frozen head is the root of a batch of several items, not an item hash"
        if self.last_batch > since:
            return "via batch", ""
        return "inconsistent", "frozen head matches no anchored item and no batch was anchored since the loan's head"

    def _on_case_opened(self, e: Event) -> None:
        a = e.args
        loan = a["loanId"]
        status, problem = self.frozen_check(loan, a["frozenHead"], a["frozenCount"])
        chain = self.chains.get(loan.to_bytes(32, "big"))
        c = CaseState(a["caseId"], loan, str(a["arbitrator"]).lower(), str(a["opener"]).lower(), a["frozenHead"],
                      a["frozenCount"], e.block, e.timestamp, e.tx_hash, len(chain.items) if chain else 0,
                      status, problem)
        self.cases.setdefault(c.case_id, c)
        self.case_of_loan[loan] = c.case_id

    def _on_award(self, e: Event) -> None:
        c = self.cases.get(e.args["caseId"])
        if c is None:
            return
        c.status, c.award_hash, c.award_signature = CASE_AWARDED, e.args["awardHash"], e.args["signature"]
        c.award_block = e.block
        if self.chain_id is not None and self.arbitration_cases:
            c.award_signer = award_signer(self.chain_id, self.arbitration_cases, c.case_id, c.loan_id,
                                          c.award_hash, c.award_signature)[0]

    def _on_access_log(self, e: Event) -> None:
        a = e.args
        self.access_logs.setdefault(a["caseId"], []).append(AccessAnchor(
            e.block, e.timestamp, a["logHead"], a["entries"], str(a["operator"]).lower(), e.tx_hash))

    # ---------------------------------------------------------------- reading

    def later_items(self, case: CaseState) -> int:
        """Single items of the case's loan anchored in blocks after the opening block."""
        chain = self.chains.get(case.loan_id.to_bytes(32, "big"))
        if chain is None:
            return 0
        return sum(1 for eid in chain.items if self.items[eid].block > case.opened_block)

    def summary(self) -> dict[str, Any]:
        links: dict[str, int] = {}
        for chain in self.chains.values():
            for k, v in chain.links.items():
                links[k] = links.get(k, 0) + v
        return {
            "items": len(self.items), "batches": len(self.batches), "batched_items": self.batched_items,
            "loans_with_items": len(self.chains), "links": links, "reader_keys": len(self.reader_keys),
            "cases": len(self.cases), "awarded": sum(1 for c in self.cases.values() if c.status == CASE_AWARDED),
            "access_log_anchors": sum(len(v) for v in self.access_logs.values()),
        }


def _loan_text(loan: bytes) -> str:
    n = loan_number(loan)
    return str(n) if n is not None else "0x" + loan.hex()
