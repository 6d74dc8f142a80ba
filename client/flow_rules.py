"""Pure reference model of the FundFlows rule engine (contracts/flows/*.sol, IFundFlows NatSpec).

Given the same rule sets and the same sequence of drawdown syncs, flow batches (with their block
timestamps), verification resolutions, hold releases and account closings (and reopenings),
`FlowModel` produces the same verdicts, fired-rule bitmasks, balances, reservations, holds,
closed accounts, bucket remainders and per-loan lineage totals as the contract. No web3 here:
the property tests use it to recompute the chain. Malformed input raises `FlowRuleError` (a
`CoLedgerValueError`) named like the Solidity error, and — like the all-or-nothing batch — leaves
the model unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from client.errors import CoLedgerValueError

__all__ = [
    "DAY", "MAX_BATCH", "MAX_P2P_COUNT", "WHOLE_BP", "Action", "AccountState", "BucketState",
    "FlowInput", "FlowKind", "FlowModel", "FlowOutcome", "FlowRuleError", "Rule", "RuleSet",
    "Verdict",
]

MAX_BATCH = 500
MAX_P2P_COUNT = 16
WHOLE_BP = 10_000
DAY = 86_400


class FlowKind(IntEnum):
    MERCHANT_PAYMENT = 0
    P2P_TRANSFER = 1
    CASH_WITHDRAWAL = 2
    OFF_PLATFORM_PAYMENT = 3
    REPAYMENT = 4
    REFUND = 5


class Action(IntEnum):
    ALLOW = 0
    FLAG = 1
    VERIFY = 2
    HOLD = 3


class Verdict(IntEnum):
    ALLOW = 0
    FLAG = 1
    VERIFY = 2
    HOLD = 3
    REJECTED = 4


class Rule(IntEnum):
    """Bit positions of `rulesFired`."""

    P2P_SINGLE = 0
    P2P_COUNT = 1
    CASH_SINGLE = 2
    CASH_SHARE = 3
    OFF_PLATFORM = 4
    PROHIBITED_CATEGORY = 5
    DEBT_ROLLING = 6
    VELOCITY = 7


class FlowRuleError(CoLedgerValueError):
    """Malformed input; `name` and `args` match the contract's custom error."""

    def __init__(self, name: str, *args: Any) -> None:
        super().__init__(f"{name}{args}")
        self.name = name
        self.args_tuple = args


@dataclass(frozen=True)
class RuleSet:
    """A product's rules, field for field the Solidity `RuleSet` (actions as `Action`)."""

    p2p_single_max: int = 0
    p2p_single_action: Action = Action.ALLOW
    p2p_max_count: int = 0
    p2p_window: int = 0
    p2p_count_action: Action = Action.ALLOW
    cash_single_max: int = 0
    cash_single_action: Action = Action.ALLOW
    cash_max_share_bp: int = 0
    cash_share_action: Action = Action.ALLOW
    off_platform_max_share_bp: int = 0
    off_platform_action: Action = Action.ALLOW
    prohibited_category_action: Action = Action.ALLOW
    debt_rolling_days: int = 0
    debt_rolling_action: Action = Action.ALLOW
    velocity_window: int = 0
    velocity_max_share_bp: int = 0
    velocity_action: Action = Action.ALLOW

    def as_abi(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.__dict__.values())

    @classmethod
    def from_abi(cls, values: Sequence[int]) -> RuleSet:
        names = list(cls.__dataclass_fields__)
        kw: dict[str, Any] = {}
        for name, value in zip(names, values, strict=True):
            kw[name] = Action(value) if name.endswith("action") else int(value)
        return cls(**kw)

    def check(self) -> None:
        """The contract's `setRules` bounds."""
        if self.p2p_count_action != Action.ALLOW and self.p2p_max_count > MAX_P2P_COUNT:
            raise FlowRuleError("FundFlowsInvalidRule", Rule.P2P_COUNT, self.p2p_max_count)
        for rule, bp in ((Rule.CASH_SHARE, self.cash_max_share_bp),
                         (Rule.OFF_PLATFORM, self.off_platform_max_share_bp),
                         (Rule.VELOCITY, self.velocity_max_share_bp)):
            if bp > WHOLE_BP:
                raise FlowRuleError("FundFlowsInvalidRule", rule, bp)


@dataclass(frozen=True)
class FlowInput:
    account: bytes
    kind: int
    amount: int
    mcc: int = 0
    counterparty: bytes = b"\x00" * 32
    to_other_lender: bool = False

    def as_abi(self) -> tuple[Any, ...]:
        return (self.account, self.kind, self.mcc, self.amount, self.counterparty, self.to_other_lender)


@dataclass
class BucketState:
    loan_id: int
    remaining: int
    amount: int
    time: int
    product_id: int


@dataclass
class AccountState:
    lead_member_id: int
    product_id: int = 0
    balance: int = 0
    reserved: int = 0
    funded: int = 0
    off_platform_spent: int = 0
    held: bool = False
    closed: bool = False
    head: int = 0
    buckets: list[BucketState] = field(default_factory=list)
    p2p_times: list[int] = field(default_factory=list)  # every counted P2P time, oldest first
    velocity_start: int = 0
    velocity_base: int = 0
    velocity_outflow: int = 0

    @property
    def available(self) -> int:
        return self.balance - self.reserved


@dataclass(frozen=True)
class FlowOutcome:
    flow_id: int
    verdict: Verdict
    rules_fired: int
    lineage: tuple[tuple[int, int], ...]  # (loan id, amount) per bucket touched


@dataclass
class PendingState:
    account: bytes
    kind: FlowKind
    amount: int
    status: str = "pending"  # pending / approved / rejected


_SPEND_KEYS = {FlowKind.MERCHANT_PAYMENT: "merchant", FlowKind.P2P_TRANSFER: "p2p",
               FlowKind.CASH_WITHDRAWAL: "cash", FlowKind.OFF_PLATFORM_PAYMENT: "offPlatform",
               FlowKind.REPAYMENT: "repayment", FlowKind.REFUND: "refunded"}


class FlowModel:
    """The whole FundFlows state; methods mirror the contract's entry points."""

    def __init__(self) -> None:
        self.accounts: dict[bytes, AccountState] = {}
        self.rules: dict[int, RuleSet] = {}
        self.prohibited: dict[int, set[int]] = {}
        self.bucket_of: dict[int, tuple[bytes, int]] = {}
        self.loan_spend: dict[int, dict[str, int]] = {}
        self.flows: dict[int, PendingState] = {}
        self.flow_count = 0

    # -- governance / funding ---------------------------------------------------------------

    def set_rules(self, product_id: int, rules: RuleSet) -> None:
        rules.check()
        self.rules[product_id] = rules

    def set_prohibited(self, product_id: int, mcc: int, prohibited: bool) -> None:
        if not 1 <= mcc <= 9999:
            raise FlowRuleError("FundFlowsInvalidRule", Rule.PROHIBITED_CATEGORY, mcc)
        codes = self.prohibited.setdefault(product_id, set())
        (codes.add if prohibited else codes.discard)(mcc)

    def sync(self, loan_id: int, borrower: bytes, product_id: int, principal: int, start: int,
             lead_member_id: int) -> None:
        if loan_id in self.bucket_of:
            raise FlowRuleError("FundFlowsAlreadySynced", loan_id)
        acc = self.accounts.get(borrower)
        if acc is not None and acc.lead_member_id != lead_member_id:
            raise FlowRuleError("FundFlowsLeadBankMismatch", loan_id, borrower, acc.lead_member_id,
                                lead_member_id)
        if acc is not None and acc.closed:
            raise FlowRuleError("FundFlowsAccountClosed", borrower)
        if acc is None:
            acc = self.accounts[borrower] = AccountState(lead_member_id)
        acc.balance += principal
        acc.funded += principal
        acc.product_id = product_id
        self.bucket_of[loan_id] = (borrower, len(acc.buckets))
        acc.buckets.append(BucketState(loan_id, principal, principal, start, product_id))

    # -- flows -------------------------------------------------------------------------------

    def record(self, flows: Sequence[FlowInput], now: int, lead: int = 0) -> list[FlowOutcome]:
        """A batch at block time `now`; `lead` is the caller's member id if it is a lead bank
        recording (0 for a Gateway). All-or-nothing: an error leaves the model as it was."""
        if not flows:
            raise FlowRuleError("FundFlowsEmptyBatch")
        if len(flows) > MAX_BATCH:
            raise FlowRuleError("FundFlowsBatchTooLarge", len(flows), MAX_BATCH)
        saved = copy.deepcopy(self.__dict__)
        try:
            return [self._record(i, f, now, lead) for i, f in enumerate(flows)]
        except FlowRuleError:
            self.__dict__.update(saved)
            raise

    def _record(self, index: int, f: FlowInput, now: int, lead: int) -> FlowOutcome:
        acc = self.accounts.get(f.account)
        if acc is not None and acc.closed:  # checked first: once per account and batch on chain
            raise FlowRuleError("FundFlowsAccountClosed", f.account)
        if not 0 <= f.kind <= FlowKind.REFUND:
            raise FlowRuleError("FundFlowsUnknownKind", index, f.kind)
        kind = FlowKind(f.kind)
        merchant = kind == FlowKind.MERCHANT_PAYMENT
        if (not 1 <= f.mcc <= 9999) if merchant else f.mcc != 0:
            raise FlowRuleError("FundFlowsInvalidCategory", index, f.kind, f.mcc)
        if f.amount == 0:
            raise FlowRuleError("FundFlowsZeroAmount", index)
        acc = self.accounts.get(f.account)
        if acc is None:
            raise FlowRuleError("FundFlowsUnknownAccount", index, f.account)
        if lead and lead != acc.lead_member_id:
            raise FlowRuleError("FundFlowsUnauthorized", "caller", f.account)
        self.flow_count += 1
        flow_id = self.flow_count
        if kind == FlowKind.REFUND:
            return self._refund(index, flow_id, f, acc)
        if f.amount > acc.available:
            raise FlowRuleError("FundFlowsAmountExceedsAvailable", index, f.account, f.amount, acc.available)
        if acc.held:
            return FlowOutcome(flow_id, Verdict.REJECTED, 0, ())
        action, fired, window = self._judge(kind, f, acc, now)
        verdict = Verdict(action)
        if verdict == Verdict.HOLD:
            acc.held = True
            return FlowOutcome(flow_id, verdict, fired, ())
        if window is not None:
            acc.velocity_start, acc.velocity_base, acc.velocity_outflow = window
        if kind == FlowKind.P2P_TRANSFER:
            acc.p2p_times.append(now)
        if verdict == Verdict.VERIFY:
            acc.reserved += f.amount
            self.flows[flow_id] = PendingState(f.account, kind, f.amount)
            return FlowOutcome(flow_id, verdict, fired, ())
        return FlowOutcome(flow_id, verdict, fired, self._settle(acc, kind, f.amount, False))

    def _judge(self, kind: FlowKind, f: FlowInput, acc: AccountState, now: int
               ) -> tuple[Action, int, tuple[int, int, int] | None]:
        r = self.rules.get(acc.product_id, RuleSet())
        fired, action = 0, Action.ALLOW

        def fire(rule: Rule, act: Action) -> None:
            nonlocal fired, action
            fired |= 1 << rule
            action = max(action, act)

        amount = f.amount
        if kind == FlowKind.P2P_TRANSFER:
            if r.p2p_single_action and amount > r.p2p_single_max:
                fire(Rule.P2P_SINGLE, r.p2p_single_action)
            if r.p2p_count_action and self._p2p_count_reached(acc, r, now):
                fire(Rule.P2P_COUNT, r.p2p_count_action)
        elif kind == FlowKind.CASH_WITHDRAWAL:
            if r.cash_single_action and amount > r.cash_single_max:
                fire(Rule.CASH_SINGLE, r.cash_single_action)
            if r.cash_share_action and amount * WHOLE_BP > r.cash_max_share_bp * self._first(acc).amount:
                fire(Rule.CASH_SHARE, r.cash_share_action)
        elif kind == FlowKind.OFF_PLATFORM_PAYMENT:
            if r.off_platform_action and (acc.off_platform_spent + amount) * WHOLE_BP > \
                    r.off_platform_max_share_bp * acc.funded:
                fire(Rule.OFF_PLATFORM, r.off_platform_action)
        elif kind == FlowKind.MERCHANT_PAYMENT:
            if r.prohibited_category_action and f.mcc in self.prohibited.get(acc.product_id, set()):
                fire(Rule.PROHIBITED_CATEGORY, r.prohibited_category_action)
        elif kind == FlowKind.REPAYMENT:
            if r.debt_rolling_action and f.to_other_lender and \
                    now < self._last_touched_time(acc, amount) + r.debt_rolling_days * DAY:
                fire(Rule.DEBT_ROLLING, r.debt_rolling_action)
        window = None
        if r.velocity_action:
            if acc.velocity_start == 0 or now >= acc.velocity_start + r.velocity_window:
                start, base, out = now, acc.balance, 0
            else:
                start, base, out = acc.velocity_start, acc.velocity_base, acc.velocity_outflow
            window = (start, base, out + amount)
            if (out + amount) * WHOLE_BP > r.velocity_max_share_bp * base:
                fire(Rule.VELOCITY, r.velocity_action)
        return action, fired, window

    @staticmethod
    def _p2p_count_reached(acc: AccountState, r: RuleSet, now: int) -> bool:
        n = r.p2p_max_count
        if n == 0:
            return True
        if len(acc.p2p_times) < n:
            return False
        return acc.p2p_times[-n] + r.p2p_window > now

    @staticmethod
    def _first(acc: AccountState) -> BucketState:
        return next(b for b in acc.buckets[acc.head:] if b.remaining)

    @staticmethod
    def _last_touched_time(acc: AccountState, amount: int) -> int:
        for b in acc.buckets[acc.head:]:
            if b.remaining >= amount:
                return b.time
            amount -= b.remaining
        raise AssertionError("buckets hold less than the balance")

    def _settle(self, acc: AccountState, kind: FlowKind, amount: int, was_reserved: bool
                ) -> tuple[tuple[int, int], ...]:
        acc.balance -= amount
        if was_reserved:
            acc.reserved -= amount
        if kind == FlowKind.OFF_PLATFORM_PAYMENT:
            acc.off_platform_spent += amount
        lineage = []
        index = acc.head
        while amount:
            b = acc.buckets[index]
            if b.remaining:
                take = min(b.remaining, amount)
                b.remaining -= take
                amount -= take
                self._add_spend(b.loan_id, kind, take)
                lineage.append((b.loan_id, take))
                if b.remaining:
                    break
            index += 1
        acc.head = index
        return tuple(lineage)

    def _add_spend(self, loan_id: int, kind: FlowKind, amount: int) -> None:
        totals = self.loan_spend.setdefault(loan_id, dict.fromkeys(_SPEND_KEYS.values(), 0))
        totals[_SPEND_KEYS[kind]] += amount

    def _refund(self, index: int, flow_id: int, f: FlowInput, acc: AccountState) -> FlowOutcome:
        bucket_index = len(acc.buckets) - 1
        raw = int.from_bytes(f.counterparty, "big")
        if raw:
            where = self.bucket_of.get(raw) if raw < 2**64 else None
            if where is None or where[0] != f.account:
                raise FlowRuleError("FundFlowsRefundUnknownLoan", index, f.account, raw % 2**64)
            bucket_index = where[1]
        b = acc.buckets[bucket_index]
        spent = b.amount - b.remaining
        if f.amount > spent:
            raise FlowRuleError("FundFlowsRefundExceedsSpent", index, b.loan_id, f.amount, spent)
        if acc.held:
            return FlowOutcome(flow_id, Verdict.REJECTED, 0, ())
        b.remaining += f.amount
        acc.balance += f.amount
        acc.head = min(acc.head, bucket_index)
        self._add_spend(b.loan_id, FlowKind.REFUND, f.amount)
        return FlowOutcome(flow_id, Verdict.ALLOW, 0, ((b.loan_id, f.amount),))

    # -- lead bank ---------------------------------------------------------------------------

    def resolve(self, flow_id: int, approved: bool) -> tuple[tuple[int, int], ...]:
        p = self.flows.get(flow_id)
        if p is None or p.status != "pending":
            raise FlowRuleError("FundFlowsNotPending", flow_id)
        acc = self.accounts[p.account]
        if approved and acc.held:  # a frozen account moves no money until released
            raise FlowRuleError("FundFlowsAccountHeld", p.account)
        p.status = "approved" if approved else "rejected"
        if approved:
            return self._settle(acc, p.kind, p.amount, True)
        acc.reserved -= p.amount
        return ()

    def release(self, account: bytes) -> None:
        acc = self.accounts.get(account)
        if acc is None or not acc.held:
            raise FlowRuleError("FundFlowsNotHeld", account)
        acc.held = False

    def _lead_account(self, account: bytes, lead: int | None) -> AccountState:
        """The account, if `lead` (None: the right one) is its lead bank (`_checkLeadOf`)."""
        acc = self.accounts.get(account)
        if acc is None or (lead is not None and lead != acc.lead_member_id):
            raise FlowRuleError("FundFlowsUnauthorized", "caller", account)
        return acc

    def close(self, account: bytes, lead: int | None = None) -> None:
        """`closeAccount` by member `lead`: zero balance (so nothing pending), not held."""
        acc = self._lead_account(account, lead)
        if acc.closed:
            raise FlowRuleError("FundFlowsAccountClosed", account)
        if acc.held:
            raise FlowRuleError("FundFlowsAccountHeld", account)
        if acc.balance:
            raise FlowRuleError("FundFlowsAccountNotEmpty", account, acc.balance)
        acc.closed = True

    def reopen(self, account: bytes, lead: int | None = None) -> None:
        acc = self._lead_account(account, lead)
        if not acc.closed:
            raise FlowRuleError("FundFlowsAccountNotClosed", account)
        acc.closed = False

    def pending(self) -> list[int]:
        return sorted(i for i, p in self.flows.items() if p.status == "pending")
