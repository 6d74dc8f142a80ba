// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IConsortium} from "./IConsortium.sol";
import {Category, CollectionStep, LenderPart, LineId, LoanId, LoanStatus, ProductId} from "../lending/LendingTypes.sol";

/**
 * @title ILoanLedger
 * @notice Loan servicing of coledger: the loans CreditLines disburses, their repayments (split
 * among the lenders pro rata, exactly), penalty interest, days past due, the five-category
 * classification and the collection ladder. All arithmetic is `LendingMath`'s; amounts are fen.
 *
 * Schedule. A loan of principal P at `annualRateBp` over n installments follows the annuity rows
 * of `LendingMath.schedule(P, rate, n)`, recomputed on demand, never stored. Installment i
 * (1..n) falls due at `start + i * PERIOD` (PERIOD = 30 days); k(t) = min(n, (t - start) / PERIOD)
 * installments are due at time t (an installment is due from its due second on). Dues at t:
 * interestDue = max(0, cumInterest(k) - paidInterest), principalDue = max(0, cumPrincipal(k) -
 * paidPrincipal), penaltyDue = penaltyAccrued - paidPenalty.
 *
 * Penalty. Overdue principal at t is max(0, cumPrincipal(k(t)) - paidPrincipal); it changes only at
 * due dates and payments. Every repay, classify and recordCollectionStep first "accrues to now":
 * from `lastAccrual` (the loan's start before the first touch) it steps through the due dates up
 * to block time and adds `LendingMath.penalty(overdue, rate, surcharge, seconds)` for each
 * segment (floored per segment), then sets `lastAccrual` to block time.
 *
 * Repayment order at block time t, after accruing: `LendingMath.allocate(amount, penaltyDue,
 * interestDue, principalDue)` — penalty, then due interest, then due principal. The excess is a
 * prepayment: first the not yet paid scheduled interest of the next installment k+1 (the running
 * period), then principal ahead of schedule, which covers the following installments' principal
 * in order (their principal dues shrink through the cumulative counters; their scheduled interest
 * stays due). The payoff at t is penaltyDue + interestDue + the running period's unpaid interest
 * + all unpaid principal; paying it closes the loan and waives every later installment's
 * interest. An amount above the payoff is refused. A loan closes when its principal is fully paid.
 *
 * Lenders. Interest and penalty are split by each lender's original principal (`LendingMath.split`,
 * weights principalLent); principal by each lender's outstanding principal (weights
 * principalOutstanding), so no lender ever gets back more principal than it lent and everyone is
 * whole at payoff. What the lenders are credited sums exactly to what the borrower paid.
 *
 * Delinquency. Days past due at t: the oldest installment i <= k(t) with cumInterest(i) >
 * paidInterest or cumPrincipal(i) > paidPrincipal gives `LendingMath.daysPastDue(due_i, t)`;
 * none gives 0. The category is `LendingMath.classify(dpd, thresholds)` with the Consortium
 * parameters "lending.class.specialMentionDays" (1), "lending.class.substandardDays" (60),
 * "lending.class.doubtfulDays" (90), "lending.class.lossDays" (180) — a non-zero parameter
 * overrides the default in brackets. The stored category changes only by {classify}.
 *
 * Collection ladder: Reminder, AutomatedCollection, OutsourcedRecovery, Arbitration; a step may
 * skip ahead but never go back, and needs dpd >= "lending.collection.reminderDays" (1),
 * "lending.collection.automatedDays" (15), "lending.collection.outsourcedDays" (60),
 * "lending.collection.arbitrationDays" (90). Arbitration defaults the loan; a defaulted loan can
 * still be repaid (recoveries) and classified, and closes when its principal is fully paid.
 *
 * Invariants: sum over lenders of principalLent == principal; sum of (principalLent -
 * principalOutstanding) == paidPrincipal, of interestReceived == paidInterest, of
 * penaltyReceived == paidPenalty <= penaltyAccrued; paidPrincipal <= principal.
 */
interface ILoanLedger {
    /// @notice A loan as stored; `leadMemberId` is its first lender, timestamps are seconds.
    struct LoanView {
        bytes32 borrower;
        LineId lineId;
        ProductId productId;
        uint64 principal;
        uint16 annualRateBp;
        uint16 penaltySurchargeBp;
        uint8 installments;
        uint64 start;
        uint32 leadMemberId;
        LoanStatus status;
        Category category;
        CollectionStep collectionStep;
        uint64 paidPrincipal;
        uint64 paidInterest;
        uint64 paidPenalty;
        /// @dev Total penalty accrued up to `lastAccrual` (paid or not).
        uint64 penaltyAccrued;
        /// @dev Time of the last accrual: the loan's start before its first touch.
        uint64 lastAccrual;
    }

    /// @notice One lender's position in a loan; principalOutstanding = principalLent - repaid.
    struct LenderPosition {
        uint32 memberId;
        uint64 principalLent;
        uint64 principalOutstanding;
        uint64 interestReceived;
        uint64 penaltyReceived;
    }

    /// @notice Loan `loanId` of `principal` was opened at `start` with lender `parts` (lead first).
    event LoanOpened(
        LoanId indexed loanId,
        bytes32 indexed borrower,
        LineId indexed lineId,
        ProductId productId,
        uint64 principal,
        uint16 annualRateBp,
        uint16 penaltySurchargeBp,
        uint8 installments,
        uint32 leadMemberId,
        uint64 start,
        LenderPart[] parts
    );

    /// @notice The proceeds `amount` of loan `loanId` were credited to `borrower`'s virtual account.
    event VirtualAccountCredited(bytes32 indexed borrower, LoanId indexed loanId, uint64 amount);

    /// @notice `amount` penalty interest accrued on loan `loanId` up to `timestamp`; `total` since opening.
    event PenaltyAccrued(LoanId indexed loanId, uint64 amount, uint64 total, uint64 timestamp);

    /// @notice The borrower paid `amount` on loan `loanId`, allocated as shown (they sum to `amount`).
    event Repaid(LoanId indexed loanId, uint64 amount, uint64 toPenalty, uint64 toInterest, uint64 toPrincipal);

    /// @notice Lender `memberId` was credited its share of a repayment of loan `loanId`.
    event LenderCredited(
        LoanId indexed loanId, uint32 indexed memberId, uint64 principal, uint64 interest, uint64 penalty
    );

    /// @notice Loan `loanId`'s principal is fully repaid at `timestamp`; later interest is waived.
    event LoanClosed(LoanId indexed loanId, uint64 timestamp);

    /// @notice Loan `loanId` is now in `category`, at `daysPastDue`.
    event LoanClassified(LoanId indexed loanId, uint32 daysPastDue, Category category);

    /// @notice Lead bank `memberId` took collection `step` on loan `loanId` at `daysPastDue`,
    /// with the off-chain record whose hash is `evidenceHash`, at block time `timestamp`.
    event CollectionStepRecorded(
        LoanId indexed loanId,
        CollectionStep step,
        uint32 indexed memberId,
        uint32 daysPastDue,
        bytes32 evidenceHash,
        uint64 timestamp
    );

    /// @notice Loan `loanId` went to arbitration and is defaulted with `outstandingPrincipal` unpaid.
    event LoanDefaulted(LoanId indexed loanId, uint32 daysPastDue, uint64 outstandingPrincipal);

    /// @dev `caller` may not do this: not CreditLines, not an active member, or not the loan's lead bank.
    error LoanLedgerUnauthorized(address caller);

    /// @dev A constructor address is zero.
    error LoanLedgerZeroAddress();

    /// @dev No loan has the id `loanId`.
    error LoanLedgerUnknownLoan(LoanId loanId);

    /// @dev A loan with the id `loanId` already exists.
    error LoanLedgerLoanExists(LoanId loanId);

    /// @dev Principal outside 1..2^48-1 fen, installments outside 1..60, or `lenders` outside 1..255.
    error LoanLedgerInvalidTerms(uint64 principal, uint8 installments, uint256 lenders);

    /// @dev The lender parts sum to `sum`, not to the principal `principal`.
    error LoanLedgerPartsNotWhole(uint256 sum, uint64 principal);

    /// @dev The first lender part is member `firstMemberId`, not the lead bank `leadMemberId`.
    error LoanLedgerLeadNotFirst(uint32 leadMemberId, uint32 firstMemberId);

    /// @dev Loan `loanId` is closed.
    error LoanLedgerLoanClosed(LoanId loanId);

    /// @dev A repayment of zero on loan `loanId`.
    error LoanLedgerZeroAmount(LoanId loanId);

    /// @dev Repaying `amount` on loan `loanId` exceeds its payoff `payoff` at block time.
    error LoanLedgerRepaymentExceedsPayoff(LoanId loanId, uint64 amount, uint64 payoff);

    /// @dev Collection `step` of loan `loanId` is not after its current step `current`.
    error LoanLedgerStepNotForward(LoanId loanId, CollectionStep current, CollectionStep step);

    /// @dev Collection `step` of loan `loanId` needs `required` days past due; it has `dpd`.
    error LoanLedgerStepTooEarly(LoanId loanId, CollectionStep step, uint256 dpd, uint256 required);

    /// @dev A collection step on loan `loanId` came without an evidence hash.
    error LoanLedgerEmptyEvidence(LoanId loanId);

    /// @dev `dueAt` was asked for `timestamp`, before loan `loanId`'s last accrual `lastAccrual`.
    error LoanLedgerTimeBeforeAccrual(LoanId loanId, uint64 timestamp, uint64 lastAccrual);

    /**
     * @notice Opens loan `loanId`, starting at block time, and announces the credit of its
     * principal to the borrower's virtual account (`virtualBalance(borrower) += principal`; the
     * balance is kept by CreditLines, which credits it at disbursement, see
     * `ICreditLines.borrowerVirtualBalance`).
     * @dev Caller: CreditLines only ({LoanLedgerUnauthorized}). `parts` are the lenders' principal
     * parts, the lead bank `leadMemberId` first ({LoanLedgerLeadNotFirst}), summing to `principal`
     * ({LoanLedgerPartsNotWhole}); principal 1..2^48-1 fen, 1..60 installments and 1..255 lenders
     * ({LoanLedgerInvalidTerms}); `loanId` must be new ({LoanLedgerLoanExists}).
     * Emits {LoanOpened}, {VirtualAccountCredited}.
     */
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
    ) external;

    /**
     * @notice Records a borrower payment of `amount` on loan `loanId` at block time, in the order
     * described above, credits every lender its share and, when principal was repaid, calls
     * `ICreditLines.releasePrincipal(lineId, borrower, toPrincipal)`.
     * @dev Caller: the loan's lead bank (an active member holding {IConsortium.Role.LeadBank} whose
     * id is the loan's `leadMemberId`). The loan may be Active or Defaulted, not Closed
     * ({LoanLedgerLoanClosed}); `amount` is 1..payoff ({LoanLedgerZeroAmount},
     * {LoanLedgerRepaymentExceedsPayoff}). Emits {PenaltyAccrued}
     * (if any), {Repaid}, {LenderCredited} per lender credited, {LoanClosed} on full repayment.
     */
    function repay(LoanId loanId, uint64 amount)
        external
        returns (uint64 toPenalty, uint64 toInterest, uint64 toPrincipal);

    /**
     * @notice Accrues loan `loanId`'s penalty to block time, computes its days past due and
     * category, and stores the category.
     * @dev Caller: any active member. Not on a closed loan. Emits {LoanClassified} when the
     * category changes.
     */
    function classify(LoanId loanId) external returns (Category);

    /**
     * @notice Records collection `step` on loan `loanId` with the hash of its evidence; the
     * Arbitration step defaults the loan.
     * @dev Caller: the loan's lead bank. Not on a closed loan. `step` must be after the current
     * one ({LoanLedgerStepNotForward}), `evidenceHash` non-zero ({LoanLedgerEmptyEvidence}), and
     * days past due at block time at least the step's threshold ({LoanLedgerStepTooEarly}).
     * Accrues penalty first. Emits {CollectionStepRecorded}, and {LoanDefaulted} for Arbitration.
     */
    function recordCollectionStep(LoanId loanId, CollectionStep step, bytes32 evidenceHash) external;

    /// @notice Loan `loanId`. Reverts with {LoanLedgerUnknownLoan}.
    function loan(LoanId loanId) external view returns (LoanView memory);

    /// @notice The lenders of loan `loanId`, lead first. Reverts with {LoanLedgerUnknownLoan}.
    function lenders(LoanId loanId) external view returns (LenderPosition[] memory);

    /**
     * @notice What loan `loanId` owes as if accrued and classified at `timestamp` (not before its
     * last accrual): the dues, the payoff, days past due and category. All zero (Normal) once closed.
     */
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
        );

    /// @notice The balance of `borrower`'s virtual account: loan proceeds credited, not yet spent
    /// (read from `ICreditLines.borrowerVirtualBalance`).
    function virtualBalance(bytes32 borrower) external view returns (uint64);

    /// @notice The number of loans opened.
    function loanCount() external view returns (uint256);

    /// @notice The Consortium asked for roles and parameters.
    function consortium() external view returns (IConsortium);

    /// @notice The CreditLines contract: the only caller of {openLoan}, told of principal repaid.
    function creditLines() external view returns (address);
}
