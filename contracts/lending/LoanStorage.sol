// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IConsortium} from "../interfaces/IConsortium.sol";
import {ICreditLines} from "../interfaces/ICreditLines.sol";
import {ILoanLedger} from "../interfaces/ILoanLedger.sol";
import {Category, CollectionStep, LenderPart, LineId, LoanId, LoanStatus, ProductId} from "./LendingTypes.sol";

/**
 * @title LoanStorage
 * @notice The LoanLedger's state, its packed layout and the checks every entry point shares.
 * @dev Layout (what {ILoanLedger-openLoan} writes is the drawdown's gas budget): a loan is
 * {Terms} (1 slot, written once) + {Account} (1 slot, zero until the first touch) + the accrued
 * penalty (1 slot, zero until a penalty accrues). The borrower is not stored: the loan's id is its
 * drawdown's id, and CreditLines answers {ICreditLines-drawdownBorrower}. The lead bank is the first
 * lender. Lenders' fixed data are packed three to a slot ({LenderGroup}); what each lender has
 * received is a {LenderFlow} slot written at its first credit. The schedule is never stored.
 */
abstract contract LoanStorage is ILoanLedger {
    /// @dev A loan's terms: exactly one slot, written at opening; only `status` changes later.
    struct Terms {
        LineId lineId;
        ProductId productId;
        uint64 principal;
        uint16 annualRateBp;
        uint16 penaltySurchargeBp;
        uint8 installments;
        uint40 start;
        LoanStatus status;
        uint8 lenderCount;
    }

    /// @dev A loan's repayment state: one slot; `lastAccrual` 0 means "not touched since start".
    struct Account {
        uint64 paidPrincipal;
        uint64 paidInterest;
        uint64 paidPenalty;
        uint40 lastAccrual;
        Category category;
        CollectionStep collectionStep;
    }

    /// @dev A loan: slot 0 terms, slot 1 account, slot 2 total penalty accrued.
    struct Loan {
        Terms terms;
        Account account;
        uint64 penaltyAccrued;
    }

    /// @dev The fixed data of lenders 3j, 3j+1 and 3j+2 of a loan, in one slot (240 bits); parts
    /// fit 48 bits because the principal does (checked at opening).
    struct LenderGroup {
        uint32 memberId0;
        uint48 lent0;
        uint32 memberId1;
        uint48 lent1;
        uint32 memberId2;
        uint48 lent2;
    }

    /// @dev What one lender of a loan has received so far, in one slot.
    struct LenderFlow {
        uint64 principalRepaid;
        uint64 interestReceived;
        uint64 penaltyReceived;
    }

    bytes32 internal constant _CLASS_SPECIAL_MENTION_DAYS = keccak256("lending.class.specialMentionDays");
    bytes32 internal constant _CLASS_SUBSTANDARD_DAYS = keccak256("lending.class.substandardDays");
    bytes32 internal constant _CLASS_DOUBTFUL_DAYS = keccak256("lending.class.doubtfulDays");
    bytes32 internal constant _CLASS_LOSS_DAYS = keccak256("lending.class.lossDays");
    bytes32 internal constant _COLLECTION_REMINDER_DAYS = keccak256("lending.collection.reminderDays");
    bytes32 internal constant _COLLECTION_AUTOMATED_DAYS = keccak256("lending.collection.automatedDays");
    bytes32 internal constant _COLLECTION_OUTSOURCED_DAYS = keccak256("lending.collection.outsourcedDays");
    bytes32 internal constant _COLLECTION_ARBITRATION_DAYS = keccak256("lending.collection.arbitrationDays");

    IConsortium private immutable _consortium;
    address private immutable _creditLines;

    uint256 private _loanCount;
    mapping(LoanId loanId => Loan) private _loans;
    mapping(LoanId loanId => mapping(uint256 groupIndex => LenderGroup)) private _lenderGroups;
    mapping(LoanId loanId => mapping(uint256 lenderIndex => LenderFlow)) private _lenderFlows;

    constructor(IConsortium consortium_, address creditLines_) {
        if (address(consortium_) == address(0) || creditLines_ == address(0)) revert LoanLedgerZeroAddress();
        _consortium = consortium_;
        _creditLines = creditLines_;
    }

    /// @inheritdoc ILoanLedger
    function consortium() public view returns (IConsortium) {
        return _consortium;
    }

    /// @inheritdoc ILoanLedger
    function creditLines() public view returns (address) {
        return _creditLines;
    }

    // ---------------------------------------------------------------- access

    function _checkCreditLines() internal view {
        if (msg.sender != _creditLines) revert LoanLedgerUnauthorized(msg.sender);
    }

    /// @dev The caller must be lead bank `leadMemberId`'s current key, holding the LeadBank role.
    function _checkLead(uint32 leadMemberId) internal view {
        if (
            _consortium.memberIdOf(msg.sender) != leadMemberId
                || !_consortium.hasRole(IConsortium.Role.LeadBank, msg.sender)
        ) revert LoanLedgerUnauthorized(msg.sender);
    }

    function _checkMember() internal view {
        if (!_consortium.isActiveMember(msg.sender)) revert LoanLedgerUnauthorized(msg.sender);
    }

    /// @dev Consortium parameter `name` if set (non-zero), else `fallback_`.
    function _parameterOr(bytes32 name, uint256 fallback_) internal view returns (uint256) {
        uint256 value = _consortium.parameter(name);
        return value == 0 ? fallback_ : value;
    }

    // ---------------------------------------------------------------- loans

    /// @dev The terms of loan `loanId`; reverts with {LoanLedgerUnknownLoan} if there is none.
    function _existingTerms(LoanId loanId) internal view returns (Terms memory terms) {
        terms = _loans[loanId].terms;
        if (terms.status == LoanStatus.None) revert LoanLedgerUnknownLoan(loanId);
    }

    function _existsLoan(LoanId loanId) internal view returns (bool) {
        return _loans[loanId].terms.status != LoanStatus.None;
    }

    /// @dev The borrower of loan `loanId`, which is kept by CreditLines (the drawdown's line).
    function _borrowerOf(LoanId loanId) internal view returns (bytes32) {
        return ICreditLines(_creditLines).drawdownBorrower(loanId);
    }

    function _account(LoanId loanId) internal view returns (Account memory) {
        return _loans[loanId].account;
    }

    function _penaltyAccrued(LoanId loanId) internal view returns (uint64) {
        return _loans[loanId].penaltyAccrued;
    }

    function _loanCountValue() internal view returns (uint256) {
        return _loanCount;
    }

    /// @dev Stores a new loan's terms and counts it; its account stays zero.
    function _storeLoan(LoanId loanId, Terms memory terms) internal {
        _loans[loanId].terms = terms;
        ++_loanCount;
    }

    function _writeAccount(LoanId loanId, Account memory account) internal {
        _loans[loanId].account = account;
    }

    function _setPenaltyAccrued(LoanId loanId, uint64 total) internal {
        _loans[loanId].penaltyAccrued = total;
    }

    function _setStatus(LoanId loanId, LoanStatus status) internal {
        _loans[loanId].terms.status = status;
    }

    // ---------------------------------------------------------------- lenders

    /**
     * @dev Stores the lenders' fixed data three to a slot; returns the sum of their parts. The
     * caller reverts unless that sum is the principal (< 2^48), so no part was truncated.
     */
    function _storeLenders(LoanId loanId, LenderPart[] calldata parts) internal returns (uint256 sum) {
        uint256 count = parts.length;
        mapping(uint256 => LenderGroup) storage groups = _lenderGroups[loanId];
        for (uint256 i; i < count; i += 3) {
            (uint32 id0, uint64 lent0) = _part(parts, i);
            (uint32 id1, uint64 lent1) = _part(parts, i + 1);
            (uint32 id2, uint64 lent2) = _part(parts, i + 2);
            groups[i / 3] = LenderGroup(id0, uint48(lent0), id1, uint48(lent1), id2, uint48(lent2));
            // Cannot overflow: at most 255 parts of < 2^64 each.
            sum += uint256(lent0) + lent1 + lent2;
        }
    }

    /// @dev Part `i` of `parts`, or zeros past the end.
    function _part(LenderPart[] calldata parts, uint256 i) private pure returns (uint32, uint64) {
        if (i >= parts.length) return (0, 0);
        return (parts[i].memberId, parts[i].amount);
    }

    /// @dev The lead bank of loan `loanId`: its first lender.
    function _leadOf(LoanId loanId) internal view returns (uint32) {
        return _lenderGroups[loanId][0].memberId0;
    }

    /// @dev Member ids and principal lent of the `count` lenders of loan `loanId`, in order.
    function _lenderShares(LoanId loanId, uint256 count)
        internal
        view
        returns (uint32[] memory memberIds, uint256[] memory lent)
    {
        memberIds = new uint32[](count);
        lent = new uint256[](count);
        mapping(uint256 => LenderGroup) storage groups = _lenderGroups[loanId];
        for (uint256 i; i < count; i += 3) {
            LenderGroup memory group = groups[i / 3];
            (memberIds[i], lent[i]) = (group.memberId0, group.lent0);
            if (i + 1 < count) (memberIds[i + 1], lent[i + 1]) = (group.memberId1, group.lent1);
            if (i + 2 < count) (memberIds[i + 2], lent[i + 2]) = (group.memberId2, group.lent2);
        }
    }

    function _flows(LoanId loanId, uint256 count) internal view returns (LenderFlow[] memory flows) {
        flows = new LenderFlow[](count);
        mapping(uint256 => LenderFlow) storage stored = _lenderFlows[loanId];
        for (uint256 i; i < count; ++i) {
            flows[i] = stored[i];
        }
    }

    function _writeFlow(LoanId loanId, uint256 index, LenderFlow memory flow) internal {
        _lenderFlows[loanId][index] = flow;
    }

    // ---------------------------------------------------------------- virtual accounts

    /// @dev Announces the credit of loan `loanId`'s proceeds to `borrower`'s virtual account. The
    /// balance itself is kept by CreditLines in the borrower's exposure slot (written at
    /// disbursement anyway), which saves a per-borrower slot here.
    function _creditVirtualAccount(bytes32 borrower, LoanId loanId, uint64 amount) internal {
        emit VirtualAccountCredited(borrower, loanId, amount);
    }

    function _virtualBalanceOf(bytes32 borrower) internal view returns (uint64) {
        return ICreditLines(_creditLines).borrowerVirtualBalance(borrower);
    }
}
