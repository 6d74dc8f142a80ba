"""LoanLedger servicing: opening, the repayment waterfall and prepayment, payoff, exact pro-rata
lender credits and conservation of money — on a ledger whose CreditLines is `CreditLinesStub`,
so origination is not needed. Delinquency is in test_servicing_delinquency.py, bad input in
test_servicing_errors.py.

Expected figures come from `LoanModel` (tests/lending/_servicing_helpers.py), which restates the
rules of `ILoanLedger` in Python on top of `client.lending_math`, fed with the block times of the
transactions actually mined. Time moves with `evm_increaseTime` on both backends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

import client.lending_math as lm
from tests.lending._servicing_helpers import (
    DAY,
    RATE_BP,
    STATUS_ACTIVE,
    STATUS_CLOSED,
    STEP_NONE,
    STEP_REMINDER,
    SURCHARGE_BP,
    ServicingEnv,
    assert_matches,
    borrower_id,
    credits_of,
    deploy_servicing,
    evidence,
    parts_of,
    repay_and_check,
)

NORMAL, SPECIAL_MENTION, SUBSTANDARD, DOUBTFUL, LOSS = (int(c) for c in lm.Category)


@pytest.fixture(scope="module")
def env(w3: Web3, chain: Any, make_account: Callable[..., LocalAccount]) -> ServicingEnv:
    return deploy_servicing(w3, chain, make_account, "repay")


GAS: dict[str, int] = {}


# ------------------------------------------------------------------------------ opening


def test_open_loan_records_terms_lenders_and_credits_the_virtual_account(env: ServicingEnv) -> None:
    borrower = borrower_id("open-test")
    count = env.ledger.functions.loanCount().call()
    loan_id, receipt, model = env.open_loan(1_000_000, 5, borrower=borrower)
    t = env.block_time(receipt)
    parts = env.parts(1_000_000)
    assert parts == [
        (env.lead.member_id, 200_000),
        (env.partner1.member_id, 400_000),
        (env.partner2.member_id, 400_000),
    ]
    assert env.event_names(receipt) == ["LoanOpened", "VirtualAccountCredited"]
    [opened] = env.events(receipt, "LoanOpened")
    assert parts_of(opened.pop("parts")) == parts
    assert opened == {
        "loanId": loan_id,
        "borrower": borrower,
        "lineId": 7,
        "productId": 3,
        "principal": 1_000_000,
        "annualRateBp": RATE_BP,
        "penaltySurchargeBp": SURCHARGE_BP,
        "installments": 5,
        "leadMemberId": env.lead.member_id,
        "start": t,
    }
    assert env.events(receipt, "VirtualAccountCredited") == [
        {"borrower": borrower, "loanId": loan_id, "amount": 1_000_000}
    ]
    assert env.loan(loan_id) == {
        "borrower": borrower,
        "lineId": 7,
        "productId": 3,
        "principal": 1_000_000,
        "annualRateBp": RATE_BP,
        "penaltySurchargeBp": SURCHARGE_BP,
        "installments": 5,
        "start": t,
        "leadMemberId": env.lead.member_id,
        "status": STATUS_ACTIVE,
        "category": NORMAL,
        "collectionStep": STEP_NONE,
        "paidPrincipal": 0,
        "paidInterest": 0,
        "paidPenalty": 0,
        "penaltyAccrued": 0,
        "lastAccrual": t,
    }
    assert env.lenders(loan_id) == model.lender_view([m for m, _ in parts])
    assert env.ledger.functions.virtualBalance(borrower).call() == 1_000_000
    assert env.ledger.functions.loanCount().call() == count + 1
    # A second drawdown of the same borrower adds to the same virtual account.
    env.open_loan(250_000, 10, borrower=borrower, parts=env.parts(250_000, (2000, 8000)))
    assert env.ledger.functions.virtualBalance(borrower).call() == 1_250_000
    assert env.ledger.functions.loanCount().call() == count + 2
    assert env.ledger.functions.creditLines().call() == env.stub.address
    assert env.ledger.functions.consortium().call() == env.consortium.address


def test_gas_of_open_loan_repay_and_classify(env: ServicingEnv) -> None:
    """openLoan is part of the drawdown budget: it must stay lean (figures printed with -s)."""
    for lenders, shares in ((2, (2000, 8000)), (4, (2000, 2000, 3000, 3000)), (3, (2000, 4000, 4000))):
        loan_id, receipt, model = env.open_loan(4_000_000, 10, parts=env.parts(4_000_000, shares))
        [inner] = env.events(receipt, "OpenLoanGas", env.stub)
        GAS[f"openLoan {lenders} lenders, new borrower (inside the call)"] = inner["gasUsed"]
        GAS[f"openLoan {lenders} lenders, whole stub tx"] = receipt["gasUsed"]
    same = env.open_loan(4_000_000, 10, borrower=borrower_id(f"loan-{loan_id}"))[1]
    GAS["openLoan 3 lenders, existing borrower (inside the call)"] = env.events(
        same, "OpenLoanGas", env.stub
    )[0]["gasUsed"]
    assert GAS["openLoan 3 lenders, new borrower (inside the call)"] < 125_000
    for i in (1, 2):
        env.advance_to(model.due_time(i) - DAY)
        row = model.rows[i - 1]
        GAS[f"repay installment {i} (3 lenders)"] = env.repay(loan_id, row.installment)["gasUsed"]
    GAS["classify (no change)"] = env.classify(loan_id)["gasUsed"]
    env.advance_to(model.due_time(3) + 5 * DAY)
    GAS["classify (Normal -> SpecialMention, penalty accrued)"] = env.classify(loan_id)["gasUsed"]
    GAS["repay overdue installment with penalty"] = env.repay(loan_id, model.rows[2].installment + 10_000)[
        "gasUsed"
    ]
    code = env.w3.eth.get_code(env.ledger.address)
    GAS["LoanLedger deployed code size (bytes)"] = len(code)
    assert len(code) < 24_576
    print("\nLoanLedger gas:")
    for name, value in GAS.items():
        print(f"  {name:60s} {value:>8,}")


# ------------------------------------------------------------------------------ repayment


@pytest.mark.parametrize("installments", [5, 10])
def test_installments_paid_on_time_close_the_loan_with_every_lender_whole(
    env: ServicingEnv, installments: int
) -> None:
    principal = 3_456_789
    loan_id, _, model = env.open_loan(principal, installments)
    total_interest = sum(r.interest for r in model.rows)
    receipt = None
    for i, row in enumerate(model.rows, start=1):
        env.advance_to(model.due_time(i) - DAY)
        receipt = repay_and_check(env, loan_id, model, row.installment)
        assert env.events(receipt, "Repaid")[0]["toPenalty"] == 0
        assert (model.paid_interest, model.paid_principal) == tuple(reversed(model.cum(i)))
    assert receipt is not None and env.events(receipt, "LoanClosed") == [
        {"loanId": loan_id, "timestamp": env.block_time(receipt)}
    ]
    loan = env.loan(loan_id)
    assert (loan["status"], loan["paidPrincipal"], loan["paidInterest"], loan["paidPenalty"]) == (
        STATUS_CLOSED,
        principal,
        total_interest,
        0,
    )
    positions = env.lenders(loan_id)
    assert all(p["principalOutstanding"] == 0 for p in positions)
    assert sum(p["interestReceived"] for p in positions) == total_interest
    for position, lent in zip(positions, model.lent, strict=True):  # each split rounds by < 1 fen
        assert (
            abs(position["interestReceived"] * principal - total_interest * lent) <= installments * principal
        )
    assert env.stub.functions.released(loan["lineId"], loan["borrower"]).call() == principal
    assert env.due_at(loan_id, env.now()) == {
        "penaltyDue": 0,
        "interestDue": 0,
        "principalDue": 0,
        "payoff": 0,
        "daysPastDue": 0,
        "category": NORMAL,
    }


def test_partial_repayment_pays_interest_first_and_one_fen_short_stays_past_due(env: ServicingEnv) -> None:
    loan_id, _, model = env.open_loan(2_000_000, 5)
    first = model.rows[0]
    env.advance_to(model.due_time(1))
    repay_and_check(env, loan_id, model, first.interest // 2)
    assert model.paid_principal == 0
    t = env.now()
    due = env.due_at(loan_id, t)
    expected = model.dues(t)
    assert (due["interestDue"], due["principalDue"], due["penaltyDue"], due["payoff"]) == (
        expected.interest,
        expected.principal,
        expected.penalty,
        expected.payoff,
    )
    assert due["interestDue"] == first.interest - first.interest // 2
    # Everything due but one fen: the first installment is still unpaid, so the loan is past due.
    short = expected.penalty + expected.interest + expected.principal - 1
    repay_and_check(env, loan_id, model, short)
    env.advance_to(model.due_time(1) + 2 * DAY + DAY // 2)
    receipt = env.classify(loan_id)
    t = env.block_time(receipt)
    model.touch(t)
    assert model.dues(t).dpd == 3
    assert env.events(receipt, "LoanClassified") == [
        {"loanId": loan_id, "daysPastDue": 3, "category": SPECIAL_MENTION}
    ]
    assert_matches(env, loan_id, model)


def test_prepayment_pays_running_interest_then_future_principal_in_order(env: ServicingEnv) -> None:
    loan_id, _, model = env.open_loan(2_000_000, 5)
    r = model.rows
    extra = r[0].principal + r[1].principal + 1_000
    receipt = repay_and_check(env, loan_id, model, r[0].interest + extra)
    assert env.events(receipt, "Repaid")[0]["toInterest"] == r[0].interest
    assert env.events(receipt, "Repaid")[0]["toPrincipal"] == extra
    # Installments 1 and 2 are covered in principal; installment 2's scheduled interest stays due.
    at2 = env.due_at(loan_id, model.due_time(2))
    assert (at2["principalDue"], at2["interestDue"], at2["daysPastDue"]) == (0, r[1].interest, 0)
    at3 = env.due_at(loan_id, model.due_time(3) + 1)
    assert (at3["principalDue"], at3["interestDue"]) == (
        r[2].principal - 1_000,
        r[1].interest + r[2].interest,
    )
    for t in (model.due_time(1), model.due_time(2) + 1, model.due_time(3) + 1, model.due_time(5) + 7 * DAY):
        d, e = env.due_at(loan_id, t), model.dues(t)
        assert (d["penaltyDue"], d["interestDue"], d["principalDue"], d["payoff"], d["daysPastDue"]) == (
            e.penalty,
            e.interest,
            e.principal,
            e.payoff,
            e.dpd,
        )
    # No penalty runs while prepaid principal covers the due installments.
    assert at3["penaltyDue"] == 0 and model.dues(model.due_time(2) + 10 * DAY).penalty == 0


def test_payoff_closes_the_loan_waives_later_interest_and_refuses_more(env: ServicingEnv) -> None:
    principal = 3_000_000
    loan_id, _, model = env.open_loan(principal, 10)
    env.advance_to(model.due_time(1) - DAY)
    repay_and_check(env, loan_id, model, model.rows[0].installment)
    env.advance_to(model.due_time(1) + 5 * DAY)
    payoff = env.due_at(loan_id, env.now())["payoff"]
    assert payoff == model.dues(env.now()).payoff == model.rows[1].interest + principal - model.paid_principal
    borrower = env.loan(loan_id)["borrower"]
    before = env.state(loan_id, borrower)
    err = env.revert_of(env.lead, env.ledger.functions.repay(loan_id, payoff + 1))
    assert (err.name, err.args_by_name) == (
        "LoanLedgerRepaymentExceedsPayoff",
        {"loanId": loan_id, "amount": payoff + 1, "payoff": payoff},
    )
    assert env.state(loan_id, borrower) == before
    receipt = repay_and_check(env, loan_id, model, payoff)
    assert env.event_names(receipt)[-1] == "LoanClosed"
    loan = env.loan(loan_id)
    assert loan["status"] == STATUS_CLOSED
    assert loan["paidInterest"] == model.rows[0].interest + model.rows[1].interest
    assert loan["paidInterest"] < sum(r.interest for r in model.rows)  # later interest waived
    assert [p["principalOutstanding"] for p in env.lenders(loan_id)] == [0, 0, 0]
    assert env.stub.functions.released(loan["lineId"], borrower).call() == principal
    for fn, actor in (
        (env.ledger.functions.repay(loan_id, 1), env.lead),
        (env.ledger.functions.classify(loan_id), env.auditor),
        (env.ledger.functions.recordCollectionStep(loan_id, STEP_REMINDER, evidence("x")), env.lead),
    ):
        before = env.state(loan_id, borrower)
        err = env.revert_of(actor, fn)
        assert (err.name, err.args_by_name) == ("LoanLedgerLoanClosed", {"loanId": loan_id})
        assert env.state(loan_id, borrower) == before


# ------------------------------------------------------------------------------ conservation


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    principal=st.integers(10_000, 5_000_000),
    installments=st.sampled_from([5, 10, 20]),
    shares=st.sampled_from(
        [(2000, 8000), (2000, 4000, 4000), (2000, 3000, 5000), (3333, 3333, 3334), (2000, 2000, 3000, 3000)]
    ),
    steps=st.lists(st.tuples(st.integers(0, 40), st.integers(1, 1000)), min_size=1, max_size=5),
)
def test_repayment_sequences_conserve_money_and_never_overpay_principal(
    env: ServicingEnv,
    principal: int,
    installments: int,
    shares: tuple[int, ...],
    steps: list[tuple[int, int]],
) -> None:
    loan_id, _, model = env.open_loan(principal, installments, parts=env.parts(principal, shares))
    paid = credited = 0
    for days, permille in steps:
        if model.closed:
            break
        env.advance_to(env.now() + days * DAY + 1)
        payoff = env.due_at(loan_id, env.now())["payoff"]
        amount = max(1, payoff * permille // 1000)  # payoff never falls as time passes
        receipt = repay_and_check(env, loan_id, model, amount)
        paid += amount
        credited += sum(p + i + q for _, p, i, q in credits_of(env, receipt))
    assert credited == paid == model.paid_principal + model.paid_interest + model.paid_penalty
    for position in env.lenders(loan_id):
        assert 0 <= position["principalOutstanding"] <= position["principalLent"]
    assert env.loan(loan_id)["status"] == (STATUS_CLOSED if model.closed else STATUS_ACTIVE)
