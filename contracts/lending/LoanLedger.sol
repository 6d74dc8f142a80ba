// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IConsortium} from "../interfaces/IConsortium.sol";
import {ILoanLedger} from "../interfaces/ILoanLedger.sol";
import {LendingMath} from "../libraries/LendingMath.sol";
import {Category, LenderPart, LineId, LoanId, LoanStatus, ProductId} from "./LendingTypes.sol";
import {Delinquency} from "./Delinquency.sol";
import {LoanStorage} from "./LoanStorage.sol";
import {Repayments} from "./Repayments.sol";

/**
 * @title LoanLedger
 * @notice The deployed loan-servicing contract of coledger: opening (from CreditLines), repayment
 * ({Repayments}), classification and collection ({Delinquency}), and the views. The rules are
 * documented in {ILoanLedger}.
 */
contract LoanLedger is Repayments, Delinquency {
    constructor(IConsortium consortium_, address creditLines_) LoanStorage(consortium_, creditLines_) {}

    /// @inheritdoc ILoanLedger
    function openLoan(
        LoanId loanId,
        bytes32 borrower,
        LineId lineId,
        ProductId productId,
        uint64 principal,
        uint16 annualRateBp,
        uint16 penaltySurchargeBp,
        uint8 installments,
        uint32 leadMemberId,
        LenderPart[] calldata parts
    ) external {
        _checkCreditLines();
        if (
            principal == 0 || principal > type(uint48).max || installments == 0 || installments > LendingMath.MAX_INSTALLMENTS || parts.length == 0
                || parts.length > type(uint8).max
        ) revert LoanLedgerInvalidTerms(principal, installments, parts.length);
        if (parts[0].memberId != leadMemberId) revert LoanLedgerLeadNotFirst(leadMemberId, parts[0].memberId);
        if (_existsLoan(loanId)) revert LoanLedgerLoanExists(loanId);
        uint256 sum = _storeLenders(loanId, parts);
        if (sum != principal) revert LoanLedgerPartsNotWhole(sum, principal);
        _storeLoan(
            loanId,
            Terms({
                lineId: lineId,
                productId: productId,
                principal: principal,
                annualRateBp: annualRateBp,
                penaltySurchargeBp: penaltySurchargeBp,
                installments: installments,
                start: uint40(block.timestamp),
                status: LoanStatus.Active,
                lenderCount: uint8(parts.length) // Cast safe: checked <= 255 above.
            })
        );
        emit LoanOpened(
            loanId,
            borrower,
            lineId,
            productId,
            principal,
            annualRateBp,
            penaltySurchargeBp,
            installments,
            leadMemberId,
            uint64(block.timestamp),
            parts
        );
        _creditVirtualAccount(borrower, loanId, principal);
    }

    /// @inheritdoc ILoanLedger
    function loan(LoanId loanId) external view returns (LoanView memory view_) {
        Terms memory terms = _existingTerms(loanId);
        Account memory account = _account(loanId);
        view_.borrower = _borrowerOf(loanId);
        (view_.lineId, view_.productId, view_.principal) = (terms.lineId, terms.productId, terms.principal);
        (view_.annualRateBp, view_.penaltySurchargeBp) = (terms.annualRateBp, terms.penaltySurchargeBp);
        (view_.installments, view_.start, view_.leadMemberId) = (terms.installments, terms.start, _leadOf(loanId));
        (view_.status, view_.category, view_.collectionStep) = (terms.status, account.category, account.collectionStep);
        (view_.paidPrincipal, view_.paidInterest, view_.paidPenalty) =
            (account.paidPrincipal, account.paidInterest, account.paidPenalty);
        view_.penaltyAccrued = _penaltyAccrued(loanId);
        view_.lastAccrual = account.lastAccrual == 0 ? terms.start : account.lastAccrual;
    }

    /// @inheritdoc ILoanLedger
    function lenders(LoanId loanId) external view returns (LenderPosition[] memory positions) {
        uint256 count = _existingTerms(loanId).lenderCount;
        (uint32[] memory memberIds, uint256[] memory lent) = _lenderShares(loanId, count);
        LenderFlow[] memory flows = _flows(loanId, count);
        positions = new LenderPosition[](count);
        for (uint256 i; i < count; ++i) {
            // Casts safe: lent was stored as a uint64, and repaid <= lent.
            positions[i] = LenderPosition({
                memberId: memberIds[i],
                principalLent: uint64(lent[i]),
                principalOutstanding: uint64(lent[i] - flows[i].principalRepaid),
                interestReceived: flows[i].interestReceived,
                penaltyReceived: flows[i].penaltyReceived
            });
        }
    }

    /// @inheritdoc ILoanLedger
    function dueAt(LoanId loanId, uint64 timestamp)
        external
        view
        returns (
            uint64 penaltyDue,
            uint64 interestDue,
            uint64 principalDue,
            uint64 payoff,
            uint32 daysPastDue,
            Category category
        )
    {
        Terms memory terms = _existingTerms(loanId);
        if (terms.status == LoanStatus.Closed) return (0, 0, 0, 0, 0, Category.Normal);
        Account memory account = _account(loanId);
        uint64 last = account.lastAccrual == 0 ? terms.start : account.lastAccrual;
        if (timestamp < last) revert LoanLedgerTimeBeforeAccrual(loanId, timestamp, last);
        Snapshot memory s = _snapshot(terms, account, _penaltyAccrued(loanId), timestamp);
        penaltyDue = SafeCast.toUint64(s.penaltyDue);
        interestDue = SafeCast.toUint64(s.interestDue);
        principalDue = SafeCast.toUint64(s.principalDue);
        payoff = SafeCast.toUint64(s.payoff);
        daysPastDue = SafeCast.toUint32(s.daysPastDue);
        category = Category(LendingMath.classify(s.daysPastDue, _classThresholds()));
    }

    /// @inheritdoc ILoanLedger
    function virtualBalance(bytes32 borrower) external view returns (uint64) {
        return _virtualBalanceOf(borrower);
    }

    /// @inheritdoc ILoanLedger
    function loanCount() external view returns (uint256) {
        return _loanCountValue();
    }
}
