// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IConsortium} from "./IConsortium.sol";
import {LoanId, ProductId} from "../lending/LendingTypes.sol";

/**
 * @title IFundFlows
 * @notice Closed-loop virtual accounts: every movement of loan money through a borrower's account
 * is a recorded flow, judged on chain by the rules governance set for the account's product, and
 * attributed (FIFO) to the drawdowns whose money it spends. Amounts are integers in fen.
 *
 * Accounts. An account is keyed by the borrower's pseudonym and opened by the first
 * {syncDrawdown}; it is funded only by pulling loans from the LoanLedger (the ledger needs no
 * change). Each synced loan pushes a lineage bucket (loan, principal, drawdown time, product) onto
 * the account's FIFO queue. The account's lead bank is the lead member of its first loan; a loan
 * led by another bank cannot be synced into it. The account's product (whose rules judge its flows)
 * is the product of its most recently synced loan. `balance` is the money in the account (the sum
 * of the buckets' `remaining`), `reserved` the part held for pending verifications, and
 * `available = balance - reserved`.
 *
 * Flows. Outflows: MerchantPayment (merchant category code 1..9999), P2PTransfer, CashWithdrawal,
 * OffPlatformPayment, Repayment (`counterparty` names the loan or lender repaid; `toOtherLender`
 * marks a repayment of another loan or another lender). Inflow: Refund, which restores money to
 * the bucket of loan `uint256(counterparty)` or, if `counterparty` is zero, to the newest bucket;
 * it may not exceed what left that bucket (`amount - remaining`). Only MerchantPayment carries a
 * category code (others must have 0). Flow ids count from 1 across all accounts.
 *
 * Rules (per product; a rule whose action is Allow is disabled and never fires). At block time t,
 * for an outflow of `amount` from an account, with "the money it spends" meaning the buckets a
 * FIFO walk from the queue's head would consume for `amount` now (reservations do not earmark
 * buckets; a pending flow takes its lineage when it settles):
 * - P2P_SINGLE (bit 0): P2PTransfer with amount > p2pSingleMax.
 * - P2P_COUNT (bit 1): P2PTransfer when at least p2pMaxCount earlier counted P2P transfers of the
 *   account have time > t - p2pWindow (so this one would be number p2pMaxCount + 1 in the window
 *   (t - p2pWindow, t]). Counted: P2P transfers whose verdict was Allow, Flag or Verify.
 * - CASH_SINGLE (bit 2): CashWithdrawal with amount > cashSingleMax.
 * - CASH_SHARE (bit 3): CashWithdrawal with amount * 10000 > cashMaxShareBp * (principal of the
 *   first drawdown the money comes from: the first bucket with money left from the head).
 * - OFF_PLATFORM (bit 4): OffPlatformPayment with (offPlatformSpent + amount) * 10000 >
 *   offPlatformMaxShareBp * funded; offPlatformSpent is the settled off-platform total.
 * - PROHIBITED_CATEGORY (bit 5): MerchantPayment whose category is prohibited for the product.
 * - DEBT_ROLLING (bit 6): Repayment with toOtherLender when t < time + debtRollingDays * 1 day,
 *   `time` being the drawdown time of the newest bucket the money comes from (the last one the
 *   FIFO walk touches).
 * - VELOCITY (bit 7): any outflow, over a fixed window per account: if no window is open
 *   (t >= windowStart + velocityWindow, or none yet) a window opens at t with base = balance just
 *   before this flow and outflow 0. Fires when (windowOutflow + amount) * 10000 >
 *   velocityMaxShareBp * base. Counted into windowOutflow: outflows with verdict Allow, Flag or
 *   Verify; the window is written only then, and only while the rule is enabled.
 * Refunds are judged by no rule. The verdict is the most severe action among the rules fired
 * (Hold > Verify > Flag > Allow); `rulesFired` is the bitmask of those rules.
 *
 * Verdicts. Allow and Flag settle at once (balance down, lineage consumed FIFO, {FlowLineage} per
 * bucket touched); Flag, Verify and Hold emit an {Alert}. Verify reserves the amount and stores the
 * flow as Pending until the account's lead bank calls {resolveVerification}: approval settles it
 * then (lineage consumed FIFO at that time), rejection releases the reservation. Hold moves
 * nothing, freezes the account ({HoldPlaced}); every later flow of a frozen account gets verdict
 * Rejected (not a revert) until the lead bank calls {releaseHold}. Pending flows of a frozen
 * account can still be resolved.
 *
 * Closing. Once an account's money is spent or returned (balance zero, hence nothing reserved and
 * no pending verification) and it is not held, its lead bank may close it ({closeAccount}), e.g.
 * when the loans it carried are repaid. A closed account is bad input: its flows and the syncs of
 * new loans into it revert with {FundFlowsAccountClosed} (a flow: before any other check of it);
 * everything it recorded stays readable.
 * Accounts are keyed by the borrower's pseudonym, so the lead bank may reopen it ({reopenAccount})
 * when that borrower is lent to again (or a late refund must come in).
 *
 * Batches are all-or-nothing for malformed input (named errors below carry the flow's index); a
 * verdict is never an error. Flows in a batch are processed in order, each seeing the state the
 * previous ones left.
 *
 * Invariants: per account, sum of buckets' remaining == balance <= funded; reserved <= balance;
 * sum of pending flows' amounts == reserved.
 *
 * Where a loan's money went is not stored: it is the sum of the {FlowLineage} events naming the
 * loan, by the kind in the {FlowRecorded} of the same flow id (refunds: the money back to it); the
 * SDK's `FundFlowsClient.loan_spend` computes it from the logs. Per loan, spent(kind) totals thus
 * sum the lineage of its settled outflows; refunds are a separate total.
 */
interface IFundFlows {
    /// @notice What moved; `uint8` values in {FlowInput.kind}.
    enum FlowKind {
        MerchantPayment,
        P2PTransfer,
        CashWithdrawal,
        OffPlatformPayment,
        Repayment,
        Refund
    }

    /// @notice What a rule does when it fires; ordered by severity.
    enum Action {
        Allow,
        Flag,
        Verify,
        Hold
    }

    /// @notice A flow's outcome: the most severe action fired, or Rejected on a frozen account.
    enum Verdict {
        Allow,
        Flag,
        Verify,
        Hold,
        Rejected
    }

    /// @notice Life of a stored (Verify) flow.
    enum FlowStatus {
        None,
        Pending,
        Approved,
        Rejected
    }

    /// @notice One flow to record; `kind` is a {FlowKind} value (checked, so a bad one is a named error).
    struct FlowInput {
        bytes32 account;
        uint8 kind;
        uint16 mcc;
        uint64 amount;
        bytes32 counterparty;
        bool toOtherLender;
    }

    /// @notice A product's rules; thresholds in fen, shares in basis points, windows in seconds.
    struct RuleSet {
        uint64 p2pSingleMax;
        Action p2pSingleAction;
        uint16 p2pMaxCount;
        uint32 p2pWindow;
        Action p2pCountAction;
        uint64 cashSingleMax;
        Action cashSingleAction;
        uint16 cashMaxShareBp;
        Action cashShareAction;
        uint16 offPlatformMaxShareBp;
        Action offPlatformAction;
        Action prohibitedCategoryAction;
        uint16 debtRollingDays;
        Action debtRollingAction;
        uint32 velocityWindow;
        uint16 velocityMaxShareBp;
        Action velocityAction;
    }

    /// @notice An account as stored; `available = balance - reserved`.
    struct AccountView {
        uint64 balance;
        uint64 reserved;
        uint64 available;
        uint64 funded;
        uint64 offPlatformSpent;
        ProductId productId;
        uint32 leadMemberId;
        bool held;
        bool closed;
        uint32 bucketHead;
        uint32 bucketCount;
        uint32 p2pCount;
        uint64 velocityWindowStart;
        uint64 velocityBase;
        uint64 velocityOutflow;
    }

    /// @notice A lineage bucket: what is left of drawdown `loanId` in the account.
    struct Bucket {
        LoanId loanId;
        uint64 remaining;
        uint64 amount;
        uint64 time;
        ProductId productId;
    }

    /// @notice A flow stored because it needed verification.
    struct PendingFlow {
        bytes32 account;
        FlowKind kind;
        FlowStatus status;
        uint16 mcc;
        uint64 amount;
    }

    /// @notice Loan `loanId`'s `amount`, drawn at `drawdownTime`, was credited to `account` as bucket `bucket`.
    event DrawdownSynced(
        LoanId indexed loanId, bytes32 indexed account, ProductId productId, uint64 amount, uint64 drawdownTime,
        uint32 bucket
    );

    /// @notice Flow `flowId` of `account` was judged `verdict` by the rules `rulesFired` of `productId`.
    event FlowRecorded(
        uint64 indexed flowId,
        bytes32 indexed account,
        FlowKind kind,
        uint64 amount,
        uint16 mcc,
        ProductId productId,
        Verdict verdict,
        uint16 rulesFired
    );

    /// @notice Flow `flowId` named `counterparty` (a loan or lender repaid, or the loan a refund
    /// returns to) or was a repayment `toOtherLender`; emitted just before its {FlowRecorded}, and
    /// only when either is set (most flows have neither, and their records stay one word shorter).
    event FlowCounterparty(uint64 indexed flowId, bytes32 counterparty, bool toOtherLender);

    /// @notice `amount` of flow `flowId` came from (or, for a refund, went back to) loan `loanId`.
    event FlowLineage(uint64 indexed flowId, LoanId indexed loanId, uint64 amount);

    /// @notice Flow `flowId` of `account` was judged Flag, Verify or Hold.
    event Alert(
        uint64 indexed flowId, bytes32 indexed account, ProductId indexed productId, Verdict verdict, uint16 rulesFired
    );

    /// @notice The lead bank (member `memberId`) resolved pending flow `flowId` with `attestationHash`.
    event VerificationResolved(
        uint64 indexed flowId, bytes32 indexed account, bytes32 attestationHash, bool approved, uint32 memberId
    );

    /// @notice `account` was frozen by flow `flowId` (rules `rulesFired`).
    event HoldPlaced(bytes32 indexed account, uint64 indexed flowId, uint16 rulesFired);

    /// @notice The lead bank (member `memberId`) released `account` for the reason whose hash is `reasonHash`.
    event HoldReleased(bytes32 indexed account, bytes32 reasonHash, uint32 memberId);

    /// @notice The lead bank (member `memberId`) closed `account` for the reason whose hash is `reasonHash`.
    event AccountClosed(bytes32 indexed account, bytes32 reasonHash, uint32 memberId);

    /// @notice The lead bank (member `memberId`) reopened closed `account` for the reason whose hash is `reasonHash`.
    event AccountReopened(bytes32 indexed account, bytes32 reasonHash, uint32 memberId);

    /// @notice Governance set the rules of `productId`.
    event RulesSet(ProductId indexed productId, RuleSet rules);

    /// @notice Governance (un)prohibited merchant category `mcc` for `productId`.
    event ProhibitedCategorySet(ProductId indexed productId, uint16 mcc, bool prohibited);

    /// @dev `caller` may not act (on `account`, or at all when `account` is zero).
    error FundFlowsUnauthorized(address caller, bytes32 account);

    /// @dev Only the Consortium (a governed call) may change rules; `caller` is not it.
    error FundFlowsNotGovernance(address caller);

    /// @dev A constructor address is zero.
    error FundFlowsZeroAddress();

    /// @dev Loan `loanId` was already synced.
    error FundFlowsAlreadySynced(LoanId loanId);

    /// @dev Loan `loanId`'s lead bank `leadMemberId` is not `account`'s lead bank `accountLead`.
    error FundFlowsLeadBankMismatch(LoanId loanId, bytes32 account, uint32 accountLead, uint32 leadMemberId);

    /// @dev The batch is empty.
    error FundFlowsEmptyBatch();

    /// @dev The batch has `length` flows, more than `max`.
    error FundFlowsBatchTooLarge(uint256 length, uint256 max);

    /// @dev Flow `index` names `account`, which no drawdown funded.
    error FundFlowsUnknownAccount(uint256 index, bytes32 account);

    /// @dev Flow `index` has `kind`, which is no {FlowKind}.
    error FundFlowsUnknownKind(uint256 index, uint8 kind);

    /// @dev Flow `index` of `kind` has category code `mcc` (merchant payments need 1..9999, others 0).
    error FundFlowsInvalidCategory(uint256 index, uint8 kind, uint16 mcc);

    /// @dev Flow `index` has amount 0.
    error FundFlowsZeroAmount(uint256 index);

    /// @dev Flow `index` spends `amount` from `account`, which has only `available`.
    error FundFlowsAmountExceedsAvailable(uint256 index, bytes32 account, uint256 amount, uint256 available);

    /// @dev Refund `index` names loan `loanId`, which has no bucket in `account`.
    error FundFlowsRefundUnknownLoan(uint256 index, bytes32 account, LoanId loanId);

    /// @dev Refund `index` returns `amount` to loan `loanId`'s bucket, from which only `spent` left.
    error FundFlowsRefundExceedsSpent(uint256 index, LoanId loanId, uint256 amount, uint256 spent);

    /// @dev Flow `flowId` is not pending.
    error FundFlowsNotPending(uint64 flowId);

    /// @dev `account` is not held.
    error FundFlowsNotHeld(bytes32 account);

    /// @notice `account` is held: a pending flow of it cannot be approved (it may still be
    /// rejected, which returns the money to the account), nor the account closed, until the hold
    /// is released.
    error FundFlowsAccountHeld(bytes32 account);

    /// @notice `account` is closed: no flow may be recorded on it nor loan synced into it (until reopened).
    error FundFlowsAccountClosed(bytes32 account);

    /// @dev `account` is not closed (so it cannot be reopened).
    error FundFlowsAccountNotClosed(bytes32 account);

    /// @dev `account` still holds `balance` (closing needs a zero balance).
    error FundFlowsAccountNotEmpty(bytes32 account, uint256 balance);

    /// @dev An attestation or reason hash is zero.
    error FundFlowsEmptyHash();

    /// @dev Rule bit `rule` of a rule set has an out-of-range parameter `value`.
    error FundFlowsInvalidRule(uint8 rule, uint256 value);

    /// @notice The largest batch {recordFlows} accepts.
    function MAX_BATCH() external view returns (uint256);

    /// @notice The largest p2pMaxCount a rule set may use (P2P times kept per account).
    function MAX_P2P_COUNT() external view returns (uint256);

    /**
     * @notice Credits loan `loanId`'s principal to its borrower's account (opening it) as a new
     * lineage bucket with the loan's start as drawdown time, and makes the loan's product the
     * account's product.
     * @dev Caller: any active member ({FundFlowsUnauthorized}). Reverts with the ledger's
     * `LoanLedgerUnknownLoan`, {FundFlowsAlreadySynced}, {FundFlowsLeadBankMismatch},
     * {FundFlowsAccountClosed}. Emits {DrawdownSynced}.
     */
    function syncDrawdown(LoanId loanId) external;

    /**
     * @notice Records `flows` in order, judging each by its account's rules; returns the first
     * flow's id (the others follow consecutively).
     * @dev Caller: a {IConsortium.Role.Gateway} key, or a {IConsortium.Role.LeadBank} key for flows
     * of accounts it leads. Reverts (changing nothing) with {FundFlowsEmptyBatch},
     * {FundFlowsBatchTooLarge}, {FundFlowsUnauthorized}, {FundFlowsUnknownAccount},
     * {FundFlowsAccountClosed}, {FundFlowsUnknownKind}, {FundFlowsInvalidCategory}, {FundFlowsZeroAmount},
     * {FundFlowsAmountExceedsAvailable} (outflows; checked on frozen accounts too),
     * {FundFlowsRefundUnknownLoan}, {FundFlowsRefundExceedsSpent}. Emits per flow {FlowRecorded},
     * and as applicable {FlowCounterparty}, {FlowLineage}, {Alert}, {HoldPlaced}.
     */
    function recordFlows(FlowInput[] calldata flows) external returns (uint64 firstFlowId);

    /**
     * @notice Settles (`approved`) or releases pending flow `flowId` with the hash of the
     * verification result.
     * @dev Caller: the account's lead bank. Reverts with {FundFlowsNotPending}, {FundFlowsEmptyHash}.
     * Emits {VerificationResolved}, and {FlowLineage} per bucket on approval.
     */
    function resolveVerification(uint64 flowId, bytes32 attestationHash, bool approved) external;

    /**
     * @notice Unfreezes `account`.
     * @dev Caller: the account's lead bank. Reverts with {FundFlowsNotHeld}, {FundFlowsEmptyHash}.
     * Emits {HoldReleased}.
     */
    function releaseHold(bytes32 account, bytes32 reasonHash) external;

    /**
     * @notice Closes `account`: later flows and syncs into it revert with {FundFlowsAccountClosed}.
     * @dev Caller: the account's lead bank ({FundFlowsUnauthorized}, also for an unknown account).
     * Reverts with {FundFlowsAccountClosed} (already closed), {FundFlowsAccountHeld},
     * {FundFlowsAccountNotEmpty} (balance not zero; then nothing is reserved either),
     * {FundFlowsEmptyHash}. Emits {AccountClosed}.
     */
    function closeAccount(bytes32 account, bytes32 reasonHash) external;

    /**
     * @notice Reopens closed `account` (the borrower is lent to again, or a refund must come in).
     * @dev Caller: the account's lead bank. Reverts with {FundFlowsAccountNotClosed},
     * {FundFlowsEmptyHash}. Emits {AccountReopened}.
     */
    function reopenAccount(bytes32 account, bytes32 reasonHash) external;

    /**
     * @notice Sets `productId`'s rules. p2pMaxCount <= MAX_P2P_COUNT when the P2P count rule is
     * enabled; shares <= 10000 bp ({FundFlowsInvalidRule}).
     * @dev Caller: the Consortium, i.e. a governed Call ({FundFlowsNotGovernance}). Emits {RulesSet}.
     */
    function setRules(ProductId productId, RuleSet calldata rules) external;

    /**
     * @notice Prohibits (or allows again) merchant category `mcc` (1..9999) for `productId`.
     * @dev Caller: the Consortium. Emits {ProhibitedCategorySet}.
     */
    function setProhibitedCategory(ProductId productId, uint16 mcc, bool prohibited) external;

    /// @notice Account `account` (all zero if never funded).
    function account(bytes32 account) external view returns (AccountView memory);

    /// @notice Bucket `index` (0-based, in sync order) of `account`.
    function bucket(bytes32 account, uint32 index) external view returns (Bucket memory);

    /// @notice Flow `flowId` if it was stored for verification (all zero otherwise).
    function flow(uint64 flowId) external view returns (PendingFlow memory);

    /// @notice Whether loan `loanId` was synced.
    function synced(LoanId loanId) external view returns (bool);

    /// @notice The rules of `productId` (all Allow if never set).
    function rules(ProductId productId) external view returns (RuleSet memory);

    /// @notice Whether merchant category `mcc` is prohibited for `productId`.
    function isProhibited(ProductId productId, uint16 mcc) external view returns (bool);

    /// @notice The number of flows recorded; ids are `1..flowCount()`.
    function flowCount() external view returns (uint64);

    /// @notice The Consortium asked for roles.
    function consortium() external view returns (IConsortium);

    /// @notice The LoanLedger drawdowns are pulled from.
    function loanLedger() external view returns (address);
}
