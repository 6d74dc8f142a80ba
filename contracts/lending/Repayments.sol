// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ICreditLines} from "../interfaces/ICreditLines.sol";
import {ILoanLedger} from "../interfaces/ILoanLedger.sol";
import {LendingMath} from "../libraries/LendingMath.sol";
import {LoanId, LoanStatus} from "./LendingTypes.sol";
import {LoanAccrual} from "./LoanAccrual.sol";

/**
 * @title Repayments
 * @notice Borrower payments: the waterfall (penalty, due interest, due principal, then prepayment
 * of the running period's interest and of principal ahead of schedule), the exact pro-rata
 * credit of every lender and the release of repaid principal to CreditLines.
 */
abstract contract Repayments is LoanAccrual {
    /// @dev What one repayment pays to each part of the debt.
    struct Allocation {
        uint256 toPenalty;
        uint256 toInterest;
        uint256 toPrincipal;
    }

    /// @inheritdoc ILoanLedger
    function repay(LoanId loanId, uint64 amount)
        external
        returns (uint64 toPenalty, uint64 toInterest, uint64 toPrincipal)
    {
        Terms memory terms = _existingTerms(loanId);
        (uint32[] memory memberIds, uint256[] memory lent) = _lenderShares(loanId, terms.lenderCount);
        _checkLead(memberIds[0]);
        if (terms.status == LoanStatus.Closed) revert LoanLedgerLoanClosed(loanId);
        if (amount == 0) revert LoanLedgerZeroAmount(loanId);

        Account memory account = _account(loanId);
        Snapshot memory s = _snapshot(terms, account, _penaltyAccrued(loanId), block.timestamp);
        // Cast safe: amount (a uint64) > payoff, so the payoff fits in 64 bits.
        if (amount > s.payoff) revert LoanLedgerRepaymentExceedsPayoff(loanId, amount, uint64(s.payoff));
        Allocation memory paid = _allocate(amount, s);

        _materialize(loanId, account, s);
        // Casts safe: each part is at most `amount`, a uint64; sums are checked.
        (toPenalty, toInterest, toPrincipal) = (uint64(paid.toPenalty), uint64(paid.toInterest), uint64(paid.toPrincipal));
        account.paidPenalty += toPenalty;
        account.paidInterest += toInterest;
        account.paidPrincipal += toPrincipal;
        _writeAccount(loanId, account);
        emit Repaid(loanId, amount, toPenalty, toInterest, toPrincipal);

        _creditLenders(loanId, memberIds, lent, paid);
        if (account.paidPrincipal == terms.principal) {
            _setStatus(loanId, LoanStatus.Closed);
            emit LoanClosed(loanId, uint64(block.timestamp));
        }
        if (toPrincipal != 0) {
            ICreditLines(creditLines()).releasePrincipal(terms.lineId, _borrowerOf(loanId), toPrincipal);
        }
    }

    /**
     * @dev `LendingMath.allocate` over the dues of `s`; the excess pays the running period's
     * interest, then principal ahead of schedule. The caller checked `amount <= s.payoff`, so the
     * principal part never exceeds the unpaid principal.
     */
    function _allocate(uint256 amount, Snapshot memory s) private pure returns (Allocation memory paid) {
        uint256 excess;
        (paid.toPenalty, paid.toInterest, paid.toPrincipal, excess) =
            LendingMath.allocate(amount, s.penaltyDue, s.interestDue, s.principalDue);
        if (excess != 0) {
            uint256 ahead = excess < s.nextInterest ? excess : s.nextInterest;
            paid.toInterest += ahead;
            paid.toPrincipal += excess - ahead;
        }
    }

    /**
     * @dev Splits `paid` among the lenders: penalty and interest by principal lent, principal by
     * principal outstanding (so no lender gets back more than it lent); every split sums exactly
     * to its whole. Emits {LenderCredited} for each lender credited something.
     */
    function _creditLenders(LoanId loanId, uint32[] memory memberIds, uint256[] memory lent, Allocation memory paid)
        private
    {
        uint256 count = memberIds.length;
        LenderFlow[] memory flows = _flows(loanId, count);
        uint256[] memory penalties = paid.toPenalty != 0 ? LendingMath.split(paid.toPenalty, lent) : new uint256[](count);
        uint256[] memory interests =
            paid.toInterest != 0 ? LendingMath.split(paid.toInterest, lent) : new uint256[](count);
        uint256[] memory principals;
        if (paid.toPrincipal != 0) {
            uint256[] memory outstanding = new uint256[](count);
            for (uint256 i; i < count; ++i) {
                outstanding[i] = lent[i] - flows[i].principalRepaid;
            }
            principals = LendingMath.split(paid.toPrincipal, outstanding);
        } else {
            principals = new uint256[](count);
        }
        for (uint256 i; i < count; ++i) {
            if (principals[i] | interests[i] | penalties[i] == 0) continue;
            LenderFlow memory flow = flows[i];
            // Casts safe: each part is at most its whole, a uint64.
            (uint64 principal, uint64 interest, uint64 penalty) =
                (uint64(principals[i]), uint64(interests[i]), uint64(penalties[i]));
            flow.principalRepaid += principal;
            flow.interestReceived += interest;
            flow.penaltyReceived += penalty;
            _writeFlow(loanId, i, flow);
            emit LenderCredited(loanId, memberIds[i], principal, interest, penalty);
        }
    }
}
