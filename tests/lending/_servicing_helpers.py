"""Shared setup and the reference model of the LoanLedger servicing tests.

`ServicingEnv` deploys a Consortium of its own (so governed parameters changed by a test touch no
other test), a `CreditLinesStub` playing CreditLines, and a `LoanLedger` wired to both. Every
account is also admitted to the session's admission Consortium (`make_account`), so it may
transact on the embedded node; whether the *ledger* lets it act is decided by the ledger's own
Consortium, which is what the tests exercise.

`LoanModel` recomputes, in Python and independently of the contract's code, what the ledger must
hold after each operation — the rules of `ILoanLedger` written plainly, with the arithmetic of
`client.lending_math` (the bit-for-bit mirror of `LendingMath.sol`).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

import client.lending_math as lm
from client.consortium import ConsortiumClient, Role, roles_mask
from client.contracts import bind, deploy
from client.errors import ContractRevert
from client.revert import decode_revert
from client.tx import Call, TransactionPipeline

DAY = lm.DAY
PERIOD = lm.PERIOD
RATE_BP = 1800  # 18% a year
SURCHARGE_BP = 5000  # penalty rate = rate x 1.5
REVERT_GAS = 1_000_000

STATUS_ACTIVE, STATUS_CLOSED, STATUS_DEFAULTED = 1, 2, 3
STEP_NONE, STEP_REMINDER, STEP_AUTOMATED, STEP_OUTSOURCED, STEP_ARBITRATION = range(5)


@dataclass(frozen=True)
class Actor:
    """A key, its transaction pipeline and its member id in the ledger's Consortium (0: none)."""

    label: str
    account: LocalAccount
    pipeline: TransactionPipeline
    member_id: int

    @property
    def address(self) -> str:
        return str(self.account.address)


def borrower_id(label: str) -> bytes:
    """A pseudonymous borrower id (as the HMAC of a national id would be): 32 opaque bytes."""
    return keccak(text=f"borrower:{label}")


@dataclass
class ServicingEnv:
    w3: Web3
    chain: Any
    consortium: ConsortiumClient
    ledger: Contract
    stub: Contract
    governor: Actor
    lead: Actor
    other_lead: Actor
    partner1: Actor
    partner2: Actor
    auditor: Actor
    outsider: Actor
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- transactions ------------------------------------------------------------------------

    def send(self, actor: Actor, fn: Any, label: str = "") -> Any:
        """Send `fn` (a bound contract function) from `actor`; raises the decoded revert."""
        data = bytes.fromhex(fn._encode_transaction_data()[2:])
        return actor.pipeline.transact(Call(to=fn.address, data=data, label=label or fn.fn_name))

    def revert_of(self, actor: Actor, fn: Any) -> ContractRevert:
        """The revert `fn` from `actor` meets at estimation, and again as a mined transaction.

        The second send skips estimation (explicit gas), so the transaction is really included
        and fails on chain; the pipeline decodes its reason by replaying it.
        """
        data = bytes.fromhex(fn._encode_transaction_data()[2:])
        reverts = []
        for gas in (None, REVERT_GAS):
            try:
                actor.pipeline.transact(Call(to=fn.address, data=data, gas=gas, label=fn.fn_name))
            except ContractRevert as exc:
                reverts.append(exc)
            else:
                raise AssertionError(f"{fn.fn_name} from {actor.label} did not revert")
        first, mined = reverts
        assert (first.name, first.args_by_name) == (mined.name, mined.args_by_name)
        return first

    def next_loan_id(self) -> int:
        return next(self._ids)

    def parts(self, principal: int, shares_bp: tuple[int, ...] = (2000, 4000, 4000)) -> list[tuple[int, int]]:
        """Lender parts, lead first, split by basis points exactly (as CreditLines does)."""
        members = [self.lead, self.partner1, self.partner2, self.other_lead][: len(shares_bp)]
        amounts = lm.split_bp(principal, list(shares_bp))
        return [(m.member_id, a) for m, a in zip(members, amounts, strict=True)]

    def open_fn(
        self,
        loan_id: int,
        principal: int,
        installments: int,
        *,
        borrower: bytes | None = None,
        parts: list[tuple[int, int]] | None = None,
        lead_id: int | None = None,
        line_id: int = 7,
        product_id: int = 3,
        rate_bp: int = RATE_BP,
        surcharge_bp: int = SURCHARGE_BP,
        via: Contract | None = None,
    ) -> Any:
        target = via if via is not None else self.stub
        return target.functions.openLoan(
            loan_id,
            borrower if borrower is not None else borrower_id(f"loan-{loan_id}"),
            line_id,
            product_id,
            principal,
            rate_bp,
            surcharge_bp,
            installments,
            self.lead.member_id if lead_id is None else lead_id,
            parts if parts is not None else self.parts(principal),
        )

    def open_loan(self, principal: int, installments: int, **kwargs: Any) -> tuple[int, Any, LoanModel]:
        """Open a fresh loan through the stub: (loan id, receipt, model started at its block time)."""
        loan_id = self.next_loan_id()
        receipt = self.send(self.governor, self.open_fn(loan_id, principal, installments, **kwargs))
        opened = self.events(receipt, "LoanOpened")[0]
        lent = [int(p["amount"]) for p in opened["parts"]]
        model = LoanModel(
            principal,
            int(opened["annualRateBp"]),
            int(opened["penaltySurchargeBp"]),
            installments,
            int(opened["start"]),
            lent,
        )
        return loan_id, receipt, model

    def repay(self, loan_id: int, amount: int, actor: Actor | None = None) -> Any:
        return self.send(actor or self.lead, self.ledger.functions.repay(loan_id, amount))

    def classify(self, loan_id: int, actor: Actor | None = None) -> Any:
        return self.send(actor or self.auditor, self.ledger.functions.classify(loan_id))

    # -- reading -----------------------------------------------------------------------------

    def events(self, receipt: Any, name: str, contract: Contract | None = None) -> list[dict[str, Any]]:
        source = contract if contract is not None else self.ledger
        logs = source.events[name]().process_receipt(receipt, errors=DISCARD)
        return [dict(log["args"]) for log in logs if log["address"] == source.address]

    def _abi(self) -> list[dict[str, Any]]:
        return list(self.ledger.abi)  # type: ignore[arg-type]

    def event_names(self, receipt: Any) -> list[str]:
        by_topic = {
            keccak(text=f"{e['name']}({','.join(_abi_type(i) for i in e['inputs'])})"): e["name"]
            for e in self._abi()
            if e["type"] == "event"
        }
        return [
            by_topic[bytes(log["topics"][0])]
            for log in receipt["logs"]
            if log["address"] == self.ledger.address
        ]

    def block_time(self, receipt: Any) -> int:
        """The timestamp of the receipt's block."""
        return int(self.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance_to(self, timestamp: int) -> None:
        """Mine a block at `timestamp` (the next transaction lands at or just after it)."""
        head = self.now()
        if timestamp > head:
            self.chain.increase_time(timestamp - head)
        assert self.now() >= timestamp

    def loan(self, loan_id: int) -> dict[str, Any]:
        entry = next(e for e in self._abi() if e.get("name") == "loan")
        names = [c["name"] for c in entry["outputs"][0]["components"]]
        return dict(zip(names, self.ledger.functions.loan(loan_id).call(), strict=True))

    def lenders(self, loan_id: int) -> list[dict[str, int]]:
        names = ("memberId", "principalLent", "principalOutstanding", "interestReceived", "penaltyReceived")
        return [
            dict(zip(names, map(int, p), strict=True)) for p in self.ledger.functions.lenders(loan_id).call()
        ]

    def due_at(self, loan_id: int, timestamp: int) -> dict[str, int]:
        names = ("penaltyDue", "interestDue", "principalDue", "payoff", "daysPastDue", "category")
        values = self.ledger.functions.dueAt(loan_id, timestamp).call()
        return dict(zip(names, map(int, values), strict=True))

    def state(self, loan_id: int | None = None, borrower: bytes | None = None) -> tuple[Any, ...]:
        """Everything a failed call must leave unchanged."""
        loan = self.ledger.functions.loan(loan_id).call() if loan_id is not None else None
        lenders = self.ledger.functions.lenders(loan_id).call() if loan_id is not None else None
        balance = self.ledger.functions.virtualBalance(borrower).call() if borrower is not None else None
        return (
            loan,
            lenders,
            balance,
            self.ledger.functions.loanCount().call(),
            self.stub.functions.releaseCount().call(),
        )


def _abi_type(entry: dict[str, Any]) -> str:
    if entry["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in entry["components"])
        return f"({inner}){entry['type'][5:]}"
    return str(entry["type"])


def deploy_servicing(
    w3: Web3, chain: Any, make_account: Callable[..., LocalAccount], tag: str
) -> ServicingEnv:
    """A Consortium (threshold 1, governed by `governor`), the stub, and the ledger; `tag` keeps
    the keys of each test module distinct within the session."""
    labels = {
        "governor": (Role.GOVERNOR, Role.OPERATOR),
        "lead": (Role.LEAD_BANK,),
        "other_lead": (Role.LEAD_BANK,),
        "partner1": (Role.PARTNER,),
        "partner2": (Role.PARTNER,),
        "auditor": (Role.AUDITOR,),
    }
    accounts = {label: make_account(f"servicing-{tag}-{label}") for label in [*labels, "outsider"]}
    pipelines = {label: TransactionPipeline(w3, acct) for label, acct in accounts.items()}
    charter = [(label, accounts[label].address, roles_mask(roles)) for label, roles in labels.items()]
    gov = pipelines["governor"]
    consortium_address = deploy(gov, "Consortium", charter, 1, 86_400, [])
    stub = bind(w3, "CreditLinesStub", deploy(gov, "CreditLinesStub"))
    ledger = bind(w3, "LoanLedger", deploy(gov, "LoanLedger", consortium_address, stub.address))
    data = bytes.fromhex(stub.functions.setLedger(ledger.address)._encode_transaction_data()[2:])
    gov.transact(Call(to=stub.address, data=data, label="setLedger"))
    ids = {label: i + 1 for i, label in enumerate(labels)}
    actors = {
        label: Actor(label, accounts[label], pipelines[label], ids.get(label, 0))
        for label in [*labels, "outsider"]
    }
    return ServicingEnv(
        w3,
        chain,
        ConsortiumClient(w3, consortium_address, gov),
        ledger,
        stub,
        actors["governor"],
        actors["lead"],
        actors["other_lead"],
        actors["partner1"],
        actors["partner2"],
        actors["auditor"],
        actors["outsider"],
    )


# ------------------------------------------------------------------------------ reference model


class PayoffExceeded(Exception):
    def __init__(self, amount: int, payoff: int) -> None:
        super().__init__(f"{amount} > payoff {payoff}")
        self.amount = amount
        self.payoff = payoff


@dataclass
class Dues:
    penalty: int
    interest: int
    principal: int
    next_interest: int
    payoff: int
    dpd: int


@dataclass
class LoanModel:
    """The servicing rules of ILoanLedger, stated plainly (see the interface's NatSpec)."""

    principal: int
    rate_bp: int
    surcharge_bp: int
    n: int
    start: int
    lent: list[int]
    paid_principal: int = 0
    paid_interest: int = 0
    paid_penalty: int = 0
    accrued: int = 0
    last: int = -1
    closed: bool = False
    repaid: list[int] = field(default_factory=list)
    interest_received: list[int] = field(default_factory=list)
    penalty_received: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rows = lm.schedule(self.principal, self.rate_bp, self.n)
        self.last = self.start if self.last < 0 else self.last
        zeros = [0] * len(self.lent)
        self.repaid, self.interest_received, self.penalty_received = list(zeros), list(zeros), list(zeros)

    def due_time(self, i: int) -> int:
        return self.start + i * PERIOD

    def due_count(self, t: int) -> int:
        return max(0, min(self.n, (t - self.start) // PERIOD))

    def cum(self, k: int) -> tuple[int, int]:
        return sum(r.principal for r in self.rows[:k]), sum(r.interest for r in self.rows[:k])

    def new_penalty(self, t: int) -> int:
        """Penalty from the last accrual to `t`, one segment per stretch between due dates."""
        cuts = [self.due_time(i) for i in range(1, self.n + 1) if self.last < self.due_time(i) < t]
        points = [self.last, *cuts, t]
        total = 0
        for a, b in itertools.pairwise(points):
            overdue = self.cum(self.due_count(a))[0] - self.paid_principal
            if overdue > 0 and b > a:
                total += lm.penalty(overdue, self.rate_bp, self.surcharge_bp, b - a)
        return total

    def dues(self, t: int) -> Dues:
        k = self.due_count(t)
        cum_p, cum_i = self.cum(k)
        penalty = self.accrued + self.new_penalty(t) - self.paid_penalty
        interest = max(0, cum_i - self.paid_interest)
        principal = max(0, cum_p - self.paid_principal)
        nxt = 0 if k == self.n else max(0, self.cum(k + 1)[1] - max(self.paid_interest, cum_i))
        payoff = penalty + interest + nxt + self.principal - self.paid_principal
        oldest = next(
            (
                i
                for i in range(1, k + 1)
                if self.cum(i)[0] > self.paid_principal or self.cum(i)[1] > self.paid_interest
            ),
            0,
        )
        dpd = lm.days_past_due(self.due_time(oldest), t) if oldest else 0
        return Dues(penalty, interest, principal, nxt, payoff, dpd)

    def category(self, t: int, thresholds: tuple[int, int, int, int] = lm.DEFAULT_THRESHOLDS) -> int:
        return int(lm.classify(self.dues(t).dpd, thresholds))

    def touch(self, t: int) -> int:
        """Accrue to `t`; returns the penalty added."""
        added = self.new_penalty(t)
        self.accrued += added
        self.last = t
        return added

    def repay(self, amount: int, t: int) -> tuple[int, int, int, list[tuple[int, int, int]]]:
        """(toPenalty, toInterest, toPrincipal, [(principal, interest, penalty) per lender])."""
        d = self.dues(t)
        if amount > d.payoff:
            raise PayoffExceeded(amount, d.payoff)
        self.touch(t)
        a = lm.allocate(amount, d.penalty, d.interest, d.principal)
        ahead = min(a.excess, d.next_interest)
        to_pen, to_int, to_prin = a.to_penalty, a.to_interest + ahead, a.to_principal + a.excess - ahead
        count = len(self.lent)
        pen_parts = lm.split(to_pen, self.lent) if to_pen else [0] * count
        int_parts = lm.split(to_int, self.lent) if to_int else [0] * count
        outstanding = [lent - back for lent, back in zip(self.lent, self.repaid, strict=True)]
        prin_parts = lm.split(to_prin, outstanding) if to_prin else [0] * count
        for i in range(count):
            self.repaid[i] += prin_parts[i]
            self.interest_received[i] += int_parts[i]
            self.penalty_received[i] += pen_parts[i]
        self.paid_penalty += to_pen
        self.paid_interest += to_int
        self.paid_principal += to_prin
        self.closed = self.paid_principal == self.principal
        return to_pen, to_int, to_prin, list(zip(prin_parts, int_parts, pen_parts, strict=True))

    def lender_view(self, member_ids: list[int]) -> list[dict[str, int]]:
        return [
            {
                "memberId": m,
                "principalLent": lent,
                "principalOutstanding": lent - back,
                "interestReceived": i,
                "penaltyReceived": p,
            }
            for m, lent, back, i, p in zip(
                member_ids, self.lent, self.repaid, self.interest_received, self.penalty_received, strict=True
            )
        ]


# ------------------------------------------------------------------------------ checks


def evidence(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def parts_of(event_parts: Any) -> list[tuple[int, int]]:
    return [(int(p["memberId"]), int(p["amount"])) for p in event_parts]


def credits_of(env: ServicingEnv, receipt: Any) -> list[tuple[int, int, int, int]]:
    return [
        (c["memberId"], c["principal"], c["interest"], c["penalty"])
        for c in env.events(receipt, "LenderCredited")
    ]


def expected_credits(ids: list[int], parts: list[tuple[int, int, int]]) -> list[tuple[int, int, int, int]]:
    return [(m, *p) for m, p in zip(ids, parts, strict=True) if any(p)]


def assert_matches(env: ServicingEnv, loan_id: int, model: LoanModel) -> None:
    """The ledger's stored loan and lender positions are the model's."""
    loan = env.loan(loan_id)
    assert (
        loan["paidPrincipal"],
        loan["paidInterest"],
        loan["paidPenalty"],
        loan["penaltyAccrued"],
        loan["lastAccrual"],
    ) == (model.paid_principal, model.paid_interest, model.paid_penalty, model.accrued, model.last)
    assert loan["status"] == (STATUS_CLOSED if model.closed else loan["status"])
    ids = [p["memberId"] for p in env.lenders(loan_id)]
    assert env.lenders(loan_id) == model.lender_view(ids)


def repay_and_check(env: ServicingEnv, loan_id: int, model: LoanModel, amount: int) -> Any:
    """Repay `amount`, check allocation, lender credits and the release against the model."""
    receipt = env.repay(loan_id, amount)
    t = env.block_time(receipt)
    to_pen, to_int, to_prin, parts = model.repay(amount, t)
    [paid] = env.events(receipt, "Repaid")
    assert paid == {
        "loanId": loan_id,
        "amount": amount,
        "toPenalty": to_pen,
        "toInterest": to_int,
        "toPrincipal": to_prin,
    }
    ids = [p["memberId"] for p in env.lenders(loan_id)]
    credits = credits_of(env, receipt)
    assert credits == expected_credits(ids, parts)
    assert sum(p + i + q for _, p, i, q in credits) == amount
    released = env.events(receipt, "PrincipalReleased", env.stub)
    loan = env.loan(loan_id)
    if to_prin:
        assert released == [{"lineId": loan["lineId"], "borrower": loan["borrower"], "amount": to_prin}]
    else:
        assert released == []
    assert_matches(env, loan_id, model)
    return receipt


def decoded_revert(exc: Exception) -> tuple[str | None, dict[str, Any]]:
    """(name, args) of the custom error carried by a failed eth_call."""
    data = getattr(exc, "data", None)
    revert = decode_revert(data if isinstance(data, str) else None)
    return revert.name, revert.args_by_name
