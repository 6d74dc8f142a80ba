// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title LendingMath
 * @notice The exact-integer lending mathematics of coledger: largest-remainder splits, the annuity
 * schedule, penalty interest, the repayment waterfall, days past due and the five-category
 * classification. Money is an integer of minor units (fen); nothing is ever rounded silently:
 * every division states its direction, and every split returns parts that sum to the whole.
 *
 * `client/lending_math.py` is the bit-for-bit Python mirror (same results, same errors, checked
 * in the same order); `tests/lending/test_lending_math_onchain.py` cross-checks the two.
 *
 * Bounds (each checked, reverting with a named error, so no input can reach a Panic):
 * amounts and weights <= 2^64-1 ({MAX_AMOUNT}), annual rate <= 100,000 bp ({MAX_RATE_BP}),
 * installments 1..60 ({MAX_INSTALLMENTS}), penalty surcharge <= 100,000 bp
 * ({MAX_SURCHARGE_BP}), penalty elapsed time <= 100 years ({MAX_ELAPSED}). Within them every
 * intermediate product fits in uint256 with room to spare (the proofs sit next to the products).
 */
library LendingMath {
    /// @dev Basis points in one whole (100%).
    uint256 internal constant BP = 10_000;
    /// @dev Fixed-point unit of the periodic growth factor in {annuityPayment}.
    uint256 internal constant WAD = 1e18;
    /// @dev Penalty interest accrues per second on a 365-day year.
    uint256 internal constant DAYS_PER_YEAR = 365;
    /// @dev Length of one installment period; installment i falls due i * PERIOD after the draw.
    uint256 internal constant PERIOD = 30 days;
    /// @dev The periodic rate of the schedule is the annual rate / 12.
    uint256 internal constant PERIODS_PER_YEAR = 12;
    /// @dev Largest amount, balance or split weight accepted (fits uint64).
    uint256 internal constant MAX_AMOUNT = type(uint64).max;
    /// @dev Largest annual rate accepted, in basis points (1000% a year).
    uint256 internal constant MAX_RATE_BP = 100_000;
    /// @dev Largest number of installments of a schedule.
    uint256 internal constant MAX_INSTALLMENTS = 60;
    /// @dev Largest penalty surcharge accepted, in basis points (rate x 11 at most).
    uint256 internal constant MAX_SURCHARGE_BP = 100_000;
    /// @dev Longest penalty accrual accepted: 100 years of 365 days.
    uint256 internal constant MAX_ELAPSED = 100 * 365 days;

    /// @dev Loan categories of {classify}.
    uint8 internal constant NORMAL = 0;
    uint8 internal constant SPECIAL_MENTION = 1;
    uint8 internal constant SUBSTANDARD = 2;
    uint8 internal constant DOUBTFUL = 3;
    uint8 internal constant LOSS = 4;

    /// @notice A split was asked for zero parties.
    error LendingMathNoParties();
    /// @notice The split weights sum to zero, so no party can be given anything.
    error LendingMathZeroWeights();
    /// @notice Basis-point shares must sum to exactly 10,000; they summed to `sum`.
    error LendingMathSharesNotWhole(uint256 sum);
    /// @notice An amount, principal or balance exceeds {MAX_AMOUNT}.
    error LendingMathAmountTooLarge(uint256 amount);
    /// @notice A split weight exceeds {MAX_AMOUNT}.
    error LendingMathWeightTooLarge(uint256 weight);
    /// @notice An annual rate exceeds {MAX_RATE_BP}.
    error LendingMathRateTooHigh(uint256 rate);
    /// @notice The installment count is outside 1..{MAX_INSTALLMENTS}.
    error LendingMathBadInstallments(uint256 n);
    /// @notice A schedule row (1..n) or cumulative count (0..n) is out of range for `n` rows.
    error LendingMathIndexOutOfRange(uint256 index, uint256 n);
    /// @notice A penalty surcharge exceeds {MAX_SURCHARGE_BP}.
    error LendingMathSurchargeTooHigh(uint256 surchargeBp);
    /// @notice A penalty accrual period exceeds {MAX_ELAPSED}.
    error LendingMathElapsedTooLong(uint256 elapsedSeconds);
    /// @notice Classification thresholds must satisfy 0 < t0 < t1 < t2 < t3.
    error LendingMathBadThresholds();

    // ------------------------------------------------------------------ splits

    /**
     * @notice Splits `amount` among parties in proportion to `weights`, exactly (largest remainder).
     * @dev With W = sum(weights): base_i = floor(amount * w_i / W); the R = amount - sum(base) < n
     * units left over go one each to the parties with the largest fractional remainder
     * (amount * w_i mod W), ties to the lower index. Hence: parts sum to `amount`; each part is
     * floor or ceil of the exact quotient; a zero weight gets 0 (R < the number of positive
     * remainders, so extras only go to positive remainders); and when amount <= W every
     * part_i <= w_i (base_i = w_i forces amount = W and remainder 0) — so splitting a principal
     * repayment by outstanding principals never overpays a lender. Gas is O(n * R) <= O(n^2).
     * @param amount The whole to split, <= {MAX_AMOUNT}.
     * @param weights One weight per party, each <= {MAX_AMOUNT}, not all zero.
     * @return parts parts[i] is party i's share; sum(parts) == amount.
     */
    function split(uint256 amount, uint256[] memory weights) internal pure returns (uint256[] memory parts) {
        uint256 n = weights.length;
        if (n == 0) revert LendingMathNoParties();
        if (amount > MAX_AMOUNT) revert LendingMathAmountTooLarge(amount);
        uint256 total;
        for (uint256 i; i < n; ++i) {
            if (weights[i] > MAX_AMOUNT) revert LendingMathWeightTooLarge(weights[i]);
            // Cannot overflow: W <= n * 2^64 < 2^128 (a memory array has < 2^64 elements).
            total += weights[i];
        }
        if (total == 0) revert LendingMathZeroWeights();
        parts = new uint256[](n);
        uint256[] memory remainders = new uint256[](n);
        uint256 given;
        for (uint256 i; i < n; ++i) {
            // Cannot overflow: amount * w_i < 2^64 * 2^64 = 2^128.
            uint256 scaled = amount * weights[i];
            parts[i] = scaled / total;
            remainders[i] = scaled % total;
            given += parts[i];
        }
        // given = sum of floors <= floor of the sum = amount, so no underflow; extra < n.
        for (uint256 extra = amount - given; extra > 0; --extra) {
            uint256 best;
            uint256 bestRemainder;
            for (uint256 i; i < n; ++i) {
                if (remainders[i] > bestRemainder) {
                    (best, bestRemainder) = (i, remainders[i]);
                }
            }
            remainders[best] = 0;
            ++parts[best];
        }
    }

    /**
     * @notice {split} by basis-point shares (lead 2,000 bp, partners the rest) that must be whole.
     * @param amount The whole to split (a drawdown, an interest or a penalty), <= {MAX_AMOUNT}.
     * @param sharesBp One share per party; they must sum to exactly {BP}.
     * @return parts As {split}; a 0 bp share gets 0.
     */
    function splitBp(uint256 amount, uint16[] memory sharesBp) internal pure returns (uint256[] memory parts) {
        uint256 n = sharesBp.length;
        if (n == 0) revert LendingMathNoParties();
        uint256[] memory weights = new uint256[](n);
        uint256 sum;
        for (uint256 i; i < n; ++i) {
            weights[i] = sharesBp[i];
            sum += sharesBp[i];
        }
        if (sum != BP) revert LendingMathSharesNotWhole(sum);
        return split(amount, weights);
    }

    // ------------------------------------------------------------------ annuity schedule

    /**
     * @notice Interest of one period on `balance`: floor(balance * annualRateBp / (BP * 12)).
     * @dev Cannot overflow: balance * rate < 2^64 * 2^17 = 2^81.
     */
    function periodInterest(uint256 balance, uint256 annualRateBp) internal pure returns (uint256) {
        if (balance > MAX_AMOUNT) revert LendingMathAmountTooLarge(balance);
        if (annualRateBp > MAX_RATE_BP) revert LendingMathRateTooHigh(annualRateBp);
        return (balance * annualRateBp) / (BP * PERIODS_PER_YEAR);
    }

    /**
     * @notice The equal installment of an annuity of `n` periods on `principal`.
     * @dev Rate 0: ceil(P / n). Otherwise rp = floor(rate * WAD / (BP * 12)); f = WAD, then n times
     * f = floor(f * (WAD + rp) / WAD); payment = ceil(P * rp * f / (WAD * (f - WAD))).
     * Rounding up means the scheduled installments never leave more than the last to pay.
     * @param principal P, <= {MAX_AMOUNT}.
     * @param annualRateBp Annual rate in basis points, <= {MAX_RATE_BP}.
     * @param n Installments, 1..{MAX_INSTALLMENTS}.
     */
    function annuityPayment(uint256 principal, uint256 annualRateBp, uint256 n) internal pure returns (uint256) {
        _checkLoan(principal, annualRateBp, n);
        return _payment(principal, annualRateBp, n);
    }

    /**
     * @notice Principal and interest of installment `i` (1..n) of the schedule.
     * @dev Row i: interest_i = periodInterest(B_{i-1}); for i < n, principal_i =
     * min(payment - interest_i, B_{i-1}) (0 when payment <= interest_i); principal_n = B_{n-1}, so
     * the rounding remainder lands on the last installment and sum(principal_i) == P exactly;
     * B_0 = P, B_i = B_{i-1} - principal_i. O(i).
     */
    function scheduleRow(uint256 principal, uint256 annualRateBp, uint256 n, uint256 i)
        internal
        pure
        returns (uint256 principalPart, uint256 interestPart)
    {
        _checkLoan(principal, annualRateBp, n);
        if (i == 0 || i > n) revert LendingMathIndexOutOfRange(i, n);
        uint256 payment = _payment(principal, annualRateBp, n);
        uint256 balance = principal;
        for (uint256 row = 1; row <= i; ++row) {
            (principalPart, interestPart) = _row(payment, balance, annualRateBp, row == n);
            balance -= principalPart;
        }
    }

    /**
     * @notice Principal and interest due through installment `k` (0..n) of the schedule; O(k).
     * @return principalThroughK sum of principal_1..k (== P when k == n).
     * @return interestThroughK sum of interest_1..k.
     */
    function cumulative(uint256 principal, uint256 annualRateBp, uint256 n, uint256 k)
        internal
        pure
        returns (uint256 principalThroughK, uint256 interestThroughK)
    {
        _checkLoan(principal, annualRateBp, n);
        if (k > n) revert LendingMathIndexOutOfRange(k, n);
        uint256 payment = _payment(principal, annualRateBp, n);
        uint256 balance = principal;
        for (uint256 row = 1; row <= k; ++row) {
            (uint256 p, uint256 r) = _row(payment, balance, annualRateBp, row == n);
            balance -= p;
            // Cannot overflow: principal sums to <= P < 2^64; interest < 60 * 2^64 * 10.
            principalThroughK += p;
            interestThroughK += r;
        }
    }

    /// @notice The whole schedule: principals[i-1], interests[i-1] are row i (see {scheduleRow}).
    function schedule(uint256 principal, uint256 annualRateBp, uint256 n)
        internal
        pure
        returns (uint256[] memory principals, uint256[] memory interests)
    {
        _checkLoan(principal, annualRateBp, n);
        uint256 payment = _payment(principal, annualRateBp, n);
        principals = new uint256[](n);
        interests = new uint256[](n);
        uint256 balance = principal;
        for (uint256 row = 1; row <= n; ++row) {
            (principals[row - 1], interests[row - 1]) = _row(payment, balance, annualRateBp, row == n);
            balance -= principals[row - 1];
        }
    }

    // ------------------------------------------------------------------ penalty and waterfall

    /**
     * @notice Penalty interest on overdue principal, accrued per second on a 365-day year at the
     * loan rate raised by the surcharge (5,000 bp: rate x 1.5):
     * floor(overdue * rate * (BP + surchargeBp) * elapsed / (BP * BP * 365 days)).
     * @dev Cannot overflow: 2^64 * 2^17 * 2^17 (110,000 < 2^17) * 2^32 (100 y < 2^32 s) = 2^130.
     */
    function penalty(uint256 overduePrincipal, uint256 annualRateBp, uint256 surchargeBp, uint256 elapsedSeconds)
        internal
        pure
        returns (uint256)
    {
        if (overduePrincipal > MAX_AMOUNT) revert LendingMathAmountTooLarge(overduePrincipal);
        if (annualRateBp > MAX_RATE_BP) revert LendingMathRateTooHigh(annualRateBp);
        if (surchargeBp > MAX_SURCHARGE_BP) revert LendingMathSurchargeTooHigh(surchargeBp);
        if (elapsedSeconds > MAX_ELAPSED) revert LendingMathElapsedTooLong(elapsedSeconds);
        return (overduePrincipal * annualRateBp * (BP + surchargeBp) * elapsedSeconds)
            / (BP * BP * DAYS_PER_YEAR * 1 days);
    }

    /**
     * @notice The repayment waterfall: penalty first, then interest, then principal; `excess` is
     * what is left, for the caller to treat as a prepayment or to refuse.
     * @dev toPenalty + toInterest + toPrincipal + excess == amount, for any uint256 inputs.
     */
    function allocate(uint256 amount, uint256 penaltyDue, uint256 interestDue, uint256 principalDue)
        internal
        pure
        returns (uint256 toPenalty, uint256 toInterest, uint256 toPrincipal, uint256 excess)
    {
        // Underflow not possible: each step subtracts min(left, due) from left.
        unchecked {
            toPenalty = amount < penaltyDue ? amount : penaltyDue;
            uint256 left = amount - toPenalty;
            toInterest = left < interestDue ? left : interestDue;
            left -= toInterest;
            toPrincipal = left < principalDue ? left : principalDue;
            excess = left - toPrincipal;
        }
    }

    // ------------------------------------------------------------------ delinquency

    /**
     * @notice Days past due of the oldest unpaid installment: 0 while nowTime <= dueTime, else
     * ceil((nowTime - dueTime) / 1 days) — a payment missed by any positive number of seconds is
     * at least day 1. Computed as (d - 1) / 1 days + 1, which cannot overflow for any d > 0.
     */
    function daysPastDue(uint256 oldestUnpaidDueTime, uint256 nowTime) internal pure returns (uint256) {
        if (nowTime <= oldestUnpaidDueTime) return 0;
        // Underflow not possible: nowTime > dueTime, so d >= 1.
        unchecked {
            return (nowTime - oldestUnpaidDueTime - 1) / 1 days + 1;
        }
    }

    /// @notice The default thresholds: special mention 1 day, substandard 60, doubtful 90, loss 180.
    function defaultThresholds() internal pure returns (uint256[4] memory) {
        return [uint256(1), 60, 90, 180];
    }

    /**
     * @notice The five-category classification: {NORMAL} 0, {SPECIAL_MENTION} 1, {SUBSTANDARD} 2,
     * {DOUBTFUL} 3, {LOSS} 4 — the highest category whose threshold is <= dpd (0 below all).
     * @param thresholds Days for categories 1..4; must satisfy 0 < t0 < t1 < t2 < t3 (a positive
     * first threshold keeps a loan that is not past due Normal).
     */
    function classify(uint256 dpd, uint256[4] memory thresholds) internal pure returns (uint8 category) {
        if (thresholds[0] == 0) revert LendingMathBadThresholds();
        for (uint256 j = 1; j < 4; ++j) {
            if (thresholds[j] <= thresholds[j - 1]) revert LendingMathBadThresholds();
        }
        for (uint8 j; j < 4; ++j) {
            if (dpd >= thresholds[j]) category = j + 1;
        }
    }

    // ------------------------------------------------------------------ private

    function _checkLoan(uint256 principal, uint256 annualRateBp, uint256 n) private pure {
        if (principal > MAX_AMOUNT) revert LendingMathAmountTooLarge(principal);
        if (annualRateBp > MAX_RATE_BP) revert LendingMathRateTooHigh(annualRateBp);
        if (n == 0 || n > MAX_INSTALLMENTS) revert LendingMathBadInstallments(n);
    }

    /// @dev Bounds proof: rp <= 1e5 * 1e18 / 1.2e5 < 0.834e18 < 2^60; f <= WAD * 1.834^60 < 2^113;
    /// f * (WAD + rp) < 2^113 * 2^61 = 2^174; P * rp * f < 2^64 * 2^60 * 2^113 = 2^237;
    /// den = WAD * (f - WAD) < 2^173 and > 0 because rate >= 1 gives rp >= 8.3e12 and f > WAD.
    function _payment(uint256 principal, uint256 annualRateBp, uint256 n) private pure returns (uint256) {
        if (annualRateBp == 0) return (principal + n - 1) / n;
        uint256 rp = (annualRateBp * WAD) / (BP * PERIODS_PER_YEAR);
        uint256 f = WAD;
        for (uint256 i; i < n; ++i) {
            f = (f * (WAD + rp)) / WAD;
        }
        uint256 den = WAD * (f - WAD);
        return (principal * rp * f + den - 1) / den;
    }

    /// @dev One schedule row on `balance` (see {scheduleRow}); principalPart <= balance always.
    function _row(uint256 payment, uint256 balance, uint256 annualRateBp, bool last)
        private
        pure
        returns (uint256 principalPart, uint256 interestPart)
    {
        interestPart = (balance * annualRateBp) / (BP * PERIODS_PER_YEAR);
        if (last) {
            principalPart = balance;
        } else if (payment > interestPart) {
            principalPart = payment - interestPart;
            if (principalPart > balance) principalPart = balance;
        }
    }
}
