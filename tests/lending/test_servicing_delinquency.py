"""LoanLedger delinquency: penalty interest on overdue principal (rate x 1.5), days past due and
the five categories at their boundaries, the collection ladder with its evidence and the default
at arbitration, and governed thresholds — checked against `LoanModel` at the mined block times.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

import client.lending_math as lm
from tests.lending._servicing_helpers import (
    DAY,
    RATE_BP,
    STATUS_CLOSED,
    STATUS_DEFAULTED,
    STEP_ARBITRATION,
    STEP_AUTOMATED,
    STEP_NONE,
    STEP_OUTSOURCED,
    STEP_REMINDER,
    ServicingEnv,
    assert_matches,
    credits_of,
    deploy_servicing,
    evidence,
    repay_and_check,
)

NORMAL, SPECIAL_MENTION, SUBSTANDARD, DOUBTFUL, LOSS = (int(c) for c in lm.Category)


@pytest.fixture(scope="module")
def env(w3: Web3, chain: Any, make_account: Callable[..., LocalAccount]) -> ServicingEnv:
    return deploy_servicing(w3, chain, make_account, "delinquency")


# ------------------------------------------------------------------------------ delinquency


def test_overdue_loan_accrues_penalty_and_moves_through_the_five_categories(env: ServicingEnv) -> None:
    loan_id, _, model = env.open_loan(5_000_000, 10)
    due1 = model.due_time(1)
    # Boundaries, read before any touch: dpd = ceil(seconds late / 1 day).
    for t, dpd, category in (
        (due1, 0, NORMAL),
        (due1 + 1, 1, SPECIAL_MENTION),
        (due1 + 59 * DAY, 59, SPECIAL_MENTION),
        (due1 + 59 * DAY + 1, 60, SUBSTANDARD),
        (due1 + 89 * DAY + 1, 90, DOUBTFUL),
        (due1 + 179 * DAY, 179, DOUBTFUL),
        (due1 + 179 * DAY + 1, 180, LOSS),
    ):
        d, e = env.due_at(loan_id, t), model.dues(t)
        assert (d["daysPastDue"], d["category"]) == (dpd, category) == (e.dpd, model.category(t))
        assert d["penaltyDue"] == e.penalty
    # Penalty = rate x 1.5 a year, per second, on the overdue principal of installment 1.
    overdue = model.rows[0].principal
    assert env.due_at(loan_id, model.due_time(2))["penaltyDue"] == (
        overdue * RATE_BP * 15_000 * 30 * DAY // (10_000 * 10_000 * 365 * DAY)
    )
    seen = []
    for days, category in ((3, SPECIAL_MENTION), (61, SUBSTANDARD), (95, DOUBTFUL), (185, LOSS)):
        env.advance_to(due1 + days * DAY + DAY // 2)
        receipt = env.classify(loan_id)
        t = env.block_time(receipt)
        added = model.touch(t)
        assert model.dues(t).dpd == days + 1
        assert env.events(receipt, "LoanClassified") == [
            {"loanId": loan_id, "daysPastDue": days + 1, "category": category}
        ]
        assert env.events(receipt, "PenaltyAccrued") == [
            {"loanId": loan_id, "amount": added, "total": model.accrued, "timestamp": t}
        ]
        assert env.loan(loan_id)["category"] == category
        assert_matches(env, loan_id, model)
        seen.append(category)
    assert seen == [SPECIAL_MENTION, SUBSTANDARD, DOUBTFUL, LOSS]
    # Same category again: penalty accrues, no LoanClassified.
    receipt = env.classify(loan_id)
    model.touch(env.block_time(receipt))
    assert env.events(receipt, "LoanClassified") == []
    assert_matches(env, loan_id, model)
    # Paying everything due (penalty first) brings it back to Normal at the next classification.
    owed = model.dues(env.now() + 120)
    receipt = repay_and_check(env, loan_id, model, owed.penalty + owed.interest + owed.principal + 500)
    paid = env.events(receipt, "Repaid")[0]
    assert paid["toPenalty"] > 0 and paid["toPenalty"] == model.paid_penalty
    assert sum(c[3] for c in credits_of(env, receipt)) == paid["toPenalty"]
    receipt = env.classify(loan_id)
    model.touch(env.block_time(receipt))
    assert env.events(receipt, "LoanClassified") == [
        {"loanId": loan_id, "daysPastDue": 0, "category": NORMAL}
    ]
    assert_matches(env, loan_id, model)


def test_collection_ladder_moves_forward_by_days_past_due_and_arbitration_defaults(env: ServicingEnv) -> None:
    principal = 1_500_000
    loan_id, _, model = env.open_loan(principal, 5)
    due1 = model.due_time(1)
    step = env.ledger.functions.recordCollectionStep

    def refused(fn: Any, name: str, **args: Any) -> None:
        before = env.state(loan_id)
        err = env.revert_of(env.lead, fn)
        assert (err.name, err.args_by_name) == (name, {"loanId": loan_id, **args})
        assert env.state(loan_id) == before

    def record(s: int, label: str) -> Any:
        receipt = env.send(env.lead, step(loan_id, s, evidence(label)))
        t = env.block_time(receipt)
        model.touch(t)
        assert env.events(receipt, "CollectionStepRecorded") == [
            {
                "loanId": loan_id,
                "step": s,
                "memberId": env.lead.member_id,
                "daysPastDue": model.dues(t).dpd,
                "evidenceHash": evidence(label),
                "timestamp": t,
            }
        ]
        assert env.loan(loan_id)["collectionStep"] == s
        assert_matches(env, loan_id, model)
        return receipt

    refused(
        step(loan_id, STEP_REMINDER, evidence("r")),
        "LoanLedgerStepTooEarly",
        step=STEP_REMINDER,
        dpd=0,
        required=1,
    )
    env.advance_to(due1 + 2 * DAY + DAY // 2)
    record(STEP_REMINDER, "sms reminder sent")
    refused(
        step(loan_id, STEP_REMINDER, evidence("r2")),
        "LoanLedgerStepNotForward",
        current=STEP_REMINDER,
        step=STEP_REMINDER,
    )
    refused(
        step(loan_id, STEP_NONE, evidence("n")),
        "LoanLedgerStepNotForward",
        current=STEP_REMINDER,
        step=STEP_NONE,
    )
    refused(
        step(loan_id, STEP_AUTOMATED, evidence("a")),
        "LoanLedgerStepTooEarly",
        step=STEP_AUTOMATED,
        dpd=3,
        required=15,
    )
    refused(step(loan_id, STEP_AUTOMATED, b"\0" * 32), "LoanLedgerEmptyEvidence")
    env.advance_to(due1 + 60 * DAY + DAY // 2)
    refused(
        step(loan_id, STEP_ARBITRATION, evidence("a")),
        "LoanLedgerStepTooEarly",
        step=STEP_ARBITRATION,
        dpd=61,
        required=90,
    )
    record(STEP_OUTSOURCED, "handed to recovery agency")  # skipping automated collection is allowed
    refused(
        step(loan_id, STEP_AUTOMATED, evidence("a")),
        "LoanLedgerStepNotForward",
        current=STEP_OUTSOURCED,
        step=STEP_AUTOMATED,
    )
    env.advance_to(due1 + 90 * DAY + DAY // 2)
    receipt = record(STEP_ARBITRATION, "case filed with the arbitration commission")
    assert env.events(receipt, "LoanDefaulted") == [
        {"loanId": loan_id, "daysPastDue": 91, "outstandingPrincipal": principal}
    ]
    assert env.loan(loan_id)["status"] == STATUS_DEFAULTED
    refused(
        step(loan_id, STEP_ARBITRATION, evidence("again")),
        "LoanLedgerStepNotForward",
        current=STEP_ARBITRATION,
        step=STEP_ARBITRATION,
    )
    # A defaulted loan still takes recoveries and classification; paid off, it closes.
    repay_and_check(env, loan_id, model, 100_000)
    model.touch(env.block_time(env.classify(loan_id)))
    # Paying the payoff read a moment before the transaction closes the loan unless a fen of
    # penalty accrued in between; either way the ledger agrees with the model.
    repay_and_check(env, loan_id, model, env.due_at(loan_id, env.now())["payoff"])
    assert env.loan(loan_id)["status"] == (STATUS_CLOSED if model.closed else STATUS_DEFAULTED)


def test_governed_parameters_override_the_default_thresholds(env: ServicingEnv) -> None:
    loan_id, _, model = env.open_loan(1_000_000, 5)
    due1 = model.due_time(1)
    assert env.due_at(loan_id, due1 + 30 * DAY)["category"] == SPECIAL_MENTION
    try:
        env.consortium.propose_set_parameter("lending.class.substandardDays", 30)
        env.consortium.propose_set_parameter("lending.collection.reminderDays", 5)
        d = env.due_at(loan_id, due1 + 30 * DAY)
        assert (d["daysPastDue"], d["category"]) == (30, SUBSTANDARD)
        assert d["category"] == model.category(due1 + 30 * DAY, (1, 30, 90, 180))
        env.advance_to(due1 + 3 * DAY + DAY // 2)
        before = env.state(loan_id)
        err = env.revert_of(
            env.lead, env.ledger.functions.recordCollectionStep(loan_id, STEP_REMINDER, evidence("r"))
        )
        assert (err.name, err.args_by_name) == (
            "LoanLedgerStepTooEarly",
            {"loanId": loan_id, "step": STEP_REMINDER, "dpd": 4, "required": 5},
        )
        assert env.state(loan_id) == before
    finally:
        env.consortium.propose_set_parameter("lending.class.substandardDays", 0)
        env.consortium.propose_set_parameter("lending.collection.reminderDays", 0)
    assert env.due_at(loan_id, due1 + 30 * DAY)["category"] == SPECIAL_MENTION
