// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {LenderPart, LineId, LoanId, ProductId} from "../lending/LendingTypes.sol";

/**
 * @title ICreditLines
 * @notice Origination: credit lines for pseudonymous borrowers, drawdowns split between the lead
 * bank and the product's partners, partner commitments (EIP-712 signature or own transaction) and
 * disbursement into the LoanLedger.
 *
 * A borrower id is a bytes32 pseudonym (an HMAC of the national id computed off chain); nothing
 * personal is stored. A borrower's consortium-wide exposure is its outstanding principal across
 * every line of every lead bank; it may not exceed the Consortium parameter
 * `keccak256("lending.borrowerExposureCap")`, or the constructor default while that is 0.
 *
 * A drawdown is proposed by the line's lead, split lead/partners by the product's basis-point
 * shares with the largest-remainder rule (the parts always sum to the amount), committed by every
 * partner, and disbursed once by the lead before its deadline (`block.timestamp` at proposal plus
 * the parameter `keccak256("lending.drawdownLifetime")`, 1 day while that is 0). Every limit is
 * checked again at disbursement. The loan opened in the LoanLedger has the drawdown's id.
 *
 * EIP-712: domain `{name: "coledger CreditLines", version: "1", chainId, verifyingContract}`,
 * struct `Commitment(uint64 drawdownId,uint32 partnerId,uint64 amount,uint64 deadline)` where
 * `amount` is the partner's part; the signer must be the partner member's current key and hold
 * Partner at disbursement.
 *
 * Invariants: for every line `used <= limit` at disbursement and `used` is the line's outstanding
 * principal; a borrower's exposure is the sum of `used` over its lines.
 */
interface ICreditLines {
    /// @notice Life cycle of a drawdown. An expired drawdown stays Pending and cannot disburse.
    enum DrawdownState {
        None,
        Pending,
        Disbursed
    }

    /// @notice A credit line. `used` is its outstanding principal; `leadMemberId` is the product's lead.
    struct Line {
        bytes32 borrower;
        ProductId productId;
        uint32 leadMemberId;
        uint64 limit;
        uint64 used;
        uint8 scoreBand;
        bool closed;
        bytes32 modelHash;
    }

    /**
     * @notice A drawdown. `parts[0]` is the lead's part, then one per product partner in product
     * order; `committed[i]` tells whether `parts[i]`'s lender has committed (the lead always has).
     */
    struct Drawdown {
        LineId lineId;
        uint64 amount;
        uint8 installments;
        DrawdownState state;
        uint64 deadline;
        uint16 annualRateBp;
        uint16 penaltySurchargeBp;
        LenderPart[] parts;
        bool[] committed;
    }

    /// @notice Line `lineId` of product `productId` was opened for `borrower` by lead `leadMemberId`.
    event LineOpened(
        LineId indexed lineId,
        ProductId indexed productId,
        bytes32 indexed borrower,
        uint32 leadMemberId,
        uint64 limit,
        uint8 scoreBand,
        bytes32 modelHash
    );

    /// @notice Line `lineId` was closed by `by`; it takes no further drawdowns.
    event LineClosed(LineId indexed lineId, address indexed by);

    /// @notice Drawdown `drawdownId` of `amount` over `installments` on line `lineId` was proposed,
    /// split into `parts` (lead first); it must disburse by `deadline`.
    event DrawdownProposed(
        LoanId indexed drawdownId,
        LineId indexed lineId,
        uint64 amount,
        uint8 installments,
        LenderPart[] parts,
        uint64 deadline
    );

    /// @notice Partner `partnerId` committed its part of `drawdownId`, by signature or by transaction.
    event DrawdownCommitted(LoanId indexed drawdownId, uint32 indexed partnerId, bool bySignature);

    /// @notice Drawdown `drawdownId` disbursed `amount` to `borrower`; the loan of the same id is open.
    event DrawdownDisbursed(LoanId indexed drawdownId, bytes32 indexed borrower, uint64 amount);

    /// @notice A principal repayment of `amount` on line `lineId` freed usage; the line's
    /// outstanding principal is now `used` and the borrower's exposure `exposure`.
    event PrincipalReleased(LineId indexed lineId, bytes32 indexed borrower, uint64 amount, uint64 used, uint64 exposure);

    /// @dev `caller` is not the current key of lead bank `leadMemberId` holding LeadBank.
    error CreditLinesNotLead(address caller, uint32 leadMemberId);

    /// @dev Only the LoanLedger may call this; `caller` is not it.
    error CreditLinesNotLedger(address caller);

    /// @dev The zero borrower id is not a pseudonym.
    error CreditLinesZeroBorrower();

    /// @dev Product `productId` is inactive and opens no new lines.
    error CreditLinesProductInactive(ProductId productId);

    /// @dev `limit` is outside the product's ceiling range `min..max`.
    error CreditLinesLimitOutOfRange(uint64 limit, uint64 min, uint64 max);

    /// @dev No line has the id `lineId`.
    error CreditLinesUnknownLine(LineId lineId);

    /// @dev Line `lineId` is closed.
    error CreditLinesLineClosed(LineId lineId);

    /// @dev `n` installments is not allowed by the product's installment `mask`.
    error CreditLinesInstallmentsNotAllowed(uint8 n, uint64 mask);

    /// @dev A drawdown amount must be positive.
    error CreditLinesZeroAmount();

    /// @dev `amount` exceeds the product's single-draw `cap`.
    error CreditLinesDrawExceedsCap(uint64 amount, uint64 cap);

    /// @dev `amount` exceeds the line's `remaining` limit.
    error CreditLinesDrawExceedsLimit(uint64 amount, uint64 remaining);

    /// @dev `borrower`'s `exposure` plus `amount` would exceed the consortium-wide `cap`.
    error CreditLinesExposureCapExceeded(bytes32 borrower, uint64 exposure, uint64 amount, uint64 cap);

    /// @dev No drawdown has the id `id`.
    error CreditLinesUnknownDrawdown(LoanId id);

    /// @dev Drawdown `id` is not pending (it was disbursed already).
    error CreditLinesDrawdownNotPending(LoanId id);

    /// @dev Drawdown `id` could be disbursed until `deadline` only.
    error CreditLinesDrawdownExpired(LoanId id, uint64 deadline);

    /// @dev `caller` is not the current key of a partner of drawdown `id` holding Partner.
    error CreditLinesNotAPartner(LoanId id, address caller);

    /// @dev Partner `partnerId` already committed to drawdown `id`.
    error CreditLinesAlreadyCommitted(LoanId id, uint32 partnerId);

    /// @dev Drawdown `id` has `expected` partners; `deadlines` and `signatures` entries were given.
    error CreditLinesCommitmentCount(LoanId id, uint256 expected, uint256 deadlines, uint256 signatures);

    /// @dev Partner `partnerId` of drawdown `id` has neither committed nor sent a signature.
    error CreditLinesMissingCommitment(LoanId id, uint32 partnerId);

    /// @dev The commitment of partner `partnerId` for `id` recovers to `recovered`, which is not
    /// that partner's current key holding Partner (wrong drawdown, amount, chain, contract or signer).
    error CreditLinesBadCommitment(LoanId id, uint32 partnerId, address recovered);

    /// @dev The commitment of partner `partnerId` was valid until `deadline` only.
    error CreditLinesCommitmentExpired(uint32 partnerId, uint64 deadline);

    /// @dev Releasing `amount` exceeds line `lineId`'s outstanding principal `used`.
    error CreditLinesReleaseExceedsUsage(LineId lineId, uint64 amount, uint64 used);

    /// @dev Line `lineId` belongs to `expected`, not to `borrower`.
    error CreditLinesBorrowerMismatch(LineId lineId, bytes32 borrower, bytes32 expected);

    /**
     * @notice Opens a credit line of `limit` fen on product `productId` for `borrower`, with the
     * risk model's `scoreBand` and decision-model version `modelHash`.
     * @dev Caller: the product lead's current key holding LeadBank. The product must be active and
     * `ceilingMin <= limit <= ceilingMax`. Emits {LineOpened}.
     * @return lineId The new line's id; ids start at 1.
     */
    function openLine(ProductId productId, bytes32 borrower, uint64 limit, uint8 scoreBand, bytes32 modelHash)
        external
        returns (LineId lineId);

    /// @notice Closes line `lineId`: no further drawdowns. Caller: the line's lead or the
    /// Consortium. Outstanding loans are unaffected. Emits {LineClosed}.
    function closeLine(LineId lineId) external;

    /**
     * @notice Proposes drawing `amount` fen over `installments` installments on line `lineId`.
     * @dev Caller: the line's lead. Checks the installment count, the single-draw cap, the line's
     * remaining limit and the borrower's exposure cap, in that order; splits the amount by the
     * product shares (largest remainder). Emits {DrawdownProposed}.
     * @return drawdownId The drawdown's id, which becomes the loan's id; ids start at 1.
     */
    function proposeDrawdown(LineId lineId, uint64 amount, uint8 installments) external returns (LoanId drawdownId);

    /// @notice The caller, a partner of pending drawdown `drawdownId`, commits its part by
    /// transaction. Emits {DrawdownCommitted} with `bySignature` false.
    function commit(LoanId drawdownId) external;

    /**
     * @notice Disburses pending drawdown `drawdownId`: checks one commitment per product partner
     * (in product order: an EIP-712 signature valid until `deadlines[i]`, or an empty signature if
     * that partner committed by transaction), re-checks the line and exposure limits, books the
     * usage and opens the loan in the LoanLedger.
     * @dev Caller: the line's lead. Emits {DrawdownCommitted} per signature, then
     * {DrawdownDisbursed}.
     */
    function disburse(LoanId drawdownId, uint64[] calldata deadlines, bytes[] calldata signatures) external;

    /// @notice A principal repayment of `amount` on line `lineId` of `borrower` frees line usage
    /// and exposure. Caller: the LoanLedger only. Emits {PrincipalReleased}.
    function releasePrincipal(LineId lineId, bytes32 borrower, uint64 amount) external;

    /// @notice Line `lineId`. Reverts with {CreditLinesUnknownLine}.
    function line(LineId lineId) external view returns (Line memory);

    /// @notice Drawdown `drawdownId`. Reverts with {CreditLinesUnknownDrawdown}.
    function drawdown(LoanId drawdownId) external view returns (Drawdown memory);

    /// @notice The borrower of drawdown `drawdownId` (its line's), which is also the borrower of
    /// the loan of that id; the LoanLedger reads it here instead of storing it. Reverts with
    /// {CreditLinesUnknownDrawdown}.
    function drawdownBorrower(LoanId drawdownId) external view returns (bytes32);

    /// @notice The number of lines ever opened; ids are `1..lineCount()`.
    function lineCount() external view returns (uint256);

    /// @notice The number of drawdowns ever proposed; ids are `1..drawdownCount()`.
    function drawdownCount() external view returns (uint256);

    /// @notice `borrower`'s outstanding principal across all lines of all members.
    function borrowerExposure(bytes32 borrower) external view returns (uint64);

    /// @notice The balance of `borrower`'s virtual account: the principal of every loan disbursed
    /// to it, credited at disbursement. Kept here, in the borrower's exposure slot, and reported by
    /// `ILoanLedger.virtualBalance`, which announces each credit with `VirtualAccountCredited`.
    function borrowerVirtualBalance(bytes32 borrower) external view returns (uint64);

    /// @notice The number of lines ever opened for `borrower` (by any lead bank).
    function borrowerLineCount(bytes32 borrower) external view returns (uint32);

    /// @notice The consortium-wide exposure cap per borrower now in force.
    function borrowerExposureCap() external view returns (uint64);

    /// @notice The EIP-712 digest a partner signs to commit `amount` to `id` until `deadline`.
    function commitmentDigest(LoanId id, uint32 partnerId, uint64 amount, uint64 deadline)
        external
        view
        returns (bytes32);

    /// @notice The EIP-712 domain separator (recomputed if the chain id changed).
    function DOMAIN_SEPARATOR() external view returns (bytes32);

    /// @notice The Consortium, ProductCatalog and LoanLedger this contract works with.
    function consortium() external view returns (address);

    /// @notice See {consortium}.
    function catalog() external view returns (address);

    /// @notice See {consortium}.
    function loanLedger() external view returns (address);
}
