// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ICreditLines} from "../interfaces/ICreditLines.sol";
import {LenderPart, LineId, LoanId, ProductId} from "../lending/LendingTypes.sol";

/**
 * @title LoanLedgerStub
 * @notice Test-only stand-in for the LoanLedger in origination tests: {openLoan} records the call
 * as an event (nothing in storage, so gas measurements show CreditLines' own cost), and
 * {releasePrincipal} forwards a principal release to CreditLines as the real ledger would.
 */
contract LoanLedgerStub {
    /// @notice CreditLines called openLoan with these arguments.
    event OpenLoanCalled(
        LoanId indexed loanId,
        bytes32 borrower,
        LineId lineId,
        ProductId productId,
        uint64 principal,
        uint16 annualRateBp,
        uint16 penaltySurchargeBp,
        uint8 installments,
        uint32 leadMemberId,
        LenderPart[] parts,
        address caller
    );

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
        emit OpenLoanCalled(
            loanId, borrower, lineId, productId, principal, annualRateBp, penaltySurchargeBp, installments,
            leadMemberId, parts, msg.sender
        );
    }

    /// @notice Forwards `releasePrincipal` to `lines`, as the LoanLedger does on a principal repayment.
    function releasePrincipal(ICreditLines lines, LineId lineId, bytes32 borrower, uint64 amount) external {
        lines.releasePrincipal(lineId, borrower, amount);
    }
}
