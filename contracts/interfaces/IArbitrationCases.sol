// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/**
 * @title IArbitrationCases
 * @notice Arbitration cases over defaulted loans: a lead bank opens a case for a Defaulted loan
 * before an arbitrator member, freezing the loan's evidence set; the arbitrator records an award
 * it signed (EIP-712); the operator anchors the head of each case's access log.
 *
 * Frozen set. `frozenHead` is the item hash of the loan's last evidence item when the case opens
 * and `frozenCount` the number of its items; the per-loan hash chain (`prev`) makes the head
 * commit to the whole set. Items anchored in blocks after `openedBlock` are later additions
 * (decided off chain). A loan without evidence opens with (0, 0).
 *
 * Award. The arbitrator signs the EIP-712 struct `Award(uint256 caseId,uint64 loanId,bytes32
 * awardHash)` in the domain {name: "coledger ArbitrationCases", version: "1", chainId,
 * verifyingContract}; {awardDigest} is what it signs.
 *
 * Access log. Reads of evidence through the API are logged in a hash chain per case; the
 * operator anchors its head and length, which only grows. Case 0 stands for reads outside any case.
 *
 * Invariants: case ids are `1..caseCount()`; at most one case per loan is Open at a time;
 * an Open case only becomes Awarded; the anchored access-log length of a case strictly increases.
 */
interface IArbitrationCases {
    /// @notice Life cycle of a case.
    enum CaseStatus {
        None,
        Open,
        Awarded
    }

    /// @notice A case as stored. For case 0 (and unknown ids) only the access-log fields can be set.
    struct CaseView {
        uint64 loanId;
        address arbitrator;
        address opener;
        uint64 openedBlock;
        uint64 openedAt;
        bytes32 frozenHead;
        uint32 frozenCount;
        CaseStatus status;
        bytes32 awardHash;
        bytes32 accessLogHead;
        uint64 accessLogEntries;
    }

    /// @notice `opener` opened case `caseId` on loan `loanId` before `arbitrator`, freezing the
    /// evidence set of `frozenCount` items whose last item hash is `frozenHead`.
    event CaseOpened(
        uint256 indexed caseId,
        uint64 indexed loanId,
        address indexed arbitrator,
        address opener,
        bytes32 frozenHead,
        uint32 frozenCount
    );

    /// @notice `arbitrator` recorded the award `awardHash` of case `caseId`, signed with `signature`.
    event AwardRecorded(uint256 indexed caseId, address indexed arbitrator, bytes32 awardHash, bytes signature);

    /// @notice `operator` anchored the access log of case `caseId`: `entries` entries, head `logHead`.
    event AccessLogAnchored(uint256 indexed caseId, bytes32 logHead, uint64 entries, address indexed operator);

    /// @dev `account` does not hold `role` (a `IConsortium.Role`).
    error ArbitrationUnauthorized(address account, uint8 role);

    /// @dev Loan `loanId` has status `status` (a `LoanStatus`), not Defaulted.
    error ArbitrationLoanNotDefaulted(uint64 loanId, uint8 status);

    /// @dev `arbitrator` does not hold the Arbitrator role.
    error ArbitrationNotArbitrator(address arbitrator);

    /// @dev Case `caseId` is still open for loan `loanId`.
    error ArbitrationCaseAlreadyOpen(uint64 loanId, uint256 caseId);

    /// @dev A frozen head without items, or items without a head.
    error ArbitrationBadFrozenSet(bytes32 frozenHead, uint32 frozenCount);

    /// @dev No case has the id `caseId`.
    error ArbitrationUnknownCase(uint256 caseId);

    /// @dev Case `caseId` has status `status`, not Open.
    error ArbitrationCaseNotOpen(uint256 caseId, CaseStatus status);

    /// @dev `account` is not `arbitrator`, the arbitrator assigned to case `caseId`.
    error ArbitrationNotAssignedArbitrator(uint256 caseId, address account, address arbitrator);

    /// @dev The award hash is zero.
    error ArbitrationZeroAwardHash();

    /// @dev The award signature of case `caseId` is malformed or recovers to `signer`, not the arbitrator.
    error ArbitrationBadAwardSignature(uint256 caseId, address signer);

    /// @dev Case `caseId`'s access log already has `anchored` entries anchored; `entries` must exceed it.
    error ArbitrationAccessLogNotAdvancing(uint256 caseId, uint64 entries, uint64 anchored);

    /**
     * @notice Opens a case on loan `loanId` before `arbitrator` with the loan's evidence frozen
     * at (`frozenHead`, `frozenCount`).
     * @dev Caller must hold `Role.LeadBank`. Reverts with {ArbitrationLoanNotDefaulted} unless the
     * LoanLedger reports the loan Defaulted (an unknown loan reverts with the ledger's error),
     * {ArbitrationNotArbitrator}, {ArbitrationCaseAlreadyOpen} while an earlier case of the loan
     * is Open (a new case may follow an Awarded one), {ArbitrationBadFrozenSet} unless the head
     * and the count are both zero or both nonzero. Emits {CaseOpened}.
     * @return caseId The new case's id; ids start at 1.
     */
    function openCase(uint64 loanId, address arbitrator, bytes32 frozenHead, uint32 frozenCount)
        external
        returns (uint256 caseId);

    /**
     * @notice Records the award of case `caseId`: `awardHash` and the arbitrator's EIP-712
     * signature of it ({awardDigest}); the case becomes Awarded.
     * @dev Caller must be the case's arbitrator ({ArbitrationNotAssignedArbitrator}) and still
     * hold the Arbitrator role ({ArbitrationUnauthorized}). Reverts with {ArbitrationUnknownCase},
     * {ArbitrationCaseNotOpen}, {ArbitrationZeroAwardHash}, {ArbitrationBadAwardSignature} unless
     * `signature` is a 65-byte signature by the arbitrator. Emits {AwardRecorded}.
     */
    function recordAward(uint256 caseId, bytes32 awardHash, bytes calldata signature) external;

    /**
     * @notice Anchors the head `logHead` of case `caseId`'s access log, now `entries` long.
     * @dev Caller must hold `Role.Operator`. Reverts with {ArbitrationUnknownCase} unless the case
     * exists or `caseId` is 0, {ArbitrationAccessLogNotAdvancing} unless `entries` exceeds the
     * count anchored last. Emits {AccessLogAnchored}.
     */
    function anchorAccessLog(uint256 caseId, bytes32 logHead, uint64 entries) external;

    /// @notice Case `caseId`; all zeros (status None) for an unknown id.
    function caseInfo(uint256 caseId) external view returns (CaseView memory);

    /// @notice The latest case opened on loan `loanId`, or 0.
    function caseOfLoan(uint64 loanId) external view returns (uint256);

    /// @notice The number of cases ever opened; ids are `1..caseCount()`.
    function caseCount() external view returns (uint256);

    /// @notice The EIP-712 digest the arbitrator signs to award `awardHash` in case `caseId` on `loanId`.
    function awardDigest(uint256 caseId, uint64 loanId, bytes32 awardHash) external view returns (bytes32);

    /// @notice The EIP-712 domain separator (recomputed if the chain id changed).
    function domainSeparator() external view returns (bytes32);

    /// @notice The Consortium whose roles this contract checks.
    function consortium() external view returns (address);

    /// @notice The LoanLedger whose loan status {openCase} checks.
    function loanLedger() external view returns (address);
}
