// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ILoanLedger} from "../interfaces/ILoanLedger.sol";
import {LenderPart, LineId, LoanId, ProductId} from "../lending/LendingTypes.sol";

/**
 * @title CreditLinesStub
 * @notice TEST ONLY. Plays CreditLines towards a LoanLedger: forwards {openLoan} (anyone may call
 * it; the real CreditLines checks roles and commitments) and records every `releasePrincipal`
 * the ledger makes. Deploy it first, then the LoanLedger with its address, then {setLedger}.
 */
contract CreditLinesStub {
    /// @notice The ledger called `releasePrincipal(lineId, borrower, amount)`.
    event PrincipalReleased(LineId indexed lineId, bytes32 indexed borrower, uint64 amount);

    /// @notice The ledger's `openLoan` used `gasUsed` gas, measured inside this call.
    event OpenLoanGas(LoanId indexed loanId, uint256 gasUsed);

    /// @dev `caller` is not the ledger (for `releasePrincipal`), or the ledger is already set.
    error CreditLinesStubUnauthorized(address caller);

    ILoanLedger private _ledger;
    mapping(LoanId loanId => bytes32 borrower) private _borrowers;
    mapping(bytes32 borrower => uint64 balance) private _virtualBalances;
    mapping(LineId lineId => mapping(bytes32 borrower => uint256 amount)) private _released;
    uint256 private _releaseCount;

    /// @notice Binds the ledger once.
    function setLedger(ILoanLedger ledger_) external {
        if (address(_ledger) != address(0)) revert CreditLinesStubUnauthorized(msg.sender);
        _ledger = ledger_;
    }

    /// @notice Forwards to `ILoanLedger.openLoan` and emits {OpenLoanGas}; like CreditLines it
    /// remembers the loan's borrower ({drawdownBorrower}) and credits the borrower's virtual
    /// account ({borrowerVirtualBalance}), which the ledger reads back.
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
        _borrowers[loanId] = borrower;
        _virtualBalances[borrower] += principal;
        uint256 before = gasleft();
        _ledger.openLoan(
            loanId, borrower, lineId, productId, principal, annualRateBp, penaltySurchargeBp, installments,
            leadMemberId, parts
        );
        emit OpenLoanGas(loanId, before - gasleft());
    }

    /// @notice What CreditLines implements: records the principal released.
    function releasePrincipal(LineId lineId, bytes32 borrower, uint64 amount) external {
        if (msg.sender != address(_ledger)) revert CreditLinesStubUnauthorized(msg.sender);
        _released[lineId][borrower] += amount;
        ++_releaseCount;
        emit PrincipalReleased(lineId, borrower, amount);
    }

    /// @notice What CreditLines implements: the borrower of the loan (drawdown) `loanId`.
    function drawdownBorrower(LoanId loanId) external view returns (bytes32) {
        return _borrowers[loanId];
    }

    /// @notice What CreditLines implements: the virtual account credited by {openLoan}.
    function borrowerVirtualBalance(bytes32 borrower) external view returns (uint64) {
        return _virtualBalances[borrower];
    }

    /// @notice Total principal released on `lineId` of `borrower`.
    function released(LineId lineId, bytes32 borrower) external view returns (uint256) {
        return _released[lineId][borrower];
    }

    /// @notice Number of `releasePrincipal` calls received.
    function releaseCount() external view returns (uint256) {
        return _releaseCount;
    }

    /// @notice The ledger this stub forwards to.
    function ledger() external view returns (ILoanLedger) {
        return _ledger;
    }
}
