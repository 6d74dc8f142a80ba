"""Domain replay: the consortium, products, credit lines, loans and virtual accounts rebuilt from
contract events alone (block/log order), independent of the contracts' storage.

:class:`Ledger` applies one event at a time (``apply``); after the last one it holds the state
the contracts' view functions must show at the same block, which :mod:`client.audit.views`
compares field by field. While applying it keeps the portfolio aggregates the report charts:
outstanding principal by category overall, per product and per lender, snapshotted per block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from client.audit.events import Event
from client.audit.evidence import EvidenceLedger

__all__ = [
    "NPL_CATEGORIES", "AccountState", "BucketState", "FlowState", "Ledger", "LenderState", "LineState",
    "LoanState", "MemberState", "MembershipChange", "ProductState", "ProposalState", "Snapshot",
]

NPL_CATEGORIES = (2, 3, 4)
"""Substandard, doubtful and loss: the non-performing categories of the five-category scheme."""

ACTIVE, CLOSED, DEFAULTED = 1, 2, 3


@dataclass
class MemberState:
    member_id: int
    name: str
    key: str
    roles: int
    active: bool = True


@dataclass(frozen=True)
class MembershipChange:
    """One row of the membership timeline: the member as it was from `block` on."""

    block: int
    log_index: int
    member_id: int
    key: str
    roles: int
    active: bool
    change: str


@dataclass
class ProposalState:
    proposal_id: int
    kind: int
    proposer_id: int
    approvers: list[int] = field(default_factory=list)
    reported_approvals: int = 0
    executed: bool = False
    executed_block: int | None = None


@dataclass
class ProductState:
    product_id: int
    name: str
    lead_member_id: int
    member_ids: list[int]  # lead first, then partners, the split order
    shares_bp: list[int]
    single_draw_cap: int
    defined_by: str
    active: bool = True


@dataclass
class LineState:
    line_id: int
    product_id: int
    borrower: bytes
    lead_member_id: int
    limit: int
    score_band: int
    model_hash: bytes
    used: int = 0
    closed: bool = False


@dataclass
class DrawdownState:
    drawdown_id: int
    line_id: int
    amount: int
    installments: int
    parts: list[tuple[int, int]]
    committed: set[int] = field(default_factory=set)
    disbursed: bool = False


@dataclass
class LenderState:
    member_id: int
    lent: int
    principal: int = 0
    interest: int = 0
    penalty: int = 0

    @property
    def outstanding(self) -> int:
        return self.lent - self.principal


@dataclass
class LoanState:
    loan_id: int
    borrower: bytes
    line_id: int
    product_id: int
    principal: int
    annual_rate_bp: int
    penalty_surcharge_bp: int
    installments: int
    lead_member_id: int
    start: int
    lenders: list[LenderState]
    status: int = ACTIVE
    category: int = 0
    collection_step: int = 0
    paid_principal: int = 0
    paid_interest: int = 0
    paid_penalty: int = 0
    penalty_accrued: int = 0

    @property
    def outstanding(self) -> int:
        return 0 if self.status == CLOSED else self.principal - self.paid_principal


@dataclass
class BucketState:
    """What is left in an account of one synced drawdown (the contract's `bucket` view)."""

    loan_id: int
    remaining: int
    amount: int
    time: int
    product_id: int


@dataclass
class AccountState:
    account: bytes
    lead_member_id: int
    product_id: int
    balance: int = 0
    reserved: int = 0
    funded: int = 0
    off_platform_spent: int = 0
    held: bool = False
    closed: bool = False
    buckets: list[BucketState] = field(default_factory=list)
    repaid_other_lenders: int = 0  # settled repayments marked toOtherLender (FlowCounterparty)


@dataclass
class FlowState:
    flow_id: int
    account: bytes
    kind: int
    amount: int
    verdict: int
    rules_fired: int
    block: int
    status: str  # settled | pending | approved | rejected | hold | refused
    lineage: int = 0
    # From the flow's FlowCounterparty (emitted only when either is set): the loan or lender a
    # repayment paid, or the loan a refund returns to; whether a repayment went to another lender.
    counterparty: bytes = b"\x00" * 32
    to_other_lender: bool = False
    lineage_loans: list[tuple[int, int]] = field(default_factory=list)  # (loan id, amount)


@dataclass(frozen=True)
class Snapshot:
    """Portfolio at the end of a block: outstanding principal and the non-performing part."""

    block: int
    timestamp: int
    outstanding: int
    non_performing: int
    by_product: dict[int, tuple[int, int]]
    by_lender: dict[int, tuple[int, int]]


FLAG, VERIFY, HOLD, REJECTED = 1, 2, 3, 4
DEBT_ROLLING_BIT = 6
REFUND, OFF_PLATFORM, REPAYMENT = 5, 3, 4
_ZERO32 = b"\x00" * 32


class Ledger:
    """Event-sourced state of every coledger contract; ``apply`` events in block/log order."""

    def __init__(self, addresses: dict[str, str]) -> None:
        self.addresses = {k: v.lower() for k, v in addresses.items()}
        self.members: dict[int, MemberState] = {}
        self.member_of_key: dict[str, int] = {}
        self.timeline: list[MembershipChange] = []
        self.threshold = 0
        self.parameters: dict[bytes, int] = {}
        self.proposals: dict[int, ProposalState] = {}
        self.products: dict[int, ProductState] = {}
        self.lines: dict[int, LineState] = {}
        self.drawdowns: dict[int, DrawdownState] = {}
        self.exposure: dict[bytes, int] = {}
        self.loans: dict[int, LoanState] = {}
        self.migrations: dict[tuple[int, int], int] = {}
        self.accounts: dict[bytes, AccountState] = {}
        self.flows: dict[int, FlowState] = {}
        self.bucket_of: dict[int, tuple[bytes, int]] = {}  # loan id -> (account, bucket index)
        self.flow_rules: dict[int, dict[str, Any]] = {}  # product id -> RuleSet (RulesSet events)
        self._counterparty: tuple[int, bytes, bool] | None = None  # the last FlowCounterparty
        self.verdicts: dict[int, int] = {}
        self.rule_verdicts: dict[tuple[int, int], int] = {}
        self.snapshots: list[Snapshot] = []
        self.events_applied = 0
        # outstanding principal by category: overall, per product, per lender
        self._total = [0] * 5
        self._by_product: dict[int, list[int]] = {}
        self._by_lender: dict[int, list[int]] = {}
        self._dirty_block: Event | None = None
        self._handlers: dict[str, Callable[[Event], None]] = {
            name[4:]: getattr(self, name) for name in dir(self) if name.startswith("_on_")}
        self.evidence = EvidenceLedger(self.addresses.get("ArbitrationCases", ""))  # evidence replay
        self._handlers.update(self.evidence.handlers())

    # ---------------------------------------------------------------- driving

    def apply(self, e: Event) -> None:
        d = self._dirty_block
        if d is not None and d.block != e.block:
            self._snapshot(d)
        handler = self._handlers.get(e.name)
        if handler is not None:
            handler(e)
        self.events_applied += 1

    def finish(self) -> None:
        """Take the last block's snapshot (call after the last ``apply``)."""
        if self._dirty_block is not None:
            self._snapshot(self._dirty_block)

    def has_role(self, address: str, role: int) -> bool:
        m = self.members.get(self.member_of_key.get(address.lower(), 0))
        return bool(m and m.active and m.roles >> role & 1)

    def key_of(self, member_id: int) -> str:
        m = self.members.get(member_id)
        return m.key if m and m.active else ""

    def npl_ratio_bp(self) -> int:
        """Non-performing share of outstanding principal in basis points, rounded half up
        (exact integers: the report carries no floats)."""
        total = sum(self._total)
        npl = sum(self._total[c] for c in NPL_CATEGORIES)
        return (20_000 * npl + total) // (2 * total) if total else 0

    # ---------------------------------------------------------------- consortium

    def _member_changed(self, e: Event, m: MemberState, change: str) -> None:
        self.timeline.append(MembershipChange(e.block, e.log_index, m.member_id, m.key, m.roles,
                                              m.active, change))

    def _on_MemberAdded(self, e: Event) -> None:
        a = e.args
        m = MemberState(a["memberId"], a["name"], a["key"], a["roles"])
        self.members[m.member_id] = m
        self.member_of_key[m.key] = m.member_id
        self._member_changed(e, m, "added")

    def _on_MemberRemoved(self, e: Event) -> None:
        m = self.members[e.args["memberId"]]
        m.active = False
        self.member_of_key.pop(m.key, None)
        self._member_changed(e, m, "removed")

    def _on_RoleGranted(self, e: Event) -> None:
        m = self.members[e.args["memberId"]]
        m.roles |= 1 << e.args["role"]
        self._member_changed(e, m, f"role {e.args['role']} granted")

    def _on_RoleRevoked(self, e: Event) -> None:
        m = self.members[e.args["memberId"]]
        m.roles &= ~(1 << e.args["role"])
        self._member_changed(e, m, f"role {e.args['role']} revoked")

    def _on_KeyRotated(self, e: Event) -> None:
        m = self.members[e.args["memberId"]]
        self.member_of_key.pop(m.key, None)
        m.key = e.args["newKey"]
        self.member_of_key[m.key] = m.member_id
        self._member_changed(e, m, "key rotated")

    def _on_ThresholdChanged(self, e: Event) -> None:
        self.threshold = e.args["newThreshold"]

    def _on_ParameterSet(self, e: Event) -> None:
        self.parameters[e.args["name"]] = e.args["newValue"]

    def _on_ProposalCreated(self, e: Event) -> None:
        a = e.args
        self.proposals[a["proposalId"]] = ProposalState(a["proposalId"], a["kind"], a["proposerId"])

    def _on_ProposalApproved(self, e: Event) -> None:
        p = self.proposals.get(e.args["proposalId"])
        if p is not None:
            p.approvers.append(e.args["memberId"])
            p.reported_approvals = e.args["approvals"]

    def _on_ProposalExecuted(self, e: Event) -> None:
        p = self.proposals.get(e.args["proposalId"])
        if p is not None:
            p.executed, p.executed_block = True, e.block

    # ---------------------------------------------------------------- products, lines, drawdowns

    def _on_ProductDefined(self, e: Event) -> None:
        t = e.args["terms"]
        self.products[e.args["productId"]] = ProductState(
            e.args["productId"], t["name"], t["leadMemberId"],
            [t["leadMemberId"], *t["partnerIds"]], [t["leadShareBp"], *t["partnerSharesBp"]],
            t["singleDrawCap"], e.args["definedBy"])

    def _on_ProductActiveSet(self, e: Event) -> None:
        p = self.products.get(e.args["productId"])
        if p is not None:
            p.active = e.args["active"]

    def _on_LineOpened(self, e: Event) -> None:
        a = e.args
        self.lines[a["lineId"]] = LineState(a["lineId"], a["productId"], a["borrower"], a["leadMemberId"],
                                            a["limit"], a["scoreBand"], a["modelHash"])

    def _on_LineClosed(self, e: Event) -> None:
        line = self.lines.get(e.args["lineId"])
        if line is not None:
            line.closed = True

    def _on_DrawdownProposed(self, e: Event) -> None:
        a = e.args
        self.drawdowns[a["drawdownId"]] = DrawdownState(
            a["drawdownId"], a["lineId"], a["amount"], a["installments"],
            [(p["memberId"], p["amount"]) for p in a["parts"]])

    def _on_DrawdownCommitted(self, e: Event) -> None:
        d = self.drawdowns.get(e.args["drawdownId"])
        if d is not None:
            d.committed.add(e.args["partnerId"])

    def _on_DrawdownDisbursed(self, e: Event) -> None:
        d = self.drawdowns.get(e.args["drawdownId"])
        amount = e.args["amount"]
        if d is not None:
            d.disbursed = True
            line = self.lines.get(d.line_id)
            if line is not None:
                line.used += amount
        b = e.args["borrower"]
        self.exposure[b] = self.exposure.get(b, 0) + amount

    def _on_PrincipalReleased(self, e: Event) -> None:
        line = self.lines.get(e.args["lineId"])
        if line is not None:
            line.used -= e.args["amount"]
        b = e.args["borrower"]
        self.exposure[b] = self.exposure.get(b, 0) - e.args["amount"]

    # ---------------------------------------------------------------- loans

    def _book(self, loan: LoanState, sign: int, e: Event) -> None:
        if loan.status == CLOSED:
            return
        c = loan.category
        out = sign * (loan.principal - loan.paid_principal)
        self._total[c] += out
        self._by_product.setdefault(loan.product_id, [0] * 5)[c] += out
        for lender in loan.lenders:
            self._by_lender.setdefault(lender.member_id, [0] * 5)[c] += sign * lender.outstanding
        self._dirty_block = e

    def _loan_event(self, e: Event, change: Callable[[LoanState], None]) -> None:
        loan = self.loans.get(e.args["loanId"])
        if loan is None:
            return
        self._book(loan, -1, e)
        change(loan)
        self._book(loan, 1, e)

    def _on_LoanOpened(self, e: Event) -> None:
        a = e.args
        loan = LoanState(
            a["loanId"], a["borrower"], a["lineId"], a["productId"], a["principal"], a["annualRateBp"],
            a["penaltySurchargeBp"], a["installments"], a["leadMemberId"], a["start"],
            [LenderState(p["memberId"], p["amount"]) for p in a["parts"]])
        self.loans[loan.loan_id] = loan
        self._book(loan, 1, e)

    def _on_Repaid(self, e: Event) -> None:
        def change(loan: LoanState) -> None:
            loan.paid_penalty += e.args["toPenalty"]
            loan.paid_interest += e.args["toInterest"]
            loan.paid_principal += e.args["toPrincipal"]
        self._loan_event(e, change)

    def _on_LenderCredited(self, e: Event) -> None:
        def change(loan: LoanState) -> None:
            for lender in loan.lenders:
                if lender.member_id == e.args["memberId"]:
                    lender.principal += e.args["principal"]
                    lender.interest += e.args["interest"]
                    lender.penalty += e.args["penalty"]
                    return
        self._loan_event(e, change)

    def _on_PenaltyAccrued(self, e: Event) -> None:
        loan = self.loans.get(e.args["loanId"])
        if loan is not None:
            loan.penalty_accrued = e.args["total"]

    def _on_LoanClassified(self, e: Event) -> None:
        def change(loan: LoanState) -> None:
            key = (loan.category, e.args["category"])
            self.migrations[key] = self.migrations.get(key, 0) + 1
            loan.category = e.args["category"]
        self._loan_event(e, change)

    def _on_CollectionStepRecorded(self, e: Event) -> None:
        loan = self.loans.get(e.args["loanId"])
        if loan is not None:
            loan.collection_step = e.args["step"]

    def _on_LoanDefaulted(self, e: Event) -> None:
        def change(loan: LoanState) -> None:
            loan.status = DEFAULTED
        self._loan_event(e, change)

    def _on_LoanClosed(self, e: Event) -> None:
        def change(loan: LoanState) -> None:
            loan.status = CLOSED
        self._loan_event(e, change)

    # ---------------------------------------------------------------- virtual accounts

    def _on_DrawdownSynced(self, e: Event) -> None:
        a = e.args
        loan = self.loans.get(a["loanId"])
        acct = self.accounts.get(a["account"])
        if acct is None:
            lead = loan.lead_member_id if loan is not None else 0
            acct = self.accounts[a["account"]] = AccountState(a["account"], lead, a["productId"])
        acct.balance += a["amount"]
        acct.funded += a["amount"]
        acct.product_id = a["productId"]
        self.bucket_of[a["loanId"]] = (a["account"], a["bucket"])
        bucket = BucketState(a["loanId"], a["amount"], a["amount"], a["drawdownTime"], a["productId"])
        while len(acct.buckets) <= a["bucket"]:  # the event's index, gaps and all (views compare)
            acct.buckets.append(BucketState(0, 0, 0, 0, 0))
        acct.buckets[a["bucket"]] = bucket

    def _on_FlowCounterparty(self, e: Event) -> None:
        a = e.args
        self._counterparty = (a["flowId"], a["counterparty"], a["toOtherLender"])

    def _on_FlowRecorded(self, e: Event) -> None:
        a = e.args
        acct = self.accounts.get(a["account"])
        verdict, kind, amount = a["verdict"], a["kind"], a["amount"]
        self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1
        fired = a["rulesFired"]
        for bit in range(16):
            if fired >> bit & 1:
                self.rule_verdicts[(bit, verdict)] = self.rule_verdicts.get((bit, verdict), 0) + 1
        status = "settled"
        if verdict == REJECTED:
            status = "refused"
        elif verdict == HOLD:
            status = "hold"
        elif verdict == VERIFY:
            status = "pending"
            if acct is not None:
                acct.reserved += amount
        f = FlowState(a["flowId"], a["account"], kind, amount, verdict, fired, e.block, status)
        c = self._counterparty
        if c is not None and c[0] == f.flow_id:
            f.counterparty, f.to_other_lender = c[1], c[2]
        self._counterparty = None
        self.flows[f.flow_id] = f
        if status == "settled" and acct is not None:
            self._settle(acct, f)

    def _settle(self, acct: AccountState, f: FlowState) -> None:
        if f.kind == REFUND:
            acct.balance += f.amount
            return
        acct.balance -= f.amount
        if f.kind == OFF_PLATFORM:
            acct.off_platform_spent += f.amount
        elif f.kind == REPAYMENT and f.to_other_lender:
            acct.repaid_other_lenders += f.amount

    def _on_FlowLineage(self, e: Event) -> None:
        f = self.flows.get(e.args["flowId"])
        if f is None:
            return
        loan_id, amount = e.args["loanId"], e.args["amount"]
        f.lineage += amount
        f.lineage_loans.append((loan_id, amount))
        where = self.bucket_of.get(loan_id)
        acct = self.accounts.get(where[0]) if where else None
        if where is not None and acct is not None and where[1] < len(acct.buckets):
            acct.buckets[where[1]].remaining += amount if f.kind == REFUND else -amount

    def refund_bucket(self, f: FlowState) -> BucketState | None:
        """The bucket refund `f` must return to, as the ledger stands before its lineage: the
        named loan's (FlowCounterparty), else the account's newest."""
        acct = self.accounts.get(f.account)
        if acct is None or not acct.buckets:
            return None
        if f.counterparty == _ZERO32:
            return acct.buckets[-1]
        where = self.bucket_of.get(int.from_bytes(f.counterparty, "big"))
        if where is None or where[0] != f.account:
            return None
        return acct.buckets[where[1]]

    def _on_HoldPlaced(self, e: Event) -> None:
        acct = self.accounts.get(e.args["account"])
        if acct is not None:
            acct.held = True

    def _on_HoldReleased(self, e: Event) -> None:
        acct = self.accounts.get(e.args["account"])
        if acct is not None:
            acct.held = False

    def _on_RulesSet(self, e: Event) -> None:
        self.flow_rules[e.args["productId"]] = e.args["rules"]

    def _on_AccountClosed(self, e: Event) -> None:
        acct = self.accounts.get(e.args["account"])
        if acct is not None:
            acct.closed = True

    def _on_AccountReopened(self, e: Event) -> None:
        acct = self.accounts.get(e.args["account"])
        if acct is not None:
            acct.closed = False

    def _on_VerificationResolved(self, e: Event) -> None:
        f = self.flows.get(e.args["flowId"])
        if f is None or f.status != "pending":
            return
        acct = self.accounts.get(f.account)
        f.status = "approved" if e.args["approved"] else "rejected"
        if acct is not None:
            acct.reserved -= f.amount
            if e.args["approved"]:
                self._settle(acct, f)

    # ---------------------------------------------------------------- portfolio

    def _snapshot(self, e: Event) -> None:
        def pair(v: list[int]) -> tuple[int, int]:
            return (sum(v), sum(v[c] for c in NPL_CATEGORIES))
        total, npl = pair(self._total)
        self.snapshots.append(Snapshot(
            e.block, e.timestamp, total, npl,
            {k: pair(v) for k, v in self._by_product.items()},
            {k: pair(v) for k, v in self._by_lender.items()}))
        self._dirty_block = None

    def summary(self) -> dict[str, Any]:
        return {
            "members": len(self.members), "threshold": self.threshold,
            "proposals": len(self.proposals), "products": len(self.products),
            "lines": len(self.lines), "loans": len(self.loans),
            "outstanding": sum(self._total), "npl_ratio_bp": self.npl_ratio_bp(),
            "accounts": len(self.accounts), "flows": len(self.flows),
            "accounts_closed": sum(a.closed for a in self.accounts.values()),
            "repaid_to_other_lenders": sum(a.repaid_other_lenders for a in self.accounts.values()),
            "events": self.events_applied,
        }
