// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {LendingMath} from "../libraries/LendingMath.sol";
import {CollectionStep, LoanId} from "./LendingTypes.sol";
import {LoanStorage} from "./LoanStorage.sol";

/**
 * @title LoanAccrual
 * @notice Where a loan stands at a moment: its schedule (recomputed with `LendingMath.schedule`),
 * penalty accrued since the last touch, dues, payoff and days past due — the one walk over the
 * schedule that repay, classify, the collection ladder and {ILoanLedger-dueAt} share.
 */
abstract contract LoanAccrual is LoanStorage {
    /// @dev A loan as of time `at`; amounts in fen, all computed by {_snapshot}.
    struct Snapshot {
        // Installments due at `at` (k) and the schedule's principal and interest through k.
        uint256 due;
        uint256 cumPrincipal;
        uint256 cumInterest;
        // Penalty accrued from the last accrual to `at`, and the new total since opening.
        uint256 newPenalty;
        uint256 penaltyTotal;
        uint256 penaltyDue;
        uint256 interestDue;
        uint256 principalDue;
        // Unpaid scheduled interest of installment k+1 (the running period) beyond the dues.
        uint256 nextInterest;
        uint256 payoff;
        // The oldest installment (1..k) not fully paid, 0 if none, and its days past due.
        uint256 oldestUnpaid;
        uint256 daysPastDue;
    }

    /**
     * @dev Loan `terms`/`account` (with `accrued` penalty so far) as of `at` >= its last accrual.
     */
    function _snapshot(Terms memory terms, Account memory account, uint256 accrued, uint256 at)
        internal
        pure
        returns (Snapshot memory s)
    {
        uint256[] memory interests = _walk(terms, account, at, s);
        (uint256 cumPrincipal, uint256 cumInterest) = (s.cumPrincipal, s.cumInterest);
        (uint256 paidPrincipal, uint256 paidInterest) = (account.paidPrincipal, account.paidInterest);
        s.penaltyTotal = accrued + s.newPenalty;
        // Underflow not possible: paidPenalty only grows by what was due, <= the accrued total.
        s.penaltyDue = s.penaltyTotal - account.paidPenalty;
        s.interestDue = cumInterest > paidInterest ? cumInterest - paidInterest : 0;
        s.principalDue = cumPrincipal > paidPrincipal ? cumPrincipal - paidPrincipal : 0;
        if (s.due < terms.installments) {
            uint256 through = cumInterest + interests[s.due];
            uint256 covered = paidInterest > cumInterest ? paidInterest : cumInterest;
            s.nextInterest = through > covered ? through - covered : 0;
        }
        s.payoff = s.penaltyDue + s.interestDue + s.nextInterest + (terms.principal - paidPrincipal);
        if (s.oldestUnpaid != 0) {
            s.daysPastDue = LendingMath.daysPastDue(terms.start + s.oldestUnpaid * LendingMath.PERIOD, at);
        }
    }

    /**
     * @dev One pass over the due dates up to `at`: each segment [from, next due date) after the
     * last accrual accrues `LendingMath.penalty` on that segment's overdue principal into
     * `s.newPenalty`; the running sums give `s.due` (k), `s.cumPrincipal`, `s.cumInterest` and
     * `s.oldestUnpaid`. Returns the schedule's interest column.
     */
    function _walk(Terms memory terms, Account memory account, uint256 at, Snapshot memory s)
        private
        pure
        returns (uint256[] memory interests)
    {
        uint256[] memory principals;
        (principals, interests) = LendingMath.schedule(terms.principal, terms.annualRateBp, terms.installments);
        uint256 from = account.lastAccrual == 0 ? terms.start : account.lastAccrual;
        uint256 paidPrincipal = account.paidPrincipal;
        uint256 cumPrincipal;
        uint256 k;
        for (; k < terms.installments; ++k) {
            uint256 dueTime = terms.start + (k + 1) * LendingMath.PERIOD;
            if (dueTime > at) break;
            if (dueTime > from) {
                s.newPenalty += _penalty(terms, cumPrincipal, paidPrincipal, dueTime - from);
                from = dueTime;
            }
            cumPrincipal += principals[k];
            s.cumInterest += interests[k];
            if (s.oldestUnpaid == 0 && (cumPrincipal > paidPrincipal || s.cumInterest > account.paidInterest)) {
                s.oldestUnpaid = k + 1;
            }
        }
        if (at > from) s.newPenalty += _penalty(terms, cumPrincipal, paidPrincipal, at - from);
        (s.due, s.cumPrincipal) = (k, cumPrincipal);
    }

    /// @dev Penalty on the overdue principal max(0, cumPrincipal - paidPrincipal) for `seconds`.
    function _penalty(Terms memory terms, uint256 cumPrincipal, uint256 paidPrincipal, uint256 seconds_)
        private
        pure
        returns (uint256)
    {
        if (cumPrincipal <= paidPrincipal) return 0;
        return LendingMath.penalty(
            cumPrincipal - paidPrincipal, terms.annualRateBp, terms.penaltySurchargeBp, seconds_
        );
    }

    /**
     * @dev Makes snapshot `s` (taken at block time) the loan's accrual point: stores a new penalty
     * total (emitting {PenaltyAccrued}) and sets `account.lastAccrual`; the caller writes `account`.
     */
    function _materialize(LoanId loanId, Account memory account, Snapshot memory s) internal {
        if (s.newPenalty != 0) {
            uint64 total = SafeCast.toUint64(s.penaltyTotal);
            _setPenaltyAccrued(loanId, total);
            // Cast safe: the new penalty is part of the total, which fits in 64 bits.
            emit PenaltyAccrued(loanId, uint64(s.newPenalty), total, uint64(block.timestamp));
        }
        account.lastAccrual = uint40(block.timestamp);
    }

    /// @dev Classification thresholds in days: parameters if set, else 1, 60, 90, 180.
    function _classThresholds() internal view returns (uint256[4] memory thresholds) {
        uint256[4] memory defaults = LendingMath.defaultThresholds();
        thresholds[0] = _parameterOr(_CLASS_SPECIAL_MENTION_DAYS, defaults[0]);
        thresholds[1] = _parameterOr(_CLASS_SUBSTANDARD_DAYS, defaults[1]);
        thresholds[2] = _parameterOr(_CLASS_DOUBTFUL_DAYS, defaults[2]);
        thresholds[3] = _parameterOr(_CLASS_LOSS_DAYS, defaults[3]);
    }

    /// @dev Days past due that collection `step` (not None) requires: parameter if set, else 1, 15, 60, 90.
    function _stepThreshold(CollectionStep step) internal view returns (uint256) {
        if (step == CollectionStep.Reminder) return _parameterOr(_COLLECTION_REMINDER_DAYS, 1);
        if (step == CollectionStep.AutomatedCollection) return _parameterOr(_COLLECTION_AUTOMATED_DAYS, 15);
        if (step == CollectionStep.OutsourcedRecovery) return _parameterOr(_COLLECTION_OUTSOURCED_DAYS, 60);
        return _parameterOr(_COLLECTION_ARBITRATION_DAYS, 90);
    }
}
