// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IArbitrationCases} from "../interfaces/IArbitrationCases.sol";
import {IConsortium} from "../interfaces/IConsortium.sol";
import {ILoanLedger} from "../interfaces/ILoanLedger.sol";
import {LoanId, LoanStatus} from "../lending/LendingTypes.sol";

/**
 * @title ArbitrationCases
 * @notice Arbitration cases over defaulted loans, their EIP-712 signed awards and the anchored
 * heads of their access logs; see {IArbitrationCases}.
 */
contract ArbitrationCases is IArbitrationCases, EIP712 {
    bytes32 private constant _AWARD_TYPEHASH = keccak256("Award(uint256 caseId,uint64 loanId,bytes32 awardHash)");

    /// @dev Storage layout of a case: what {recordAward} reads shares slot 0; slot 1 is written
    /// once at opening; slot 2 holds the opening time and the access-log length.
    struct Record {
        address arbitrator;
        uint64 loanId;
        CaseStatus status;
        address opener;
        uint64 openedBlock;
        uint32 frozenCount;
        uint64 openedAt;
        uint64 accessLogEntries;
        bytes32 frozenHead;
        bytes32 awardHash;
        bytes32 accessLogHead;
    }

    IConsortium private immutable _consortium;
    ILoanLedger private immutable _ledger;

    uint256 private _caseCount;
    mapping(uint256 caseId => Record) private _cases;
    mapping(uint64 loanId => uint256 caseId) private _caseOfLoan;

    constructor(IConsortium consortium_, ILoanLedger ledger_) EIP712("coledger ArbitrationCases", "1") {
        _consortium = consortium_;
        _ledger = ledger_;
    }

    // ---------------------------------------------------------------- cases

    /// @inheritdoc IArbitrationCases
    function openCase(uint64 loanId, address arbitrator, bytes32 frozenHead, uint32 frozenCount)
        external
        returns (uint256 caseId)
    {
        _checkRole(IConsortium.Role.LeadBank, msg.sender);
        LoanStatus status = _ledger.loan(LoanId.wrap(loanId)).status;
        if (status != LoanStatus.Defaulted) revert ArbitrationLoanNotDefaulted(loanId, uint8(status));
        if (!_consortium.hasRole(IConsortium.Role.Arbitrator, arbitrator)) revert ArbitrationNotArbitrator(arbitrator);
        uint256 previous = _caseOfLoan[loanId];
        if (previous != 0 && _cases[previous].status == CaseStatus.Open) {
            revert ArbitrationCaseAlreadyOpen(loanId, previous);
        }
        if ((frozenHead == bytes32(0)) != (frozenCount == 0)) revert ArbitrationBadFrozenSet(frozenHead, frozenCount);
        caseId = ++_caseCount;
        Record storage c = _cases[caseId];
        c.arbitrator = arbitrator;
        c.loanId = loanId;
        c.status = CaseStatus.Open;
        c.opener = msg.sender;
        c.openedBlock = uint64(block.number);
        c.frozenCount = frozenCount;
        c.openedAt = uint64(block.timestamp);
        if (frozenHead != bytes32(0)) c.frozenHead = frozenHead;
        _caseOfLoan[loanId] = caseId;
        emit CaseOpened(caseId, loanId, arbitrator, msg.sender, frozenHead, frozenCount);
    }

    /// @inheritdoc IArbitrationCases
    function recordAward(uint256 caseId, bytes32 awardHash, bytes calldata signature) external {
        Record storage c = _cases[caseId];
        (address arbitrator, uint64 loanId, CaseStatus status) = (c.arbitrator, c.loanId, c.status);
        if (status == CaseStatus.None) revert ArbitrationUnknownCase(caseId);
        if (msg.sender != arbitrator) revert ArbitrationNotAssignedArbitrator(caseId, msg.sender, arbitrator);
        _checkRole(IConsortium.Role.Arbitrator, msg.sender);
        if (status != CaseStatus.Open) revert ArbitrationCaseNotOpen(caseId, status);
        if (awardHash == bytes32(0)) revert ArbitrationZeroAwardHash();
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(awardDigest(caseId, loanId, awardHash), signature);
        if (err != ECDSA.RecoverError.NoError || signer != arbitrator) revert ArbitrationBadAwardSignature(caseId, signer);
        c.status = CaseStatus.Awarded;
        c.awardHash = awardHash;
        emit AwardRecorded(caseId, arbitrator, awardHash, signature);
    }

    /// @inheritdoc IArbitrationCases
    function anchorAccessLog(uint256 caseId, bytes32 logHead, uint64 entries) external {
        _checkRole(IConsortium.Role.Operator, msg.sender);
        Record storage c = _cases[caseId];
        if (caseId != 0 && c.status == CaseStatus.None) revert ArbitrationUnknownCase(caseId);
        uint64 anchored = c.accessLogEntries;
        if (entries <= anchored) revert ArbitrationAccessLogNotAdvancing(caseId, entries, anchored);
        c.accessLogEntries = entries;
        c.accessLogHead = logHead;
        emit AccessLogAnchored(caseId, logHead, entries, msg.sender);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IArbitrationCases
    function caseInfo(uint256 caseId) external view returns (CaseView memory) {
        Record storage c = _cases[caseId];
        return CaseView({
            loanId: c.loanId,
            arbitrator: c.arbitrator,
            opener: c.opener,
            openedBlock: c.openedBlock,
            openedAt: c.openedAt,
            frozenHead: c.frozenHead,
            frozenCount: c.frozenCount,
            status: c.status,
            awardHash: c.awardHash,
            accessLogHead: c.accessLogHead,
            accessLogEntries: c.accessLogEntries
        });
    }

    /// @inheritdoc IArbitrationCases
    function caseOfLoan(uint64 loanId) external view returns (uint256) {
        return _caseOfLoan[loanId];
    }

    /// @inheritdoc IArbitrationCases
    function caseCount() external view returns (uint256) {
        return _caseCount;
    }

    /// @inheritdoc IArbitrationCases
    function awardDigest(uint256 caseId, uint64 loanId, bytes32 awardHash) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(_AWARD_TYPEHASH, caseId, loanId, awardHash)));
    }

    /// @inheritdoc IArbitrationCases
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IArbitrationCases
    function consortium() external view returns (address) {
        return address(_consortium);
    }

    /// @inheritdoc IArbitrationCases
    function loanLedger() external view returns (address) {
        return address(_ledger);
    }

    // ---------------------------------------------------------------- internals

    function _checkRole(IConsortium.Role role, address account) private view {
        if (!_consortium.hasRole(role, account)) revert ArbitrationUnauthorized(account, uint8(role));
    }
}
