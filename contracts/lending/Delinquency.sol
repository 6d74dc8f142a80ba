// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ILoanLedger} from "../interfaces/ILoanLedger.sol";
import {LendingMath} from "../libraries/LendingMath.sol";
import {Category, CollectionStep, LoanId, LoanStatus} from "./LendingTypes.sol";
import {LoanAccrual} from "./LoanAccrual.sol";

/**
 * @title Delinquency
 * @notice Five-category classification from days past due, and the collection ladder (reminder,
 * automated collection, outsourced recovery, arbitration) with evidence for every step.
 */
abstract contract Delinquency is LoanAccrual {
    /// @inheritdoc ILoanLedger
    function classify(LoanId loanId) external returns (Category category) {
        Terms memory terms = _existingTerms(loanId);
        _checkMember();
        if (terms.status == LoanStatus.Closed) revert LoanLedgerLoanClosed(loanId);
        Account memory account = _account(loanId);
        Snapshot memory s = _snapshot(terms, account, _penaltyAccrued(loanId), block.timestamp);
        _materialize(loanId, account, s);
        category = Category(LendingMath.classify(s.daysPastDue, _classThresholds()));
        if (category != account.category) {
            account.category = category;
            // Cast safe: days since a uint40 time fit in 32 bits.
            emit LoanClassified(loanId, uint32(s.daysPastDue), category);
        }
        _writeAccount(loanId, account);
    }

    /// @inheritdoc ILoanLedger
    function recordCollectionStep(LoanId loanId, CollectionStep step, bytes32 evidenceHash) external {
        Terms memory terms = _existingTerms(loanId);
        uint32 lead = _leadOf(loanId);
        _checkLead(lead);
        if (terms.status == LoanStatus.Closed) revert LoanLedgerLoanClosed(loanId);
        Account memory account = _account(loanId);
        if (step <= account.collectionStep) revert LoanLedgerStepNotForward(loanId, account.collectionStep, step);
        if (evidenceHash == bytes32(0)) revert LoanLedgerEmptyEvidence(loanId);

        Snapshot memory s = _snapshot(terms, account, _penaltyAccrued(loanId), block.timestamp);
        uint256 required = _stepThreshold(step);
        if (s.daysPastDue < required) revert LoanLedgerStepTooEarly(loanId, step, s.daysPastDue, required);
        _materialize(loanId, account, s);
        account.collectionStep = step;
        _writeAccount(loanId, account);
        // Cast safe: days since a uint40 time fit in 32 bits.
        emit CollectionStepRecorded(loanId, step, lead, uint32(s.daysPastDue), evidenceHash, uint64(block.timestamp));
        if (step == CollectionStep.Arbitration) {
            _setStatus(loanId, LoanStatus.Defaulted);
            emit LoanDefaulted(loanId, uint32(s.daysPastDue), terms.principal - account.paidPrincipal);
        }
    }
}
