// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IConsortium} from "../interfaces/IConsortium.sol";
import {ICreditLines} from "../interfaces/ICreditLines.sol";
import {ILoanLedger} from "../interfaces/ILoanLedger.sol";
import {IProductCatalog} from "../interfaces/IProductCatalog.sol";
import {LendingMath} from "../libraries/LendingMath.sol";
import {LenderPart, LineId, LoanId, ProductId} from "./LendingTypes.sol";

/**
 * @title CreditLines
 * @notice Origination of co-lent loans: credit lines, drawdowns, partner commitments and
 * disbursement into the LoanLedger; see {ICreditLines}.
 */
contract CreditLines is ICreditLines, EIP712 {
    uint256 private constant _MAX_PARTNERS = 8;
    bytes32 private constant _COMMITMENT_TYPEHASH =
        keccak256("Commitment(uint64 drawdownId,uint32 partnerId,uint64 amount,uint64 deadline)");
    bytes32 private constant _EXPOSURE_CAP_KEY = keccak256("lending.borrowerExposureCap");
    bytes32 private constant _LIFETIME_KEY = keccak256("lending.drawdownLifetime");
    uint256 private constant _DEFAULT_LIFETIME = 1 days;

    /// @dev What origination needs of a product, copied from the catalog when its first line
    /// opens (product terms never change). Slot 0 holds all that disbursement and {commit} read for
    /// up to three partners (the usual products), so they read one slot; slot 1 the proposal
    /// checks; partners 3.. follow. A partner is packed as `memberId << 16 | shareBp`.
    struct Terms {
        uint32 leadMemberId;
        uint16 leadShareBp;
        uint16 annualRateBp;
        uint16 penaltySurchargeBp;
        uint8 partnerCount;
        uint48 partner0;
        uint48 partner1;
        uint48 partner2;
        uint64 installmentCountsMask;
        uint64 singleDrawCap;
        uint48[_MAX_PARTNERS - 3] morePartners;
    }

    /// @dev Storage layout of a drawdown: one slot. The parts are not stored: they are the same
    /// pure function of the amount and the (immutable) product shares at proposal and later.
    /// `roundedUp` keeps the one thing `LendingMath.split` decides beyond the floors: bit i is set
    /// when part i (lead = 0) got one of the leftover units, so part i = floor(amount * share_i /
    /// 10,000) + bit i, and disbursement and the view rebuild the parts without re-running the split.
    struct Record {
        LineId lineId;
        uint64 amount;
        uint40 deadline;
        uint8 installments;
        DrawdownState state;
        uint8 committed;
        uint16 roundedUp;
    }

    /// @dev A borrower's consortium-wide outstanding principal, the number of its lines (set by
    /// {openLine}, which also makes the first write at disbursement a cheap non-zero update) and
    /// its virtual account: the principal of every loan disbursed to it, which the LoanLedger
    /// reports as `virtualBalance`. One slot, written once per disbursement.
    struct Borrower {
        uint64 exposure;
        uint32 lineCount;
        uint64 virtualBalance;
    }

    IConsortium private immutable _consortium;
    IProductCatalog private immutable _catalog;
    ILoanLedger private immutable _ledger;
    uint64 private immutable _defaultExposureCap;

    uint64 private _lineCount;
    uint64 private _drawdownCount;
    mapping(ProductId productId => Terms) private _terms;
    mapping(LineId lineId => Line) private _lines;
    mapping(LoanId drawdownId => Record) private _drawdowns;
    mapping(bytes32 borrower => Borrower) private _borrowers;

    constructor(IConsortium consortium_, IProductCatalog catalog_, address loanLedger_, uint64 defaultExposureCap)
        EIP712("coledger CreditLines", "1")
    {
        _consortium = consortium_;
        _catalog = catalog_;
        _ledger = ILoanLedger(loanLedger_);
        _defaultExposureCap = defaultExposureCap;
    }

    // ---------------------------------------------------------------- lines

    /// @inheritdoc ICreditLines
    function openLine(ProductId productId, bytes32 borrower, uint64 limit, uint8 scoreBand, bytes32 modelHash)
        external
        returns (LineId lineId)
    {
        (IProductCatalog.ProductTerms memory t, bool active) = _catalog.product(productId);
        _checkLead(t.leadMemberId);
        if (!active) revert CreditLinesProductInactive(productId);
        if (borrower == bytes32(0)) revert CreditLinesZeroBorrower();
        if (limit < t.ceilingMin || limit > t.ceilingMax) {
            revert CreditLinesLimitOutOfRange(limit, t.ceilingMin, t.ceilingMax);
        }
        if (_terms[productId].leadMemberId == 0) _cacheTerms(productId, t);
        lineId = LineId.wrap(++_lineCount);
        _lines[lineId] = Line({
            borrower: borrower,
            productId: productId,
            leadMemberId: t.leadMemberId,
            limit: limit,
            used: 0,
            scoreBand: scoreBand,
            closed: false,
            modelHash: modelHash
        });
        ++_borrowers[borrower].lineCount;
        emit LineOpened(lineId, productId, borrower, t.leadMemberId, limit, scoreBand, modelHash);
    }

    /// @inheritdoc ICreditLines
    function closeLine(LineId lineId) external {
        Line storage l = _line(lineId);
        if (msg.sender != address(_consortium)) _checkLead(l.leadMemberId);
        if (l.closed) revert CreditLinesLineClosed(lineId);
        l.closed = true;
        emit LineClosed(lineId, msg.sender);
    }

    /// @inheritdoc ICreditLines
    function releasePrincipal(LineId lineId, bytes32 borrower, uint64 amount) external {
        if (msg.sender != address(_ledger)) revert CreditLinesNotLedger(msg.sender);
        Line storage l = _line(lineId);
        if (l.borrower != borrower) revert CreditLinesBorrowerMismatch(lineId, borrower, l.borrower);
        uint64 used = l.used;
        if (amount > used) revert CreditLinesReleaseExceedsUsage(lineId, amount, used);
        // Cannot underflow: amount <= used, and a borrower's exposure is the sum of its lines' used.
        unchecked {
            used -= amount;
            l.used = used;
            uint64 exposure = _borrowers[borrower].exposure - amount;
            _borrowers[borrower].exposure = exposure;
            emit PrincipalReleased(lineId, borrower, amount, used, exposure);
        }
    }

    // ---------------------------------------------------------------- drawdowns

    /// @inheritdoc ICreditLines
    function proposeDrawdown(LineId lineId, uint64 amount, uint8 installments) external returns (LoanId drawdownId) {
        Line storage l = _line(lineId);
        _checkLead(l.leadMemberId);
        if (l.closed) revert CreditLinesLineClosed(lineId);
        Terms storage t = _terms[l.productId];
        uint64 mask = t.installmentCountsMask;
        if ((mask >> installments) & 1 == 0) revert CreditLinesInstallmentsNotAllowed(installments, mask);
        if (amount == 0) revert CreditLinesZeroAmount();
        uint64 cap = t.singleDrawCap;
        if (amount > cap) revert CreditLinesDrawExceedsCap(amount, cap);
        _checkRoom(l, amount);

        drawdownId = LoanId.wrap(++_drawdownCount);
        // Cannot truncate: the lifetime is below 2^32 and block timestamps far below 2^39.
        uint40 deadline = uint40(block.timestamp + _lifetime());
        (LenderPart[] memory parts, uint16 roundedUp) = _split(t, amount);
        _drawdowns[drawdownId] = Record({
            lineId: lineId,
            amount: amount,
            deadline: deadline,
            installments: installments,
            state: DrawdownState.Pending,
            committed: 0,
            roundedUp: roundedUp
        });
        emit DrawdownProposed(drawdownId, lineId, amount, installments, parts, deadline);
    }

    /// @inheritdoc ICreditLines
    function commit(LoanId drawdownId) external {
        Record storage d = _pending(drawdownId);
        uint256 memberId = _consortium.memberIdOf(msg.sender);
        if (memberId != 0 && _consortium.hasRole(IConsortium.Role.Partner, msg.sender)) {
            Terms storage t = _terms[_lines[d.lineId].productId];
            uint256 n = t.partnerCount;
            for (uint256 i; i < n; ++i) {
                uint32 partnerId = uint32(_partnerAt(t, i) >> 16);
                if (partnerId != memberId) continue;
                uint8 bit = uint8(1 << i);
                if (d.committed & bit != 0) revert CreditLinesAlreadyCommitted(drawdownId, partnerId);
                d.committed |= bit;
                emit DrawdownCommitted(drawdownId, partnerId, false);
                return;
            }
        }
        revert CreditLinesNotAPartner(drawdownId, msg.sender);
    }

    /// @inheritdoc ICreditLines
    function disburse(LoanId drawdownId, uint64[] calldata deadlines, bytes[] calldata signatures) external {
        Record storage d = _pending(drawdownId);
        Record memory r = d;
        Line storage l = _lines[r.lineId];
        _checkLead(l.leadMemberId);
        if (l.closed) revert CreditLinesLineClosed(r.lineId);
        uint64 amount = r.amount;
        bytes32 borrower = _checkRoom(l, amount);
        ProductId productId = l.productId;
        Terms storage t = _terms[productId];
        LenderPart[] memory parts = _parts(t, amount, r.roundedUp);
        _checkCommitments(drawdownId, r.committed, parts, deadlines, signatures);

        // The `committed` bits are left as they are: a disbursed drawdown shows every partner
        // committed (see {drawdown}).
        d.state = DrawdownState.Disbursed;
        _book(l, borrower, amount);
        _ledger.openLoan(
            drawdownId, borrower, r.lineId, productId, amount, t.annualRateBp, t.penaltySurchargeBp,
            r.installments, parts[0].memberId, parts
        );
        emit DrawdownDisbursed(drawdownId, borrower, amount);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ICreditLines
    function line(LineId lineId) external view returns (Line memory) {
        return _line(lineId);
    }

    /// @inheritdoc ICreditLines
    function drawdown(LoanId drawdownId) external view returns (Drawdown memory view_) {
        Record memory d = _drawdowns[drawdownId];
        if (d.state == DrawdownState.None) revert CreditLinesUnknownDrawdown(drawdownId);
        Terms storage t = _terms[_lines[d.lineId].productId];
        view_.lineId = d.lineId;
        view_.amount = d.amount;
        view_.installments = d.installments;
        view_.state = d.state;
        view_.deadline = d.deadline;
        view_.annualRateBp = t.annualRateBp;
        view_.penaltySurchargeBp = t.penaltySurchargeBp;
        view_.parts = _parts(t, d.amount, d.roundedUp);
        view_.committed = new bool[](view_.parts.length);
        view_.committed[0] = true;
        bool disbursed = d.state == DrawdownState.Disbursed;
        for (uint256 i = 1; i < view_.parts.length; ++i) {
            view_.committed[i] = disbursed || d.committed & (1 << (i - 1)) != 0;
        }
    }

    /// @inheritdoc ICreditLines
    function drawdownBorrower(LoanId drawdownId) external view returns (bytes32) {
        LineId lineId = _drawdowns[drawdownId].lineId;
        if (LineId.unwrap(lineId) == 0) revert CreditLinesUnknownDrawdown(drawdownId);
        return _lines[lineId].borrower;
    }

    /// @inheritdoc ICreditLines
    function lineCount() external view returns (uint256) {
        return _lineCount;
    }

    /// @inheritdoc ICreditLines
    function drawdownCount() external view returns (uint256) {
        return _drawdownCount;
    }

    /// @inheritdoc ICreditLines
    function borrowerExposure(bytes32 borrower) external view returns (uint64) {
        return _borrowers[borrower].exposure;
    }

    /// @inheritdoc ICreditLines
    function borrowerVirtualBalance(bytes32 borrower) external view returns (uint64) {
        return _borrowers[borrower].virtualBalance;
    }

    /// @inheritdoc ICreditLines
    function borrowerLineCount(bytes32 borrower) external view returns (uint32) {
        return _borrowers[borrower].lineCount;
    }

    /// @inheritdoc ICreditLines
    function borrowerExposureCap() external view returns (uint64) {
        return _exposureCap();
    }

    /// @inheritdoc ICreditLines
    function commitmentDigest(LoanId id, uint32 partnerId, uint64 amount, uint64 deadline)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(_COMMITMENT_TYPEHASH, id, partnerId, amount, deadline)));
    }

    /// @inheritdoc ICreditLines
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc ICreditLines
    function consortium() external view returns (address) {
        return address(_consortium);
    }

    /// @inheritdoc ICreditLines
    function catalog() external view returns (address) {
        return address(_catalog);
    }

    /// @inheritdoc ICreditLines
    function loanLedger() external view returns (address) {
        return address(_ledger);
    }

    // ---------------------------------------------------------------- checks

    /// @dev Reverts unless the caller is the current key of lead bank `leadMemberId` holding LeadBank.
    function _checkLead(uint32 leadMemberId) private view {
        if (
            _consortium.memberIdOf(msg.sender) != leadMemberId
                || !_consortium.hasRole(IConsortium.Role.LeadBank, msg.sender)
        ) revert CreditLinesNotLead(msg.sender, leadMemberId);
    }

    /// @dev Reverts unless `amount` fits line `l`'s remaining limit and its borrower's exposure
    /// cap; returns the borrower.
    function _checkRoom(Line storage l, uint64 amount) private view returns (bytes32 borrower) {
        uint64 used = l.used;
        // Cannot underflow: used only grows at disbursement, within the limit.
        uint64 remaining;
        unchecked {
            remaining = l.limit - used;
        }
        if (amount > remaining) revert CreditLinesDrawExceedsLimit(amount, remaining);
        borrower = l.borrower;
        uint64 exposure = _borrowers[borrower].exposure;
        uint64 cap = _exposureCap();
        if (uint256(exposure) + amount > cap) revert CreditLinesExposureCapExceeded(borrower, exposure, amount, cap);
    }

    /// @dev Checks one commitment per partner `parts[1..]` of drawdown `id`: a signature, or an
    /// earlier {commit} (bit i-1 of `committed`) when the signature is empty.
    function _checkCommitments(
        LoanId id,
        uint256 committed,
        LenderPart[] memory parts,
        uint64[] calldata deadlines,
        bytes[] calldata signatures
    ) private {
        uint256 n = parts.length - 1;
        if (deadlines.length != n || signatures.length != n) {
            revert CreditLinesCommitmentCount(id, n, deadlines.length, signatures.length);
        }
        for (uint256 i; i < n; ++i) {
            LenderPart memory part = parts[i + 1];
            if (signatures[i].length != 0) {
                _verifyCommitment(id, part, deadlines[i], signatures[i]);
                emit DrawdownCommitted(id, part.memberId, true);
            } else if (committed & (1 << i) == 0) {
                revert CreditLinesMissingCommitment(id, part.memberId);
            }
        }
    }

    /// @dev Reverts unless `signature` is partner `part.memberId`'s current key committing
    /// `part.amount` to `id` until `deadline`, which has not passed.
    function _verifyCommitment(LoanId id, LenderPart memory part, uint64 deadline, bytes calldata signature)
        private
        view
    {
        if (block.timestamp > deadline) revert CreditLinesCommitmentExpired(part.memberId, deadline);
        // As ECDSA.tryRecover(bytes32, bytes), without copying the 65 bytes to memory first.
        address signer;
        ECDSA.RecoverError err = ECDSA.RecoverError.InvalidSignatureLength;
        if (signature.length == 65) {
            (signer, err,) = ECDSA.tryRecover(
                commitmentDigest(id, part.memberId, part.amount, deadline),
                uint8(signature[64]),
                bytes32(signature[0:32]),
                bytes32(signature[32:64])
            );
        }
        if (
            err != ECDSA.RecoverError.NoError || _consortium.memberIdOf(signer) != part.memberId
                || !_consortium.hasRole(IConsortium.Role.Partner, signer)
        ) revert CreditLinesBadCommitment(id, part.memberId, signer);
    }

    /// @dev The record of drawdown `id`, which must be pending and not expired.
    function _pending(LoanId id) private view returns (Record storage d) {
        d = _drawdowns[id];
        DrawdownState state = d.state;
        if (state == DrawdownState.None) revert CreditLinesUnknownDrawdown(id);
        if (state != DrawdownState.Pending) revert CreditLinesDrawdownNotPending(id);
        if (block.timestamp > d.deadline) revert CreditLinesDrawdownExpired(id, d.deadline);
    }

    /// @dev The record of line `lineId`, which must exist.
    function _line(LineId lineId) private view returns (Line storage l) {
        l = _lines[lineId];
        if (l.borrower == bytes32(0)) revert CreditLinesUnknownLine(lineId);
    }

    function _exposureCap() private view returns (uint64) {
        uint256 cap = _consortium.parameter(_EXPOSURE_CAP_KEY);
        if (cap == 0) return _defaultExposureCap;
        return cap > type(uint64).max ? type(uint64).max : uint64(cap);
    }

    /// @dev Seconds a drawdown stays open; governed values are clamped to 2^32 - 1.
    function _lifetime() private view returns (uint256) {
        uint256 lifetime = _consortium.parameter(_LIFETIME_KEY);
        if (lifetime == 0) return _DEFAULT_LIFETIME;
        return lifetime > type(uint32).max ? type(uint32).max : lifetime;
    }

    /**
     * @dev `amount` split by product `t`'s shares: the lead first, then the partners in product
     * order; the parts sum to `amount`. This is `LendingMath.split(amount, shares)` (largest
     * remainder, ties to the lower index) specialised to basis-point shares summing to 10,000 (the
     * catalog checks that), with the remainders (< 10,000) packed 16 bits per party in one word
     * instead of memory arrays. Also returns which parts were rounded up (see {Record}).
     */
    function _split(Terms storage t, uint64 amount)
        private
        view
        returns (LenderPart[] memory parts, uint16 roundedUp)
    {
        uint256 n = t.partnerCount + 1;
        parts = new LenderPart[](n);
        uint256 remainders;
        uint256 given;
        // Cannot overflow or truncate: amount * share < 2^64 * 2^14; each part and the sum of the
        // floors are at most `amount`; remainders < 10,000 < 2^16; at most 9 parties (144 bits).
        unchecked {
            for (uint256 i; i < n; ++i) {
                (uint32 memberId, uint256 share) =
                    i == 0 ? (t.leadMemberId, uint256(t.leadShareBp)) : _partner(_partnerAt(t, i - 1));
                uint256 scaled = amount * share;
                uint256 floor = scaled / LendingMath.BP;
                parts[i] = LenderPart(memberId, uint64(floor));
                remainders |= (scaled % LendingMath.BP) << (16 * i);
                given += floor;
            }
            // The leftover units (fewer than n) go one each to the largest remainders.
            for (uint256 extra = amount - given; extra != 0; --extra) {
                uint256 best;
                uint256 bestRemainder;
                for (uint256 i; i < n; ++i) {
                    uint256 r = (remainders >> (16 * i)) & 0xffff;
                    if (r > bestRemainder) (best, bestRemainder) = (i, r);
                }
                remainders &= ~(uint256(0xffff) << (16 * best));
                ++parts[best].amount;
                roundedUp |= uint16(1 << best);
            }
        }
    }

    /// @dev Partner `i` (0-based, product order) of `t`, packed as in {Terms}.
    function _partnerAt(Terms storage t, uint256 i) private view returns (uint48) {
        if (i == 0) return t.partner0;
        if (i == 1) return t.partner1;
        if (i == 2) return t.partner2;
        return t.morePartners[i - 3];
    }

    /// @dev Member id and share of a packed partner entry of {Terms}.
    function _partner(uint48 partner) private pure returns (uint32 memberId, uint256 shareBp) {
        // Cannot truncate: the low 16 bits are the share, the next 32 the member id.
        return (uint32(partner >> 16), uint16(partner));
    }

    /// @dev The parts {_split} gave at proposal, rebuilt from the floors and the `roundedUp` bits.
    function _parts(Terms storage t, uint64 amount, uint16 roundedUp)
        private
        view
        returns (LenderPart[] memory parts)
    {
        uint256 n = t.partnerCount + 1;
        parts = new LenderPart[](n);
        // Cannot overflow or truncate: amount * share < 2^64 * 2^14, and each part <= amount.
        unchecked {
            uint256 leadFloor = amount * uint256(t.leadShareBp) / LendingMath.BP;
            parts[0] = LenderPart(t.leadMemberId, uint64(leadFloor + (roundedUp & 1)));
            for (uint256 i = 1; i < n; ++i) {
                (uint32 memberId, uint256 share) = _partner(_partnerAt(t, i - 1));
                parts[i] = LenderPart(memberId, uint64(amount * share / LendingMath.BP + ((roundedUp >> i) & 1)));
            }
        }
    }

    // ---------------------------------------------------------------- state writers

    /// @dev Books a disbursement of `amount` on line `l` of `borrower` and credits it to the
    /// borrower's virtual account.
    function _book(Line storage l, bytes32 borrower, uint64 amount) private {
        Borrower storage b = _borrowers[borrower];
        // Cannot overflow: both stay within the limit and the cap just checked (uint64 values).
        unchecked {
            l.used += amount;
            b.exposure += amount;
        }
        b.virtualBalance += amount;
    }

    function _cacheTerms(ProductId productId, IProductCatalog.ProductTerms memory t) private {
        Terms storage c = _terms[productId];
        c.leadMemberId = t.leadMemberId;
        c.leadShareBp = t.leadShareBp;
        c.annualRateBp = t.annualRateBp;
        c.penaltySurchargeBp = t.penaltySurchargeBp;
        c.installmentCountsMask = t.installmentCountsMask;
        c.singleDrawCap = t.singleDrawCap;
        // Cannot truncate: the catalog allows at most _MAX_PARTNERS partners.
        c.partnerCount = uint8(t.partnerIds.length);
        for (uint256 i; i < t.partnerIds.length; ++i) {
            uint48 partner = uint48(t.partnerIds[i]) << 16 | t.partnerSharesBp[i];
            if (i == 0) c.partner0 = partner;
            else if (i == 1) c.partner1 = partner;
            else if (i == 2) c.partner2 = partner;
            else c.morePartners[i - 3] = partner;
        }
    }
}
