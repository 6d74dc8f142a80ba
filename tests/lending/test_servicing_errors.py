"""LoanLedger bad input: every refusal is a named custom error with the wrong values, raised at
estimation and again by the mined transaction, and changes nothing (loan, lenders, virtual
account, loan count, principal releases).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractCustomError

import client.lending_math as lm
from tests.lending._servicing_helpers import (
    STEP_REMINDER,
    ServicingEnv,
    borrower_id,
    decoded_revert,
    deploy_servicing,
    evidence,
)

NORMAL, SPECIAL_MENTION, SUBSTANDARD, DOUBTFUL, LOSS = (int(c) for c in lm.Category)


@pytest.fixture(scope="module")
def env(w3: Web3, chain: Any, make_account: Callable[..., LocalAccount]) -> ServicingEnv:
    return deploy_servicing(w3, chain, make_account, "errors")


# ------------------------------------------------------------------------------ bad input


def test_unknown_loan_reverts_with_LoanLedgerUnknownLoan(env: ServicingEnv) -> None:
    missing = 10_000_000
    for actor, fn in (
        (env.lead, env.ledger.functions.repay(missing, 1)),
        (env.auditor, env.ledger.functions.classify(missing)),
        (env.lead, env.ledger.functions.recordCollectionStep(missing, STEP_REMINDER, evidence("x"))),
    ):
        before = env.state()
        err = env.revert_of(actor, fn)
        assert (err.name, err.args_by_name) == ("LoanLedgerUnknownLoan", {"loanId": missing})
        assert env.state() == before
    for fn in (
        env.ledger.functions.loan(missing),
        env.ledger.functions.lenders(missing),
        env.ledger.functions.dueAt(missing, env.now()),
    ):
        with pytest.raises(ContractCustomError) as info:
            fn.call()
        assert decoded_revert(info.value) == ("LoanLedgerUnknownLoan", {"loanId": missing})


def test_open_loan_not_from_credit_lines_reverts_with_LoanLedgerUnauthorized(env: ServicingEnv) -> None:
    before = env.state()
    fn = env.open_fn(env.next_loan_id(), 100_000, 5, via=env.ledger)
    err = env.revert_of(env.governor, fn)
    assert (err.name, err.args_by_name) == ("LoanLedgerUnauthorized", {"caller": env.governor.address})
    assert env.state() == before


def test_bad_open_loan_arguments_revert_with_their_errors(env: ServicingEnv) -> None:
    existing, _, _ = env.open_loan(100_000, 5)
    lead, p1 = env.lead.member_id, env.partner1.member_id
    fresh = env.next_loan_id()
    cases = [
        (env.open_fn(existing, 100_000, 5), "LoanLedgerLoanExists", {"loanId": existing}),
        (
            env.open_fn(fresh, 100_000, 5, parts=[(lead, 20_000), (p1, 79_999)]),
            "LoanLedgerPartsNotWhole",
            {"sum": 99_999, "principal": 100_000},
        ),
        (
            env.open_fn(fresh, 100_000, 5, parts=[(lead, 20_000), (p1, 80_001)]),
            "LoanLedgerPartsNotWhole",
            {"sum": 100_001, "principal": 100_000},
        ),
        (
            env.open_fn(fresh, 100_000, 5, parts=[(p1, 80_000), (lead, 20_000)]),
            "LoanLedgerLeadNotFirst",
            {"leadMemberId": lead, "firstMemberId": p1},
        ),
        (
            env.open_fn(fresh, 0, 5, parts=[(lead, 0)]),
            "LoanLedgerInvalidTerms",
            {"principal": 0, "installments": 5, "lenders": 1},
        ),
        (
            env.open_fn(fresh, 2**48, 5, parts=[(lead, 2**48)]),
            "LoanLedgerInvalidTerms",
            {"principal": 2**48, "installments": 5, "lenders": 1},
        ),
        (
            env.open_fn(fresh, 100_000, 0),
            "LoanLedgerInvalidTerms",
            {"principal": 100_000, "installments": 0, "lenders": 3},
        ),
        (
            env.open_fn(fresh, 100_000, 61),
            "LoanLedgerInvalidTerms",
            {"principal": 100_000, "installments": 61, "lenders": 3},
        ),
        (
            env.open_fn(fresh, 100_000, 5, parts=[]),
            "LoanLedgerInvalidTerms",
            {"principal": 100_000, "installments": 5, "lenders": 0},
        ),
    ]
    borrower = borrower_id(f"loan-{fresh}")
    for fn, name, args in cases:
        before = env.state(existing, borrower)
        err = env.revert_of(env.governor, fn)
        assert (err.name, err.args_by_name) == (name, args)
        assert env.state(existing, borrower) == before


def test_repay_and_collection_by_anyone_but_the_loans_lead_revert_with_LoanLedgerUnauthorized(
    env: ServicingEnv,
) -> None:
    loan_id, _, _ = env.open_loan(500_000, 5)
    # A loan whose lead (partner1) lacks the LeadBank role: not even its lead may act.
    odd_id, _, _ = env.open_loan(
        500_000,
        5,
        lead_id=env.partner1.member_id,
        parts=[(env.partner1.member_id, 100_000), (env.partner2.member_id, 400_000)],
    )
    cases = [(loan_id, a) for a in (env.other_lead, env.partner1, env.auditor, env.governor, env.outsider)]
    cases.append((odd_id, env.partner1))
    for target, actor in cases:
        for fn in (
            env.ledger.functions.repay(target, 1_000),
            env.ledger.functions.recordCollectionStep(target, STEP_REMINDER, evidence("x")),
        ):
            before = env.state(target)
            err = env.revert_of(actor, fn)
            assert (err.name, err.args_by_name) == ("LoanLedgerUnauthorized", {"caller": actor.address})
            assert env.state(target) == before


def test_classify_by_a_non_member_reverts_with_LoanLedgerUnauthorized(env: ServicingEnv) -> None:
    loan_id, _, _ = env.open_loan(500_000, 5)
    before = env.state(loan_id)
    err = env.revert_of(env.outsider, env.ledger.functions.classify(loan_id))
    assert (err.name, err.args_by_name) == ("LoanLedgerUnauthorized", {"caller": env.outsider.address})
    assert env.state(loan_id) == before
    env.classify(loan_id, env.partner2)  # any active member may classify


def test_zero_repayment_reverts_with_LoanLedgerZeroAmount(env: ServicingEnv) -> None:
    loan_id, _, _ = env.open_loan(500_000, 5)
    before = env.state(loan_id)
    err = env.revert_of(env.lead, env.ledger.functions.repay(loan_id, 0))
    assert (err.name, err.args_by_name) == ("LoanLedgerZeroAmount", {"loanId": loan_id})
    assert env.state(loan_id) == before


def test_due_at_before_the_last_accrual_reverts_with_LoanLedgerTimeBeforeAccrual(env: ServicingEnv) -> None:
    loan_id, receipt, _ = env.open_loan(500_000, 5)
    start = env.block_time(receipt)
    env.advance_to(start + 10)
    last = env.block_time(env.classify(loan_id))
    with pytest.raises(ContractCustomError) as info:
        env.ledger.functions.dueAt(loan_id, last - 1).call()
    assert decoded_revert(info.value) == (
        "LoanLedgerTimeBeforeAccrual",
        {"loanId": loan_id, "timestamp": last - 1, "lastAccrual": last},
    )
    assert env.due_at(loan_id, last)["payoff"] > 0
