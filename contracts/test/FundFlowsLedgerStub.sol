// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ILoanLedger} from "../interfaces/ILoanLedger.sol";
import {LoanId, LoanStatus, ProductId} from "../lending/LendingTypes.sol";

/**
 * @title FundFlowsLedgerStub
 * @notice Test-only stand-in for the LoanLedger's {ILoanLedger-loan} view, so the FundFlows
 * property tests can open loans in one cheap transaction. Not part of a deployment.
 */
contract FundFlowsLedgerStub {
    mapping(LoanId loanId => ILoanLedger.LoanView) private _loans;

    /// @notice Records loan `loanId` as active, started at block time.
    function setLoan(LoanId loanId, bytes32 borrower, ProductId productId, uint64 principal, uint32 leadMemberId)
        external
    {
        ILoanLedger.LoanView storage l = _loans[loanId];
        l.borrower = borrower;
        l.productId = productId;
        l.principal = principal;
        l.start = uint64(block.timestamp);
        l.leadMemberId = leadMemberId;
        l.status = LoanStatus.Active;
    }

    /// @notice Loan `loanId`, as the LoanLedger would answer; reverts like it for an unknown id.
    function loan(LoanId loanId) external view returns (ILoanLedger.LoanView memory) {
        if (_loans[loanId].status == LoanStatus.None) revert ILoanLedger.LoanLedgerUnknownLoan(loanId);
        return _loans[loanId];
    }
}
