// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IConsortium} from "../interfaces/IConsortium.sol";
import {IFundFlows} from "../interfaces/IFundFlows.sol";
import {ILoanLedger} from "../interfaces/ILoanLedger.sol";
import {LoanId, ProductId} from "../lending/LendingTypes.sol";
import {FundFlowsRules} from "./FundFlowsRules.sol";
import {FundFlowsStorage} from "./FundFlowsStorage.sol";

/**
 * @title FundFlows
 * @notice Closed-loop virtual accounts with on-chain fund-flow rules; see {IFundFlows}.
 */
contract FundFlows is FundFlowsRules {
    using SafeCast for uint256;

    constructor(IConsortium consortium_, address loanLedger_) FundFlowsStorage(consortium_, loanLedger_) {}

    // ---------------------------------------------------------------- funding

    /// @inheritdoc IFundFlows
    function syncDrawdown(LoanId loanId) external {
        if (!_consortium.isActiveMember(msg.sender)) revert FundFlowsUnauthorized(msg.sender, bytes32(0));
        if (_bucketOf[loanId] != 0) revert FundFlowsAlreadySynced(loanId);
        ILoanLedger.LoanView memory l = ILoanLedger(_loanLedger).loan(loanId);
        bytes32 a = l.borrower;
        Funds memory f = _funds[a];
        if (f.leadMemberId == 0) f.leadMemberId = l.leadMemberId;
        else if (f.leadMemberId != l.leadMemberId) {
            revert FundFlowsLeadBankMismatch(loanId, a, f.leadMemberId, l.leadMemberId);
        }
        Queue storage q = _queues[a];
        if (q.closed) revert FundFlowsAccountClosed(a);
        f.balance = (uint256(f.balance) + l.principal).toUint48();
        f.funded = (uint256(f.funded) + l.principal).toUint48();
        f.productId = l.productId;
        _funds[a] = f;
        uint32 index = q.tail++;
        _buckets[a][index] = StoredBucket(loanId, uint48(l.principal), uint48(l.principal), uint40(l.start), l.productId);
        _bucketOf[loanId] = uint256(index) + 1;
        emit DrawdownSynced(loanId, a, l.productId, l.principal, l.start, index);
    }

    // ---------------------------------------------------------------- flows

    /// @inheritdoc IFundFlows
    function recordFlows(FlowInput[] calldata flows) external returns (uint64 firstFlowId) {
        uint256 n = flows.length;
        if (n == 0) revert FundFlowsEmptyBatch();
        if (n > MAX_BATCH) revert FundFlowsBatchTooLarge(n, MAX_BATCH);
        Batch memory batch;
        batch.lead = _recorderLead(msg.sender);
        uint256[] memory table = new uint256[](_tableSize(n));
        uint256[] memory entries = new uint256[](n);
        uint256 count;
        Cached memory e; // points at the current flow's account entry (assigned by address below)
        uint64 id = _flowCount;
        firstFlowId = id + 1;
        for (uint256 i; i < n; ++i) {
            FlowInput calldata input = flows[i];
            bytes32 a = input.account;
            (uint256 slot, uint256 entry) = _find(table, a);
            if (entry == 0) {
                e = Cached(a, false, _loadFunds(a), _loadQueue(a));
                // Checked once per account and batch (nothing in a batch closes an account), so
                // before the flow's own checks.
                if (e.q.closed) revert FundFlowsAccountClosed(a);
                assembly ("memory-safe") {
                    entry := e
                }
                table[slot] = entry;
                entries[count++] = entry;
            } else {
                assembly ("memory-safe") {
                    e := entry
                }
            }
            // Overflow not possible: at most 500 flows per call on a 64-bit counter.
            unchecked {
                ++id;
            }
            _record(i, id, input, batch, e);
        }
        _flowCount = id;
        for (uint256 k; k < count; ++k) {
            uint256 entry = entries[k];
            assembly ("memory-safe") {
                e := entry
            }
            if (e.dirty) {
                _storeFunds(e.account, e.f);
                _storeQueue(e.account, e.q);
            }
        }
    }

    /// @dev Checks and records flow `index` of a batch as flow `flowId`, changing its account's
    /// cached slots `e` (written back by {recordFlows}) and the buckets and P2P times in storage.
    function _record(uint256 index, uint64 flowId, FlowInput calldata input, Batch memory batch, Cached memory e)
        private
    {
        if (input.kind > uint8(FlowKind.Refund)) revert FundFlowsUnknownKind(index, input.kind);
        FlowKind kind = FlowKind(input.kind);
        if (kind == FlowKind.MerchantPayment ? (input.mcc == 0 || input.mcc > 9999) : input.mcc != 0) {
            revert FundFlowsInvalidCategory(index, input.kind, input.mcc);
        }
        if (input.amount == 0) revert FundFlowsZeroAmount(index);
        bytes32 a = input.account;
        Funds memory f = e.f;
        if (f.leadMemberId == 0) revert FundFlowsUnknownAccount(index, a);
        if (batch.lead != 0 && batch.lead != f.leadMemberId) revert FundFlowsUnauthorized(msg.sender, a);
        Queue memory q = e.q;
        e.dirty = true;
        if (kind == FlowKind.Refund) return _refund(index, flowId, input, f, q);
        uint256 available = uint256(f.balance) - f.reserved;
        if (input.amount > available) revert FundFlowsAmountExceedsAvailable(index, a, input.amount, available);
        if (q.held) return _emitRecorded(flowId, input, kind, f.productId, Verdict.Rejected, 0);

        _loadRules(batch, f.productId);
        Judgement memory j = _judge(a, kind, input, f, q, batch);
        Verdict verdict = Verdict(uint8(j.action));
        _emitRecorded(flowId, input, kind, f.productId, verdict, j.fired);
        if (verdict != Verdict.Allow) emit Alert(flowId, a, f.productId, verdict, j.fired);
        if (verdict == Verdict.Hold) {
            q.held = true;
            emit HoldPlaced(a, flowId, j.fired);
            return;
        }
        if (j.velocityTracked) {
            q.velocityStart = j.velocityStart;
            q.velocityBase = j.velocityBase;
            q.velocityOutflow = j.velocityOutflow.toUint48();
        }
        if (kind == FlowKind.P2PTransfer) {
            _p2pTimes[a][q.p2pCount % MAX_P2P_COUNT] = uint40(block.timestamp);
            ++q.p2pCount;
        }
        if (verdict == Verdict.Verify) {
            f.reserved = (uint256(f.reserved) + input.amount).toUint48();
            _flows[flowId] = StoredFlow(a, kind, FlowStatus.Pending, input.mcc, uint48(input.amount));
        } else {
            _settle(a, f, q, flowId, kind, input.amount, false);
        }
    }

    /// @dev A refund: back into the bucket of loan `counterparty` (or the newest), at most what left it.
    function _refund(uint256 index, uint64 flowId, FlowInput calldata input, Funds memory f, Queue memory q)
        private
    {
        bytes32 a = input.account;
        uint256 bucketIndex = q.tail - 1;
        if (input.counterparty != 0) {
            uint256 raw = uint256(input.counterparty);
            uint256 stored = raw > type(uint64).max ? 0 : _bucketOf[LoanId.wrap(uint64(raw))];
            if (stored == 0 || LoanId.unwrap(_buckets[a][stored - 1].loanId) != raw) {
                revert FundFlowsRefundUnknownLoan(index, a, LoanId.wrap(uint64(raw)));
            }
            bucketIndex = stored - 1;
        }
        StoredBucket storage b = _buckets[a][bucketIndex];
        uint256 spent = uint256(b.amount) - b.remaining;
        if (input.amount > spent) revert FundFlowsRefundExceedsSpent(index, b.loanId, input.amount, spent);
        if (q.held) return _emitRecorded(flowId, input, FlowKind.Refund, f.productId, Verdict.Rejected, 0);
        // Overflow not possible: remaining + amount <= amount of the bucket (48 bits).
        unchecked {
            b.remaining += uint48(input.amount);
        }
        f.balance = (uint256(f.balance) + input.amount).toUint48();
        if (bucketIndex < q.head) q.head = uint32(bucketIndex);
        _emitRecorded(flowId, input, FlowKind.Refund, f.productId, Verdict.Allow, 0);
        emit FlowLineage(flowId, b.loanId, input.amount);
    }

    function _emitRecorded(
        uint64 flowId,
        FlowInput calldata input,
        FlowKind kind,
        ProductId productId,
        Verdict verdict,
        uint16 fired
    ) private {
        if (input.counterparty != 0 || input.toOtherLender) {
            emit FlowCounterparty(flowId, input.counterparty, input.toOtherLender);
        }
        emit FlowRecorded(flowId, input.account, kind, input.amount, input.mcc, productId, verdict, fired);
    }

    // ---------------------------------------------------------------- lead bank

    /// @inheritdoc IFundFlows
    function resolveVerification(uint64 flowId, bytes32 attestationHash, bool approved) external {
        StoredFlow memory s = _flows[flowId];
        if (s.status != FlowStatus.Pending) revert FundFlowsNotPending(flowId);
        uint32 memberId = _checkLeadOf(msg.sender, s.account);
        if (attestationHash == bytes32(0)) revert FundFlowsEmptyHash();
        if (approved && _queues[s.account].held) revert FundFlowsAccountHeld(s.account);
        _flows[flowId].status = approved ? FlowStatus.Approved : FlowStatus.Rejected;
        emit VerificationResolved(flowId, s.account, attestationHash, approved, memberId);
        Funds memory f = _funds[s.account];
        if (approved) {
            Queue memory q = _queues[s.account];
            _settle(s.account, f, q, flowId, s.kind, s.amount, true);
            _queues[s.account].head = q.head;
        } else {
            f.reserved -= s.amount;
        }
        _funds[s.account] = f;
    }

    /// @inheritdoc IFundFlows
    function releaseHold(bytes32 account_, bytes32 reasonHash) external {
        uint32 memberId = _checkLeadOf(msg.sender, account_);
        if (!_queues[account_].held) revert FundFlowsNotHeld(account_);
        if (reasonHash == bytes32(0)) revert FundFlowsEmptyHash();
        _queues[account_].held = false;
        emit HoldReleased(account_, reasonHash, memberId);
    }

    /// @inheritdoc IFundFlows
    function closeAccount(bytes32 account_, bytes32 reasonHash) external {
        uint32 memberId = _checkLeadOf(msg.sender, account_);
        Queue storage q = _queues[account_];
        if (q.closed) revert FundFlowsAccountClosed(account_);
        if (q.held) revert FundFlowsAccountHeld(account_);
        // reserved <= balance, so a zero balance also means no pending verification.
        uint256 balance = _funds[account_].balance;
        if (balance != 0) revert FundFlowsAccountNotEmpty(account_, balance);
        if (reasonHash == bytes32(0)) revert FundFlowsEmptyHash();
        q.closed = true;
        emit AccountClosed(account_, reasonHash, memberId);
    }

    /// @inheritdoc IFundFlows
    function reopenAccount(bytes32 account_, bytes32 reasonHash) external {
        uint32 memberId = _checkLeadOf(msg.sender, account_);
        Queue storage q = _queues[account_];
        if (!q.closed) revert FundFlowsAccountNotClosed(account_);
        if (reasonHash == bytes32(0)) revert FundFlowsEmptyHash();
        q.closed = false;
        emit AccountReopened(account_, reasonHash, memberId);
    }

    // ---------------------------------------------------------------- governance

    /// @inheritdoc IFundFlows
    function setRules(ProductId productId, RuleSet calldata r) external {
        if (msg.sender != address(_consortium)) revert FundFlowsNotGovernance(msg.sender);
        if (r.p2pCountAction != Action.Allow && r.p2pMaxCount > MAX_P2P_COUNT) {
            revert FundFlowsInvalidRule(1, r.p2pMaxCount);
        }
        if (r.cashMaxShareBp > _WHOLE_BP) revert FundFlowsInvalidRule(3, r.cashMaxShareBp);
        if (r.offPlatformMaxShareBp > _WHOLE_BP) revert FundFlowsInvalidRule(4, r.offPlatformMaxShareBp);
        if (r.velocityMaxShareBp > _WHOLE_BP) revert FundFlowsInvalidRule(7, r.velocityMaxShareBp);
        _rules[productId] = r;
        emit RulesSet(productId, r);
    }

    /// @inheritdoc IFundFlows
    function setProhibitedCategory(ProductId productId, uint16 mcc, bool prohibited) external {
        if (msg.sender != address(_consortium)) revert FundFlowsNotGovernance(msg.sender);
        if (mcc == 0 || mcc > 9999) revert FundFlowsInvalidRule(5, mcc);
        uint256 bit = uint256(1) << (mcc & 0xff);
        mapping(uint256 => uint256) storage words = _prohibited[productId];
        words[mcc >> 8] = prohibited ? words[mcc >> 8] | bit : words[mcc >> 8] & ~bit;
        emit ProhibitedCategorySet(productId, mcc, prohibited);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IFundFlows
    function account(bytes32 account_) external view returns (AccountView memory v) {
        Funds memory f = _funds[account_];
        Queue memory q = _queues[account_];
        v = AccountView(
            f.balance, f.reserved, f.balance - f.reserved, f.funded, f.offPlatformSpent, f.productId, f.leadMemberId,
            q.held, q.closed, q.head, q.tail, q.p2pCount, q.velocityStart, q.velocityBase, q.velocityOutflow
        );
    }

    /// @inheritdoc IFundFlows
    function bucket(bytes32 account_, uint32 index) external view returns (Bucket memory) {
        return _toView(_buckets[account_][index]);
    }

    /// @inheritdoc IFundFlows
    function flow(uint64 flowId) external view returns (PendingFlow memory) {
        StoredFlow memory s = _flows[flowId];
        return PendingFlow(s.account, s.kind, s.status, s.mcc, s.amount);
    }

    /// @inheritdoc IFundFlows
    function synced(LoanId loanId) external view returns (bool) {
        return _bucketOf[loanId] != 0;
    }

    /// @inheritdoc IFundFlows
    function rules(ProductId productId) external view returns (RuleSet memory) {
        return _rules[productId];
    }

    /// @inheritdoc IFundFlows
    function isProhibited(ProductId productId, uint16 mcc) external view returns (bool) {
        return _isProhibited(productId, mcc);
    }

    /// @inheritdoc IFundFlows
    function flowCount() external view returns (uint64) {
        return _flowCount;
    }

    /// @inheritdoc IFundFlows
    function consortium() external view returns (IConsortium) {
        return _consortium;
    }

    /// @inheritdoc IFundFlows
    function loanLedger() external view returns (address) {
        return _loanLedger;
    }
}
