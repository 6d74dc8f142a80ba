"""Typed API for co-lending: products, credit lines, split drawdowns, repayment, delinquency.

One `LendingClient` per institution key. The lead bank defines products (within governance
limits), opens credit lines for pseudonymous borrowers, proposes drawdowns and disburses them
with the partners' EIP-712 commitments; partners sign commitments locally (or commit by their
own transaction); the lead bank records repayments and collection steps; anyone reads.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from client.commitments import Commitment, sign_commitment
from client.contracts import bind
from client.errors import CoLedgerValueError
from client.lending_math import Category
from client.products import ProductTerms
from client.suite import LendingAddresses
from client.tx import Call, TransactionPipeline

__all__ = [
    "Category",
    "CollectionStep",
    "DrawdownInfo",
    "LenderPosition",
    "LendingClient",
    "LineInfo",
    "LoanInfo",
    "LoanStatus",
    "Repayment",
]

_MAX_U64 = 2**64 - 1


class LoanStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    CLOSED = 2
    DEFAULTED = 3


class CollectionStep(IntEnum):
    NONE = 0
    REMINDER = 1
    AUTOMATED_COLLECTION = 2
    OUTSOURCED_RECOVERY = 3
    ARBITRATION = 4


@dataclass(frozen=True)
class LineInfo:
    line_id: int
    product_id: int
    borrower: bytes
    limit: int
    used: int
    score_band: int
    model_hash: bytes
    open: bool


@dataclass(frozen=True)
class DrawdownInfo:
    drawdown_id: int
    line_id: int
    amount: int
    installments: int
    parts: tuple[tuple[int, int], ...]  # (member id, amount), lead first
    receipt: TxReceipt | None = None


@dataclass(frozen=True)
class Repayment:
    loan_id: int
    amount: int
    to_penalty: int
    to_interest: int
    to_principal: int
    lender_credits: tuple[tuple[int, int, int, int], ...]  # (member, principal, interest, penalty)
    receipt: TxReceipt


@dataclass(frozen=True)
class LenderPosition:
    member_id: int
    principal_lent: int
    principal_outstanding: int
    interest_received: int
    penalty_received: int


@dataclass(frozen=True)
class LoanInfo:
    loan_id: int
    fields: Mapping[str, Any]
    lenders: tuple[LenderPosition, ...]

    @property
    def status(self) -> LoanStatus:
        return LoanStatus(int(self.fields["status"]))

    @property
    def category(self) -> Category:
        return Category(int(self.fields["category"]))

    @property
    def outstanding_principal(self) -> int:
        return int(self.fields["principal"]) - int(self.fields["paidPrincipal"])


def _amount(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CoLedgerValueError(f"{what} must be an integer amount in fen, got {value!r}")
    if not 0 < value <= _MAX_U64:
        raise CoLedgerValueError(f"{what} {value} fen is outside 1..2^64-1")
    return value


class LendingClient:
    """Co-lending operations signed by one institution's key (`pipeline`), or read-only."""

    def __init__(self, w3: Web3, addresses: LendingAddresses,
                 pipeline: TransactionPipeline | None = None) -> None:
        self.w3 = w3
        self.addresses = addresses
        self.pipeline = pipeline
        self.catalog: Contract = bind(w3, "ProductCatalog", addresses.ProductCatalog)
        self.lines: Contract = bind(w3, "CreditLines", addresses.CreditLines)
        self.ledger: Contract = bind(w3, "LoanLedger", addresses.LoanLedger)

    # -- plumbing ----------------------------------------------------------------------------

    def _send(self, contract: Contract, fn: str, args: Sequence[Any]) -> TxReceipt:
        if self.pipeline is None:
            raise CoLedgerValueError("this LendingClient is read-only: give it a pipeline")
        data = contract.encode_abi(fn, args=list(args))
        call = Call(to=contract.address, data=bytes.fromhex(data[2:]), label=f"{fn}")
        return self.pipeline.transact(call)

    def call_data(self, contract: Contract, fn: str, args: Sequence[Any]) -> bytes:
        """Calldata for a governed call (`ConsortiumClient.propose_call(target, data)`)."""
        return bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:])

    @staticmethod
    def _event(contract: Contract, name: str, receipt: TxReceipt) -> list[Any]:
        return list(getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD))

    # -- products ----------------------------------------------------------------------------

    def define_product(self, terms: ProductTerms) -> int:
        """Define a product as its lead bank (within the limits governance set)."""
        receipt = self._send(self.catalog, "defineProduct", [terms.as_abi()])
        return int(self._event(self.catalog, "ProductDefined", receipt)[0]["args"]["productId"])

    def define_product_call(self, terms: ProductTerms) -> bytes:
        """Calldata to define `terms` by governance (any terms within the hard bounds)."""
        return self.call_data(self.catalog, "defineProduct", [terms.as_abi()])

    def product(self, product_id: int) -> tuple[ProductTerms, bool]:
        terms, active = self.catalog.functions.product(product_id).call()
        return ProductTerms.from_abi(terms), bool(active)

    def product_count(self) -> int:
        return int(self.catalog.functions.productCount().call())

    # -- credit lines ------------------------------------------------------------------------

    def open_line(self, product_id: int, borrower: bytes, limit: int, score_band: int,
                  model_hash: bytes) -> int:
        if len(borrower) != 32 or borrower == bytes(32):
            raise CoLedgerValueError("borrower must be a 32-byte pseudonymous id (see client.borrower)")
        if len(model_hash) != 32:
            raise CoLedgerValueError("model hash must be 32 bytes (hash of the decision model version)")
        if not 0 <= score_band <= 255:
            raise CoLedgerValueError(f"score band {score_band} is outside 0..255")
        receipt = self._send(self.lines, "openLine",
                             [product_id, borrower, _amount(limit, "limit"), score_band, model_hash])
        return int(self._event(self.lines, "LineOpened", receipt)[0]["args"]["lineId"])

    def borrower_exposure(self, borrower: bytes) -> int:
        return int(self.lines.functions.borrowerExposure(borrower).call())

    # -- drawdowns ---------------------------------------------------------------------------

    def propose_drawdown(self, line_id: int, amount: int, installments: int) -> DrawdownInfo:
        if not 1 <= installments <= 60:
            raise CoLedgerValueError(f"installments {installments} is outside 1..60")
        receipt = self._send(self.lines, "proposeDrawdown",
                             [line_id, _amount(amount, "drawdown amount"), installments])
        args = self._event(self.lines, "DrawdownProposed", receipt)[0]["args"]
        parts = tuple((int(p["memberId"]), int(p["amount"])) for p in args["parts"])
        return DrawdownInfo(int(args["drawdownId"]), line_id, amount, installments, parts, receipt)

    def drawdown(self, drawdown_id: int) -> DrawdownInfo:
        line_id, amount, installments, _state, _deadline, _rate, _surcharge, parts, _committed = (
            self.lines.functions.drawdown(drawdown_id).call()
        )
        return DrawdownInfo(drawdown_id, int(line_id), int(amount), int(installments),
                            tuple((int(m), int(a)) for m, a in parts))

    def line(self, line_id: int) -> LineInfo:
        borrower, product, _lead, limit, used, band, closed, model = (
            self.lines.functions.line(line_id).call()
        )
        return LineInfo(line_id, int(product), bytes(borrower), int(limit), int(used), int(band),
                        bytes(model), not closed)

    def sign_commitment(self, partner: LocalAccount, drawdown: DrawdownInfo, partner_id: int,
                        valid_for: int = 3_600) -> Commitment:
        """The partner side: sign this partner's exact share of `drawdown` locally."""
        share = dict(drawdown.parts).get(partner_id)
        if share is None:
            raise CoLedgerValueError(f"member {partner_id} has no share in drawdown {drawdown.drawdown_id}")
        deadline = int(time.time()) + valid_for
        head = int(self.w3.eth.get_block("latest")["timestamp"])
        deadline = max(deadline, head + valid_for)
        return sign_commitment(partner, int(self.w3.eth.chain_id), self.lines.address,
                               drawdown.drawdown_id, partner_id, share, deadline)

    def commit(self, drawdown_id: int) -> TxReceipt:
        """The partner side, by its own transaction instead of a signature."""
        return self._send(self.lines, "commit", [drawdown_id])

    def disburse(self, drawdown: DrawdownInfo, partner_ids: Sequence[int],
                 commitments: Mapping[int, Commitment]) -> TxReceipt:
        """Disburse with one entry per product partner, in product order (empty = committed by tx)."""
        deadlines = [commitments[p].deadline if p in commitments else 0 for p in partner_ids]
        signatures = [commitments[p].signature if p in commitments else b"" for p in partner_ids]
        return self._send(self.lines, "disburse", [drawdown.drawdown_id, deadlines, signatures])

    # -- servicing ---------------------------------------------------------------------------

    def repay(self, loan_id: int, amount: int) -> Repayment:
        receipt = self._send(self.ledger, "repay", [loan_id, _amount(amount, "repayment")])
        paid = self._event(self.ledger, "Repaid", receipt)[0]["args"]
        credits = tuple(
            (int(e["args"]["memberId"]), int(e["args"]["principal"]), int(e["args"]["interest"]),
             int(e["args"]["penalty"]))
            for e in self._event(self.ledger, "LenderCredited", receipt)
        )
        return Repayment(loan_id, amount, int(paid["toPenalty"]), int(paid["toInterest"]),
                         int(paid["toPrincipal"]), credits, receipt)

    def classify(self, loan_id: int) -> Category:
        self._send(self.ledger, "classify", [loan_id])
        return self.loan(loan_id).category

    def record_collection_step(self, loan_id: int, step: CollectionStep, evidence_hash: bytes) -> TxReceipt:
        if len(evidence_hash) != 32:
            raise CoLedgerValueError("evidence hash must be 32 bytes (SHA-256 of the record)")
        return self._send(self.ledger, "recordCollectionStep", [loan_id, int(step), evidence_hash])

    # -- queries -----------------------------------------------------------------------------

    def loan(self, loan_id: int) -> LoanInfo:
        view = self.ledger.functions.loan(loan_id).call()
        names = [c["name"] for c in _outputs(self.ledger, "loan")[0]["components"]]
        fields = dict(zip(names, view, strict=True))
        lenders = tuple(LenderPosition(*map(int, p)) for p in self.ledger.functions.lenders(loan_id).call())
        return LoanInfo(loan_id, fields, lenders)

    def due_at(self, loan_id: int, timestamp: int) -> dict[str, int]:
        values = self.ledger.functions.dueAt(loan_id, timestamp).call()
        names = [o["name"] for o in _outputs(self.ledger, "dueAt")]
        return {n: int(v) for n, v in zip(names, values, strict=True)}

    def virtual_balance(self, borrower: bytes) -> int:
        return int(self.ledger.functions.virtualBalance(borrower).call())

    def history(self, loan_id: int) -> list[dict[str, Any]]:
        """Every event of loan `loan_id`, in chain order: its drawdown, opening, repayments,
        lender credits, penalty accruals, classifications, collection steps, default, closing."""
        topic = "0x" + loan_id.to_bytes(32, "big").hex()
        found: list[tuple[int, int, str, dict[str, Any]]] = []
        for contract, names in (
            (self.lines, ("DrawdownProposed", "DrawdownCommitted", "DrawdownDisbursed")),
            (self.ledger, ("LoanOpened", "Repaid", "LenderCredited",
                           "PenaltyAccrued", "LoanClassified", "CollectionStepRecorded",
                           "LoanDefaulted", "LoanClosed")),
        ):
            for name in names:
                event = getattr(contract.events, name)
                logs = self.w3.eth.get_logs({
                    "address": contract.address, "fromBlock": 0, "toBlock": "latest",
                    "topics": [event().topic, topic],
                })
                for log in logs:
                    decoded = event().process_log(log)
                    found.append((int(log["blockNumber"]), int(log["logIndex"]), name,
                                  dict(decoded["args"])))
        found.sort(key=lambda item: (item[0], item[1]))
        return [{"block": b, "event": n, **_plain(a)} for b, _, n, a in found]

    def loan_ids(self) -> list[int]:
        """Every loan ever opened, from the ledger's LoanOpened events (indexed log filter)."""
        logs = self.ledger.events.LoanOpened().get_logs(from_block=0)
        return sorted({int(e["args"]["loanId"]) for e in logs})


def _plain(value: Any) -> Any:
    """Event arguments as JSON-friendly values (bytes as 0x-hex, nested structs as dicts)."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _outputs(contract: Contract, fn: str) -> list[dict[str, Any]]:
    entry = next(e for e in contract.abi if e.get("type") == "function" and e.get("name") == fn)
    return list(entry["outputs"])
