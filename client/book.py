"""A lender's book and the portfolio's NPL ratio, computed from the ledger's views.

Classification is as of each loan's last `classify` (the chain's record); call
`LendingClient.classify` first for a fresh reading. Ratios are exact fractions, shown in basis
points — no floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from client.lending import Category, LendingClient, LoanStatus

__all__ = ["Book", "Portfolio", "lender_book", "portfolio"]

NON_PERFORMING = frozenset({Category.SUBSTANDARD, Category.DOUBTFUL, Category.LOSS})


@dataclass(frozen=True)
class Book:
    """One lender's outstanding principal, by five-category classification (fen)."""

    member_id: int
    by_category: dict[Category, int] = field(default_factory=dict)
    loans: int = 0

    @property
    def outstanding(self) -> int:
        return sum(self.by_category.values())


@dataclass(frozen=True)
class Portfolio:
    outstanding: int
    non_performing: int
    by_category: dict[Category, int]
    loans_active: int
    loans_closed: int
    loans_defaulted: int

    @property
    def npl_ratio(self) -> Fraction:
        return Fraction(self.non_performing, self.outstanding) if self.outstanding else Fraction(0)

    @property
    def npl_ratio_bp(self) -> int:
        """NPL ratio in basis points, rounded half up."""
        return int(self.npl_ratio * 10_000 + Fraction(1, 2))


def lender_book(client: LendingClient, member_id: int) -> Book:
    totals = {c: 0 for c in Category}
    count = 0
    for loan_id in client.loan_ids():
        info = client.loan(loan_id)
        for position in info.lenders:
            if position.member_id == member_id and position.principal_outstanding:
                totals[info.category] += position.principal_outstanding
                count += 1
    return Book(member_id, totals, count)


def portfolio(client: LendingClient) -> Portfolio:
    totals = {c: 0 for c in Category}
    status_counts = {s: 0 for s in LoanStatus}
    for loan_id in client.loan_ids():
        info = client.loan(loan_id)
        status_counts[info.status] += 1
        totals[info.category] += info.outstanding_principal
    outstanding = sum(totals.values())
    non_performing = sum(v for c, v in totals.items() if c in NON_PERFORMING)
    return Portfolio(outstanding, non_performing, totals, status_counts[LoanStatus.ACTIVE],
                     status_counts[LoanStatus.CLOSED], status_counts[LoanStatus.DEFAULTED])
