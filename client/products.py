"""Loan product terms: the Python shape of `ProductCatalog.ProductTerms`, with a WeLoan preset."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from client.errors import CoLedgerValueError

__all__ = ["BP", "ProductTerms", "counts_mask", "counts_from_mask", "weloan_terms"]

BP = 10_000
_MAX_COUNT = 60


def counts_mask(counts: Iterable[int]) -> int:
    """Bitmask with bit n set for every allowed installment count n."""
    mask = 0
    for n in counts:
        if not 1 <= n <= _MAX_COUNT:
            raise CoLedgerValueError(f"installment count {n} is outside 1..{_MAX_COUNT}")
        mask |= 1 << n
    return mask


def counts_from_mask(mask: int) -> frozenset[int]:
    return frozenset(n for n in range(1, _MAX_COUNT + 1) if mask & (1 << n))


@dataclass(frozen=True)
class ProductTerms:
    """A lending product. Amounts in fen, rates and shares in basis points."""

    name: str
    annual_rate_bp: int
    lead_share_bp: int
    penalty_surcharge_bp: int
    installment_counts: frozenset[int]
    single_draw_cap: int
    ceiling_min: int
    ceiling_max: int
    lead_member_id: int
    partner_ids: tuple[int, ...]
    partner_shares_bp: tuple[int, ...]

    def validate(self) -> None:
        """The contract's own checks, run before anything is signed; names what is wrong."""
        if not self.name.strip():
            raise CoLedgerValueError("product name is empty")
        if len(self.partner_ids) != len(self.partner_shares_bp):
            raise CoLedgerValueError(
                f"{len(self.partner_ids)} partners but {len(self.partner_shares_bp)} shares"
            )
        total = self.lead_share_bp + sum(self.partner_shares_bp)
        if total != BP:
            raise CoLedgerValueError(f"lead and partner shares sum to {total} bp, not {BP}")
        if len(set(self.partner_ids)) != len(self.partner_ids) or self.lead_member_id in self.partner_ids:
            raise CoLedgerValueError("partners must be distinct members other than the lead")
        if not 0 < self.ceiling_min <= self.ceiling_max:
            raise CoLedgerValueError(
                f"credit ceiling range {self.ceiling_min}..{self.ceiling_max} fen is empty"
            )
        if not 0 < self.single_draw_cap <= self.ceiling_max:
            raise CoLedgerValueError(
                f"single-draw cap {self.single_draw_cap} fen must be in 1..ceiling max"
            )
        if not self.installment_counts:
            raise CoLedgerValueError("no installment count allowed")
        counts_mask(self.installment_counts)
        for field, value, bound in (("annual rate", self.annual_rate_bp, 100_000),
                                    ("penalty surcharge", self.penalty_surcharge_bp, 65_535)):
            if not 0 <= value <= bound:
                raise CoLedgerValueError(f"{field} {value} bp is outside 0..{bound}")
        for amount in (self.single_draw_cap, self.ceiling_min, self.ceiling_max):
            if amount >= 2**64:
                raise CoLedgerValueError(f"amount {amount} fen does not fit uint64")

    def as_abi(self) -> tuple[Any, ...]:
        self.validate()
        return (
            self.name, self.annual_rate_bp, self.lead_share_bp, self.penalty_surcharge_bp,
            counts_mask(self.installment_counts), self.single_draw_cap, self.ceiling_min,
            self.ceiling_max, self.lead_member_id, list(self.partner_ids),
            list(self.partner_shares_bp),
        )

    @classmethod
    def from_abi(cls, raw: Any) -> ProductTerms:
        (name, rate, lead_share, surcharge, mask, cap, cmin, cmax, lead, partners, shares) = raw
        return cls(name, rate, lead_share, surcharge, counts_from_mask(mask), cap, cmin, cmax,
                   lead, tuple(partners), tuple(shares))


def weloan_terms(lead_member_id: int, partner_ids: Iterable[int], name: str = "WeLoan-style consumer",
                 annual_rate_bp: int = 1_800) -> ProductTerms:
    """WeLoan-like terms: 40,000 RMB single draw, 5,000-300,000 RMB ceiling, 5/10/20 installments,
    lead bank 20%, the partners share 80% (evenly, remainder to the first), 50% penalty surcharge."""
    partners = tuple(partner_ids)
    if not partners:
        raise CoLedgerValueError("a co-lending product needs at least one partner")
    each, rest = divmod(BP - 2_000, len(partners))
    shares = tuple(each + (1 if i < rest else 0) for i in range(len(partners)))
    return ProductTerms(
        name=name, annual_rate_bp=annual_rate_bp, lead_share_bp=2_000, penalty_surcharge_bp=5_000,
        installment_counts=frozenset({5, 10, 20}), single_draw_cap=4_000_000,
        ceiling_min=500_000, ceiling_max=30_000_000, lead_member_id=lead_member_id,
        partner_ids=partners, partner_shares_bp=shares,
    )
