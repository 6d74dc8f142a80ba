"""Exact-integer lending mathematics, the bit-for-bit mirror of `contracts/libraries/LendingMath.sol`.

Why a mirror: the client must show a borrower the schedule, split a drawdown among lenders and
preview a repayment *before* anything is sent, and the numbers it shows must be the ones the chain
will compute. So every function here takes the same arguments, returns the same integers, and
raises an exception named like the Solidity custom error, checked in the same order (the on-chain
cross-check test holds the two to that). Money is integer minor units (fen); there are no floats.

The rules:

1. `split`: largest remainder. With W = sum(weights), base_i = floor(amount * w_i / W); the
   R = amount - sum(base) < n leftover units go one each to the largest remainders
   (amount * w_i mod W), ties to the lower index. Parts sum to amount, each is the floor or ceil
   of the exact quotient, a zero weight gets 0, and when amount <= W every part_i <= w_i (so a
   principal repayment split by outstanding principal never overpays a lender). `split_bp` wants
   basis-point shares summing to exactly 10,000.
2. Annuity: period interest floor(B * rate / (BP * 12)); payment ceil(P / n) at rate 0, else
   rp = floor(rate * WAD / (BP * 12)), f = WAD then n times f = floor(f * (WAD + rp) / WAD),
   payment = ceil(P * rp * f / (WAD * (f - WAD))). Row i < n pays principal
   min(max(payment - interest_i, 0), B_{i-1}); row n pays the whole remaining balance, so the
   principal column sums to P exactly.
3. `penalty` = floor(overdue * rate * (BP + surcharge) * elapsed / (BP * BP * 365 days)).
4. `allocate`: penalty, then interest, then principal; the rest is `excess`.
5. `days_past_due` = 0 while now <= due, else ceil((now - due) / 1 day); `classify` gives the
   highest category whose threshold is <= dpd (thresholds 0 < t0 < t1 < t2 < t3).

Bounds, as on chain: amounts and weights <= 2^64 - 1, rate <= 100,000 bp, 1..60 installments,
surcharge <= 100,000 bp, elapsed <= 100 years. Python-only: an argument that is not an int in the
Solidity parameter's range (negative, too wide, a bool) raises `LendingMathNotUint`, which on chain
the ABI encoder would have refused before any call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from client.errors import CoLedgerValueError

__all__ = [
    "BP",
    "DAY",
    "DAYS_PER_YEAR",
    "DEFAULT_THRESHOLDS",
    "MAX_AMOUNT",
    "MAX_ELAPSED",
    "MAX_INSTALLMENTS",
    "MAX_RATE_BP",
    "MAX_SURCHARGE_BP",
    "PERIOD",
    "PERIODS_PER_YEAR",
    "WAD",
    "Allocation",
    "Category",
    "LendingMathAmountTooLarge",
    "LendingMathBadInstallments",
    "LendingMathBadThresholds",
    "LendingMathElapsedTooLong",
    "LendingMathError",
    "LendingMathIndexOutOfRange",
    "LendingMathNoParties",
    "LendingMathNotUint",
    "LendingMathRateTooHigh",
    "LendingMathSharesNotWhole",
    "LendingMathSurchargeTooHigh",
    "LendingMathWeightTooLarge",
    "LendingMathZeroWeights",
    "ScheduleRow",
    "allocate",
    "annuity_payment",
    "classify",
    "cumulative",
    "days_past_due",
    "penalty",
    "period_interest",
    "schedule",
    "schedule_row",
    "split",
    "split_bp",
]

BP = 10_000
WAD = 10**18
DAYS_PER_YEAR = 365
DAY = 86_400
PERIOD = 30 * DAY
PERIODS_PER_YEAR = 12
MAX_AMOUNT = 2**64 - 1
MAX_RATE_BP = 100_000
MAX_INSTALLMENTS = 60
MAX_SURCHARGE_BP = 100_000
MAX_ELAPSED = 100 * 365 * DAY
_UINT256_MAX = 2**256 - 1


class Category(IntEnum):
    """The five-category loan classification; the values are the Solidity `uint8` categories."""

    NORMAL = 0
    SPECIAL_MENTION = 1
    SUBSTANDARD = 2
    DOUBTFUL = 3
    LOSS = 4


DEFAULT_THRESHOLDS: tuple[int, int, int, int] = (1, 60, 90, 180)
"""Days past due for special mention, substandard, doubtful and loss (the consortium default)."""


# ---------------------------------------------------------------------------------- errors


class LendingMathError(CoLedgerValueError):
    """Root of the lending-math errors; each subclass is named like its Solidity custom error.

    `args_by_name` holds the Solidity error's arguments by their Solidity names, so a test (or a
    caller) can compare with a decoded `ContractRevert` directly.
    """

    def __init__(self, message: str, **args: int) -> None:
        super().__init__(message)
        self.args_by_name: dict[str, int] = args


class LendingMathNoParties(LendingMathError):
    """A split was asked for zero parties."""

    def __init__(self) -> None:
        super().__init__("no parties to split among")


class LendingMathZeroWeights(LendingMathError):
    """The weights sum to zero, so no proportion exists."""

    def __init__(self) -> None:
        super().__init__("split weights sum to zero")


class LendingMathSharesNotWhole(LendingMathError):
    """Basis-point shares did not sum to exactly 10,000."""

    def __init__(self, sum_: int) -> None:
        super().__init__(f"shares sum to {sum_} bp, want {BP}", sum=sum_)


class LendingMathAmountTooLarge(LendingMathError):
    """An amount, principal or balance exceeds `MAX_AMOUNT` (2^64 - 1)."""

    def __init__(self, amount: int) -> None:
        super().__init__(f"amount {amount} exceeds {MAX_AMOUNT}", amount=amount)


class LendingMathWeightTooLarge(LendingMathError):
    """A split weight exceeds `MAX_AMOUNT` (2^64 - 1)."""

    def __init__(self, weight: int) -> None:
        super().__init__(f"weight {weight} exceeds {MAX_AMOUNT}", weight=weight)


class LendingMathRateTooHigh(LendingMathError):
    """An annual rate exceeds `MAX_RATE_BP`."""

    def __init__(self, rate: int) -> None:
        super().__init__(f"annual rate {rate} bp exceeds {MAX_RATE_BP}", rate=rate)


class LendingMathBadInstallments(LendingMathError):
    """The installment count is outside 1..60."""

    def __init__(self, n: int) -> None:
        super().__init__(f"{n} installments, want 1..{MAX_INSTALLMENTS}", n=n)


class LendingMathIndexOutOfRange(LendingMathError):
    """A schedule row (1..n) or cumulative count (0..n) is out of range."""

    def __init__(self, index: int, n: int) -> None:
        super().__init__(f"index {index} out of range for {n} installments", index=index, n=n)


class LendingMathSurchargeTooHigh(LendingMathError):
    """A penalty surcharge exceeds `MAX_SURCHARGE_BP`."""

    def __init__(self, surcharge_bp: int) -> None:
        super().__init__(
            f"surcharge {surcharge_bp} bp exceeds {MAX_SURCHARGE_BP}", surchargeBp=surcharge_bp
        )


class LendingMathElapsedTooLong(LendingMathError):
    """A penalty accrual period exceeds `MAX_ELAPSED` (100 years)."""

    def __init__(self, elapsed: int) -> None:
        super().__init__(f"elapsed {elapsed} s exceeds {MAX_ELAPSED}", elapsedSeconds=elapsed)


class LendingMathBadThresholds(LendingMathError):
    """Classification thresholds are not 0 < t0 < t1 < t2 < t3."""

    def __init__(self) -> None:
        super().__init__("thresholds must satisfy 0 < t0 < t1 < t2 < t3")


class LendingMathNotUint(LendingMathError):
    """Python only: an argument is not an int in its Solidity type's range (the ABI would refuse)."""

    def __init__(self, name: str, value: object, bits: int) -> None:
        CoLedgerValueError.__init__(self, f"{name}={value!r} is not a uint{bits}")
        self.args_by_name = {}
        self.name = name
        self.value = value


def _uint(name: str, value: object, bits: int = 256) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise LendingMathNotUint(name, value, bits)
    return value


# ---------------------------------------------------------------------------------- splits


def split(amount: int, weights: Sequence[int]) -> list[int]:
    """Split `amount` in proportion to `weights` by largest remainder; the parts sum to `amount`.

    Checks, in the on-chain order: no parties, amount too large, a weight too large, zero weights.
    """
    _uint("amount", amount)
    for w in weights:
        _uint("weight", w)
    if not weights:
        raise LendingMathNoParties()
    if amount > MAX_AMOUNT:
        raise LendingMathAmountTooLarge(amount)
    for w in weights:
        if w > MAX_AMOUNT:
            raise LendingMathWeightTooLarge(w)
    total = sum(weights)
    if total == 0:
        raise LendingMathZeroWeights()
    parts = [amount * w // total for w in weights]
    remainders = [amount * w % total for w in weights]
    extra = amount - sum(parts)
    # Largest remainder first, lower index on ties: exactly the on-chain repeated strict-max scan.
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:extra]:
        parts[i] += 1
    return parts


def split_bp(amount: int, shares_bp: Sequence[int]) -> list[int]:
    """`split` by basis-point shares, which must sum to exactly 10,000 (`LendingMathSharesNotWhole`)."""
    _uint("amount", amount)
    for s in shares_bp:
        _uint("share", s, 16)
    if not shares_bp:
        raise LendingMathNoParties()
    if sum(shares_bp) != BP:
        raise LendingMathSharesNotWhole(sum(shares_bp))
    return split(amount, shares_bp)


# ---------------------------------------------------------------------------------- annuity


@dataclass(frozen=True)
class ScheduleRow:
    """Installment `index` (1..n), due `due_offset_seconds` (= index * PERIOD) after the draw."""

    index: int
    due_offset_seconds: int
    principal: int
    interest: int
    balance_after: int

    @property
    def installment(self) -> int:
        """What the borrower pays for this row: principal + interest."""
        return self.principal + self.interest


def period_interest(balance: int, annual_rate_bp: int) -> int:
    """Interest of one period on `balance`: floor(balance * rate / (BP * 12))."""
    _uint("balance", balance)
    _uint("annual_rate_bp", annual_rate_bp)
    if balance > MAX_AMOUNT:
        raise LendingMathAmountTooLarge(balance)
    if annual_rate_bp > MAX_RATE_BP:
        raise LendingMathRateTooHigh(annual_rate_bp)
    return balance * annual_rate_bp // (BP * PERIODS_PER_YEAR)


def _check_loan(principal: int, annual_rate_bp: int, n: int) -> None:
    _uint("principal", principal)
    _uint("annual_rate_bp", annual_rate_bp)
    _uint("n", n)
    if principal > MAX_AMOUNT:
        raise LendingMathAmountTooLarge(principal)
    if annual_rate_bp > MAX_RATE_BP:
        raise LendingMathRateTooHigh(annual_rate_bp)
    if not 1 <= n <= MAX_INSTALLMENTS:
        raise LendingMathBadInstallments(n)


def _payment(principal: int, annual_rate_bp: int, n: int) -> int:
    if annual_rate_bp == 0:
        return -(-principal // n)
    rp = annual_rate_bp * WAD // (BP * PERIODS_PER_YEAR)
    f = WAD
    for _ in range(n):
        f = f * (WAD + rp) // WAD
    return -(-(principal * rp * f) // (WAD * (f - WAD)))


def _rows(principal: int, annual_rate_bp: int, n: int, count: int) -> list[ScheduleRow]:
    """The first `count` rows: the one loop every schedule function shares, as on chain."""
    payment = _payment(principal, annual_rate_bp, n)
    balance = principal
    rows: list[ScheduleRow] = []
    for i in range(1, count + 1):
        interest = balance * annual_rate_bp // (BP * PERIODS_PER_YEAR)
        if i == n:
            part = balance
        else:
            part = min(max(payment - interest, 0), balance)
        balance -= part
        rows.append(ScheduleRow(i, i * PERIOD, part, interest, balance))
    return rows


def annuity_payment(principal: int, annual_rate_bp: int, n: int) -> int:
    """The equal installment of an `n`-period annuity on `principal` (rounded up; see module doc)."""
    _check_loan(principal, annual_rate_bp, n)
    return _payment(principal, annual_rate_bp, n)


def schedule_row(principal: int, annual_rate_bp: int, n: int, i: int) -> tuple[int, int]:
    """(principal_i, interest_i) of installment `i` in 1..n."""
    _check_loan(principal, annual_rate_bp, n)
    _uint("i", i)
    if not 1 <= i <= n:
        raise LendingMathIndexOutOfRange(i, n)
    row = _rows(principal, annual_rate_bp, n, i)[-1]
    return row.principal, row.interest


def cumulative(principal: int, annual_rate_bp: int, n: int, k: int) -> tuple[int, int]:
    """(principal, interest) due through installment `k` in 0..n; principal is P when k == n."""
    _check_loan(principal, annual_rate_bp, n)
    _uint("k", k)
    if k > n:
        raise LendingMathIndexOutOfRange(k, n)
    rows = _rows(principal, annual_rate_bp, n, k)
    return sum(r.principal for r in rows), sum(r.interest for r in rows)


def schedule(principal: int, annual_rate_bp: int, n: int) -> list[ScheduleRow]:
    """All `n` rows; the principal column sums to `principal` exactly."""
    _check_loan(principal, annual_rate_bp, n)
    return _rows(principal, annual_rate_bp, n, n)


# ---------------------------------------------------------------------------------- penalty, waterfall


def penalty(overdue_principal: int, annual_rate_bp: int, surcharge_bp: int, elapsed_seconds: int) -> int:
    """Penalty interest: floor(overdue * rate * (BP + surcharge) * elapsed / (BP * BP * 365 days))."""
    for name, value in (
        ("overdue_principal", overdue_principal),
        ("annual_rate_bp", annual_rate_bp),
        ("surcharge_bp", surcharge_bp),
        ("elapsed_seconds", elapsed_seconds),
    ):
        _uint(name, value)
    if overdue_principal > MAX_AMOUNT:
        raise LendingMathAmountTooLarge(overdue_principal)
    if annual_rate_bp > MAX_RATE_BP:
        raise LendingMathRateTooHigh(annual_rate_bp)
    if surcharge_bp > MAX_SURCHARGE_BP:
        raise LendingMathSurchargeTooHigh(surcharge_bp)
    if elapsed_seconds > MAX_ELAPSED:
        raise LendingMathElapsedTooLong(elapsed_seconds)
    numerator = overdue_principal * annual_rate_bp * (BP + surcharge_bp) * elapsed_seconds
    return numerator // (BP * BP * DAYS_PER_YEAR * DAY)


class Allocation(NamedTuple):
    """Where a repayment went; the four fields sum to the amount repaid."""

    to_penalty: int
    to_interest: int
    to_principal: int
    excess: int


def allocate(amount: int, penalty_due: int, interest_due: int, principal_due: int) -> Allocation:
    """The waterfall: penalty first, then interest, then principal; the rest is `excess`.

    The caller decides what excess means (a prepayment, or a refusal): the math does not guess.
    """
    for name, value in (
        ("amount", amount),
        ("penalty_due", penalty_due),
        ("interest_due", interest_due),
        ("principal_due", principal_due),
    ):
        _uint(name, value)
    to_penalty = min(amount, penalty_due)
    left = amount - to_penalty
    to_interest = min(left, interest_due)
    left -= to_interest
    to_principal = min(left, principal_due)
    return Allocation(to_penalty, to_interest, to_principal, left - to_principal)


# ---------------------------------------------------------------------------------- delinquency


def days_past_due(oldest_unpaid_due_time: int, now_time: int) -> int:
    """0 while now <= due, else ceil((now - due) / 1 day): one second late is day 1."""
    _uint("oldest_unpaid_due_time", oldest_unpaid_due_time)
    _uint("now_time", now_time)
    if now_time <= oldest_unpaid_due_time:
        return 0
    return (now_time - oldest_unpaid_due_time - 1) // DAY + 1


def classify(dpd: int, thresholds: Sequence[int] = DEFAULT_THRESHOLDS) -> Category:
    """The highest category whose threshold is <= `dpd` (NORMAL below all).

    `thresholds` are the days for SPECIAL_MENTION, SUBSTANDARD, DOUBTFUL and LOSS and must satisfy
    0 < t0 < t1 < t2 < t3: a positive first threshold keeps a loan that is not late NORMAL.
    """
    _uint("dpd", dpd)
    if len(thresholds) != 4:
        raise LendingMathBadThresholds()
    for t in thresholds:
        _uint("threshold", t)
    if thresholds[0] == 0 or any(b <= a for a, b in zip(thresholds, thresholds[1:], strict=False)):
        raise LendingMathBadThresholds()
    return Category(sum(1 for t in thresholds if dpd >= t))
