"""Three institutions over simulated months, through the SDK only (as the banks would run it).

Lead bank + two partners; a WeLoan-style product defined by governance; three borrowers; one pays
on time to closure, one prepays, one stops paying and walks the delinquency ladder to default.
Block time moves with the node's time controls. Every figure is checked against the Python
reference math (client.lending_math), which is the auditor's recomputation.
"""

from __future__ import annotations

import pytest

from client.book import lender_book, portfolio
from client.borrower import borrower_id, national_id_check_char
from client.consortium import Role
from client.errors import ContractRevert
from client.lending import Category, CollectionStep, LendingClient, LoanStatus
from client.lending_math import cumulative, schedule, split_bp
from client.products import weloan_terms
from client.suite import deploy_lending
from client.tx import TransactionPipeline
from tests.conftest import ChainHandle

DAY = 86_400
PERIOD = 30 * DAY
KEY = bytes(range(1, 33))


def _borrower(serial: int) -> bytes:
    first17 = f"44010619900101{serial:03d}"
    return borrower_id(first17 + national_id_check_char(first17), KEY)


@pytest.fixture(scope="module")
def bank(chain: ChainHandle, make_account):  # type: ignore[no-untyped-def]
    lead = make_account("scenario-lead", roles=(Role.LEAD_BANK,))
    pa = make_account("scenario-partner-a", roles=(Role.PARTNER,))
    pb = make_account("scenario-partner-b", roles=(Role.PARTNER,))
    addresses, _ = deploy_lending(chain.admission.pipeline, chain.admission.address)  # type: ignore[arg-type]
    ids = {n: chain.admission.member_id_of(a.address) for n, a in
           (("lead", lead), ("a", pa), ("b", pb))}
    lead_client = LendingClient(chain.w3, addresses, TransactionPipeline(chain.w3, lead))
    terms = weloan_terms(ids["lead"], [ids["a"], ids["b"]], annual_rate_bp=1_800)
    chain.admission.propose_call(addresses.ProductCatalog, lead_client.define_product_call(terms))
    product_id = lead_client.product_count()
    return {
        "lead": lead_client,
        "a": LendingClient(chain.w3, addresses, TransactionPipeline(chain.w3, pa)),
        "b": LendingClient(chain.w3, addresses, TransactionPipeline(chain.w3, pb)),
        "keys": {"a": pa, "b": pb}, "ids": ids, "product": product_id, "terms": terms,
    }


def _draw(bank, borrower: bytes, amount: int, installments: int) -> int:  # type: ignore[no-untyped-def]
    lead: LendingClient = bank["lead"]
    line = lead.open_line(bank["product"], borrower, 10_000_000, 3, b"\x11" * 32)
    drawdown = lead.propose_drawdown(line, amount, installments)
    assert [a for _, a in drawdown.parts] == split_bp(amount, [2_000, 4_000, 4_000])
    signed = {bank["ids"]["a"]: lead.sign_commitment(bank["keys"]["a"], drawdown, bank["ids"]["a"])}
    bank["b"].commit(drawdown.drawdown_id)  # partner B commits by its own transaction
    lead.disburse(drawdown, [bank["ids"]["a"], bank["ids"]["b"]], signed)
    return drawdown.drawdown_id


def test_three_borrowers_over_nine_months_pay_prepay_and_default(chain: ChainHandle, bank) -> None:  # type: ignore[no-untyped-def]
    lead: LendingClient = bank["lead"]
    good, early, bad = _borrower(1), _borrower(2), _borrower(3)
    loan_good = _draw(bank, good, 1_000_001, 5)  # odd amount: the split still sums exactly
    loan_early = _draw(bank, early, 2_000_000, 10)
    loan_bad = _draw(bank, bad, 3_000_000, 10)
    assert lead.virtual_balance(good) == 1_000_001
    assert lead.borrower_exposure(bad) == 3_000_000

    rows_good = schedule(1_000_001, 1_800, 5)
    rows_bad = schedule(3_000_000, 1_800, 10)
    paid_by_borrowers = 0
    for month in range(1, 10):
        chain.increase_time(PERIOD)
        if month <= 5:
            r = lead.repay(loan_good, rows_good[month - 1].installment)
            assert (r.to_principal, r.to_interest, r.to_penalty) == (
                rows_good[month - 1].principal, rows_good[month - 1].interest, 0)
            assert sum(p + i + pen for _, p, i, pen in r.lender_credits) == r.amount
            paid_by_borrowers += r.amount
        if month <= 2:
            r = lead.repay(loan_bad, rows_bad[month - 1].installment)
            paid_by_borrowers += r.amount
        if month == 2:
            dues = lead.due_at(loan_early, int(chain.w3.eth.get_block("latest")["timestamp"]))
            r = lead.repay(loan_early, dues["payoff"])
            # Two installments due and the running period's interest; later interest is waived.
            assert r.to_interest == cumulative(2_000_000, 1_800, 10, 3)[1]
            assert r.to_principal == 2_000_000 and r.to_penalty == dues["penaltyDue"] > 0
            assert lead.loan(loan_early).status == LoanStatus.CLOSED
            paid_by_borrowers += r.amount
            with pytest.raises(ContractRevert):
                lead.repay(loan_early, 1)  # closed loans take no more money
        lead.classify(loan_bad)

    good_loan = lead.loan(loan_good)
    assert good_loan.status == LoanStatus.CLOSED
    for position, lent in zip(good_loan.lenders, split_bp(1_000_001, [2_000, 4_000, 4_000]), strict=True):
        assert position.principal_lent == lent and position.principal_outstanding == 0
    assert sum(p.interest_received for p in good_loan.lenders) == sum(r.interest for r in rows_good)

    # The bad loan: installment 3 fell due in month 3 and is unpaid => >180 days past due in month 9.
    bad_loan = lead.loan(loan_bad)
    assert bad_loan.category == Category.LOSS
    assert int(bad_loan.fields["penaltyAccrued"]) > 0
    for step in (CollectionStep.REMINDER, CollectionStep.AUTOMATED_COLLECTION,
                 CollectionStep.OUTSOURCED_RECOVERY, CollectionStep.ARBITRATION):
        lead.record_collection_step(loan_bad, step, b"\x22" * 32)
    assert lead.loan(loan_bad).status == LoanStatus.DEFAULTED

    book = portfolio(lead)
    outstanding_bad = 3_000_000 - rows_bad[0].principal - rows_bad[1].principal
    assert book.outstanding >= outstanding_bad and book.non_performing >= outstanding_bad
    partner_a = lender_book(lead, bank["ids"]["a"])
    assert partner_a.by_category[Category.LOSS] == bad_loan.lenders[1].principal_outstanding
    credited = sum(p.interest_received + p.penalty_received + p.principal_lent - p.principal_outstanding
                   for loan in (loan_good, loan_early, loan_bad) for p in lead.loan(loan).lenders)
    assert credited == paid_by_borrowers  # lenders received exactly what borrowers paid
