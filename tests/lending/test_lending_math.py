"""Property tests of `client.lending_math` (the Python mirror of `LendingMath.sol`).

What is true of the schedule's installments (derived here, tested below): with r = rate / 120000
and A the exact real annuity payment, let delta = payment - A and G = sum_{j<n} (1+r)^j. If no row
before the last was clamped by the balance, every row i < n pays exactly `payment`, and the last
pays payment - delta*G - sum_i e_i (1+r)^(n-i) where e_i in [0, 1) is the floor of row i's
interest — i.e. last in (payment - (delta + 1)*G, payment - delta*G]. `payment` is rounded up, so
delta >= 0 except for the 1e-18 lost by flooring the periodic rate: for every real product the last
installment is at most `payment` (tested), and it may only exceed it at absurd amounts and rates
(e.g. P near 2^64 at 650% a year, by a few fen). When the balance runs out before row n (tiny
principals, or zero rate), the rows after pay principal 0.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from client.errors import CoLedgerValueError
from client.lending_math import (
    BP,
    DEFAULT_THRESHOLDS,
    MAX_AMOUNT,
    MAX_ELAPSED,
    MAX_RATE_BP,
    PERIOD,
    Allocation,
    Category,
    LendingMathAmountTooLarge,
    LendingMathBadInstallments,
    LendingMathBadThresholds,
    LendingMathElapsedTooLong,
    LendingMathIndexOutOfRange,
    LendingMathNoParties,
    LendingMathNotUint,
    LendingMathRateTooHigh,
    LendingMathSharesNotWhole,
    LendingMathSurchargeTooHigh,
    LendingMathWeightTooLarge,
    LendingMathZeroWeights,
    allocate,
    annuity_payment,
    classify,
    cumulative,
    days_past_due,
    penalty,
    period_interest,
    schedule,
    schedule_row,
    split,
    split_bp,
)

amounts = st.integers(0, MAX_AMOUNT)
small_amounts = st.integers(0, 10**12)
rates = st.integers(0, MAX_RATE_BP)
counts = st.integers(1, 60)
weights_lists = st.lists(st.integers(0, MAX_AMOUNT), min_size=1, max_size=12).filter(any)


def _bp_shares(draw: st.DrawFn, size: int) -> list[int]:
    cuts = sorted(draw(st.lists(st.integers(0, BP), min_size=size - 1, max_size=size - 1)))
    edges = [0, *cuts, BP]
    return [b - a for a, b in zip(edges, edges[1:], strict=False)]


@st.composite
def bp_shares(draw: st.DrawFn) -> list[int]:
    return _bp_shares(draw, draw(st.integers(1, 8)))


# ---------------------------------------------------------------------------------- split


@given(amounts, weights_lists)
def test_split_any_weights_sums_to_amount_and_each_part_within_one_of_quotient(
    amount: int, weights: list[int]
) -> None:
    parts = split(amount, weights)
    total = sum(weights)
    assert sum(parts) == amount
    for part, w in zip(parts, weights, strict=True):
        exact = Fraction(amount * w, total)
        assert exact - 1 < part < exact + 1
        assert part in (amount * w // total, -(-amount * w // total))


@given(amounts, weights_lists)
def test_split_zero_weight_party_gets_zero(amount: int, weights: list[int]) -> None:
    weights = [*weights, 0]
    assert split(amount, weights)[-1] == 0
    assert all(p == 0 for p, w in zip(split(amount, weights), weights, strict=True) if w == 0)


@given(weights_lists, st.data())
def test_split_by_outstanding_with_amount_at_most_total_never_exceeds_a_weight(
    weights: list[int], data: st.DataObject
) -> None:
    amount = data.draw(st.integers(0, min(sum(weights), MAX_AMOUNT)))
    assert all(p <= w for p, w in zip(split(amount, weights), weights, strict=True))


@given(amounts, weights_lists)
def test_split_extras_go_to_largest_remainders_lower_index_first(amount: int, weights: list[int]) -> None:
    total = sum(weights)
    parts = split(amount, weights)
    got = [i for i, (p, w) in enumerate(zip(parts, weights, strict=True)) if p != amount * w // total]
    rems = [amount * w % total for w in weights]
    ranked = sorted(range(len(weights)), key=lambda i: (-rems[i], i))
    assert sorted(got) == sorted(ranked[: len(got)])


def test_split_equal_thirds_gives_the_remainder_to_lower_indices() -> None:
    assert split(100, [1, 1, 1]) == [34, 33, 33]
    assert split_bp(10_001, [2000, 4000, 4000]) == [2000, 4001, 4000]


@given(amounts, bp_shares())
def test_split_bp_whole_shares_sum_to_amount_and_match_split(amount: int, shares: list[int]) -> None:
    assert split_bp(amount, shares) == split(amount, shares)
    assert sum(split_bp(amount, shares)) == amount


def test_split_bad_inputs_raise_the_named_errors() -> None:
    with pytest.raises(LendingMathNoParties):
        split(1, [])
    with pytest.raises(LendingMathZeroWeights):
        split(1, [0, 0])
    with pytest.raises(LendingMathAmountTooLarge) as too_large:
        split(MAX_AMOUNT + 1, [1])
    assert too_large.value.args_by_name == {"amount": MAX_AMOUNT + 1}
    with pytest.raises(LendingMathWeightTooLarge) as heavy:
        split(1, [1, MAX_AMOUNT + 1])
    assert heavy.value.args_by_name == {"weight": MAX_AMOUNT + 1}
    with pytest.raises(LendingMathSharesNotWhole) as not_whole:
        split_bp(1, [2000, 4000, 3999])
    assert not_whole.value.args_by_name == {"sum": 9999}
    with pytest.raises(LendingMathNoParties):
        split_bp(1, [])
    with pytest.raises(LendingMathNotUint):
        split(-1, [1])
    with pytest.raises(LendingMathNotUint):
        split_bp(1, [70_000])
    assert issubclass(LendingMathZeroWeights, CoLedgerValueError)
    assert issubclass(LendingMathZeroWeights, ValueError)


# ---------------------------------------------------------------------------------- schedule


@given(amounts, rates, counts)
def test_schedule_principal_sums_to_p_and_balance_decreases_to_zero(p: int, rate: int, n: int) -> None:
    rows = schedule(p, rate, n)
    assert [r.index for r in rows] == list(range(1, n + 1))
    assert [r.due_offset_seconds for r in rows] == [i * PERIOD for i in range(1, n + 1)]
    assert sum(r.principal for r in rows) == p
    balance = p
    for row in rows:
        assert row.interest == period_interest(balance, rate)
        assert 0 <= row.balance_after == balance - row.principal <= balance
        balance = row.balance_after
    assert balance == 0


@given(amounts, rates, counts)
def test_schedule_rows_before_last_pay_exactly_payment_until_balance_runs_out(
    p: int, rate: int, n: int
) -> None:
    payment = annuity_payment(p, rate, n)
    for row in schedule(p, rate, n)[:-1]:
        assert row.installment == payment or (row.balance_after == 0 and row.installment <= payment)


@given(amounts, st.integers(1, MAX_RATE_BP), counts)
def test_schedule_last_installment_within_the_derived_bound_of_payment(p: int, rate: int, n: int) -> None:
    payment = annuity_payment(p, rate, n)
    rows = schedule(p, rate, n)
    assume(all(r.principal == payment - r.interest for r in rows[:-1]))  # no row clamped
    r = Fraction(rate, BP * 12)
    growth = (1 + r) ** n
    exact = p * r * growth / (growth - 1)
    delta, g = payment - exact, (growth - 1) / r
    gap = rows[-1].installment - payment
    assert -(delta + 1) * g < gap <= -delta * g


@settings(max_examples=300)
@given(st.integers(0, 5_000_000_00), st.integers(0, 3600), st.sampled_from([5, 10, 20]))
def test_schedule_real_products_last_installment_at_most_payment(p: int, rate: int, n: int) -> None:
    payment = annuity_payment(p, rate, n)
    assert schedule(p, rate, n)[-1].installment <= payment


@given(small_amounts, counts)
def test_schedule_zero_rate_pays_ceil_share_and_no_interest(p: int, n: int) -> None:
    payment = annuity_payment(p, 0, n)
    assert payment == -(-p // n)
    rows = schedule(p, 0, n)
    assert all(r.interest == 0 for r in rows)
    assert sum(r.principal for r in rows) == p
    assert all(r.principal <= payment for r in rows)


def test_schedule_known_example_10000_rmb_at_12_percent_over_5() -> None:
    rows = schedule(1_000_000, 1200, 5)
    assert annuity_payment(1_000_000, 1200, 5) == 206_040
    assert [(r.principal, r.interest) for r in rows] == [
        (196_040, 10_000), (198_001, 8_039), (199_981, 6_059), (201_981, 4_059), (203_997, 2_039)
    ]


@given(amounts, rates, counts, st.data())
def test_schedule_row_and_cumulative_agree_with_schedule(
    p: int, rate: int, n: int, data: st.DataObject
) -> None:
    rows = schedule(p, rate, n)
    i = data.draw(st.integers(1, n))
    assert schedule_row(p, rate, n, i) == (rows[i - 1].principal, rows[i - 1].interest)
    k = data.draw(st.integers(0, n))
    assert cumulative(p, rate, n, k) == (
        sum(r.principal for r in rows[:k]), sum(r.interest for r in rows[:k])
    )
    assert cumulative(p, rate, n, n)[0] == p


def test_schedule_bad_inputs_raise_the_named_errors() -> None:
    with pytest.raises(LendingMathBadInstallments) as zero:
        annuity_payment(1, 1, 0)
    assert zero.value.args_by_name == {"n": 0}
    with pytest.raises(LendingMathBadInstallments):
        schedule(1, 1, 61)
    with pytest.raises(LendingMathRateTooHigh) as high:
        schedule_row(1, MAX_RATE_BP + 1, 5, 1)
    assert high.value.args_by_name == {"rate": MAX_RATE_BP + 1}
    with pytest.raises(LendingMathAmountTooLarge):
        cumulative(MAX_AMOUNT + 1, 1, 5, 1)
    with pytest.raises(LendingMathIndexOutOfRange) as row0:
        schedule_row(1, 1, 5, 0)
    assert row0.value.args_by_name == {"index": 0, "n": 5}
    with pytest.raises(LendingMathIndexOutOfRange):
        cumulative(1, 1, 5, 6)
    with pytest.raises(LendingMathAmountTooLarge):
        period_interest(MAX_AMOUNT + 1, 1)


# ---------------------------------------------------------------------------------- penalty, allocate


@given(amounts, rates, st.integers(0, 100_000), st.integers(0, MAX_ELAPSED), st.integers(0, MAX_ELAPSED))
def test_penalty_longer_elapsed_never_less(p: int, rate: int, surcharge: int, t1: int, t2: int) -> None:
    lo, hi = sorted((t1, t2))
    assert penalty(p, rate, surcharge, lo) <= penalty(p, rate, surcharge, hi)


@given(amounts, amounts, rates, st.integers(0, 100_000), st.integers(0, MAX_ELAPSED))
def test_penalty_larger_overdue_never_less(a: int, b: int, rate: int, surcharge: int, t: int) -> None:
    lo, hi = sorted((a, b))
    assert penalty(lo, rate, surcharge, t) <= penalty(hi, rate, surcharge, t)


def test_penalty_half_surcharge_is_one_and_a_half_times_rate_for_a_year() -> None:
    assert penalty(1_000_000, 1200, 5000, 365 * 86_400) == 180_000
    assert penalty(1_000_000, 1200, 5000, 0) == 0


def test_penalty_bad_inputs_raise_the_named_errors() -> None:
    with pytest.raises(LendingMathAmountTooLarge):
        penalty(MAX_AMOUNT + 1, 1, 1, 1)
    with pytest.raises(LendingMathRateTooHigh):
        penalty(1, MAX_RATE_BP + 1, 1, 1)
    with pytest.raises(LendingMathSurchargeTooHigh) as sur:
        penalty(1, 1, 100_001, 1)
    assert sur.value.args_by_name == {"surchargeBp": 100_001}
    with pytest.raises(LendingMathElapsedTooLong) as long:
        penalty(1, 1, 1, MAX_ELAPSED + 1)
    assert long.value.args_by_name == {"elapsedSeconds": MAX_ELAPSED + 1}


uint256 = st.integers(0, 2**256 - 1)


@given(uint256, uint256, uint256, uint256)
def test_allocate_conserves_amount_and_fills_penalty_then_interest_then_principal(
    amount: int, pen: int, interest: int, principal: int
) -> None:
    got = allocate(amount, pen, interest, principal)
    assert isinstance(got, Allocation)
    assert sum(got) == amount
    assert got.to_penalty == min(amount, pen)
    assert got.to_interest == 0 or got.to_penalty == pen
    assert got.to_principal == 0 or got.to_interest == interest
    assert got.excess == 0 or got.to_principal == principal
    assert got.to_interest <= interest and got.to_principal <= principal


# ---------------------------------------------------------------------------------- delinquency


@given(uint256, uint256)
def test_days_past_due_is_ceil_of_days_late_and_zero_when_not_late(due: int, now: int) -> None:
    dpd = days_past_due(due, now)
    if now <= due:
        assert dpd == 0
    else:
        assert (dpd - 1) * 86_400 < now - due <= dpd * 86_400


def test_days_past_due_one_second_late_is_day_one() -> None:
    assert days_past_due(1000, 1000) == 0
    assert days_past_due(1000, 1001) == 1
    assert days_past_due(1000, 1000 + 86_400) == 1
    assert days_past_due(1000, 1001 + 86_400) == 2


@st.composite
def thresholds(draw: st.DrawFn) -> tuple[int, ...]:
    values = sorted(draw(st.sets(st.integers(1, 10_000), min_size=4, max_size=4)))
    return tuple(values)


@given(st.integers(0, 20_000), st.integers(0, 20_000), thresholds())
def test_classify_more_days_past_due_never_lower_category(a: int, b: int, ts: tuple[int, ...]) -> None:
    lo, hi = sorted((a, b))
    assert classify(lo, ts) <= classify(hi, ts)
    assert classify(0, ts) is Category.NORMAL
    assert classify(ts[3], ts) is Category.LOSS


def test_classify_default_thresholds_give_the_five_categories() -> None:
    assert DEFAULT_THRESHOLDS == (1, 60, 90, 180)
    got = [classify(d) for d in (0, 1, 59, 60, 89, 90, 179, 180, 10**9)]
    assert got == [0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert classify(60) is Category.SUBSTANDARD


@pytest.mark.parametrize("bad", [(0, 60, 90, 180), (1, 60, 60, 180), (1, 90, 60, 180), (1, 60, 90)])
def test_classify_thresholds_not_strictly_increasing_from_positive_raise_bad_thresholds(
    bad: tuple[int, ...],
) -> None:
    with pytest.raises(LendingMathBadThresholds):
        classify(10, bad)
