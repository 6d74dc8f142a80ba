// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {FundFlowsStorage} from "./FundFlowsStorage.sol";
import {ProductId} from "../lending/LendingTypes.sol";

/**
 * @title FundFlowsRules
 * @notice The rule engine: judges one outflow against its product's {RuleSet} (see {IFundFlows}
 * for the exact definitions) without writing anything; the caller applies the verdict.
 * @dev `client/flow_rules.py` is the reference model of this file; keep them in step.
 */
abstract contract FundFlowsRules is FundFlowsStorage {
    uint16 internal constant _P2P_SINGLE = 1 << 0;
    uint16 internal constant _P2P_COUNT = 1 << 1;
    uint16 internal constant _CASH_SINGLE = 1 << 2;
    uint16 internal constant _CASH_SHARE = 1 << 3;
    uint16 internal constant _OFF_PLATFORM = 1 << 4;
    uint16 internal constant _PROHIBITED_CATEGORY = 1 << 5;
    uint16 internal constant _DEBT_ROLLING = 1 << 6;
    uint16 internal constant _VELOCITY = 1 << 7;

    /// @dev A verdict before it is applied, with the velocity window the flow would leave.
    struct Judgement {
        Action action;
        uint16 fired;
        bool velocityTracked;
        uint40 velocityStart;
        uint48 velocityBase;
        uint256 velocityOutflow;
    }

    /// @dev What stays the same through a batch (rules and categories change only by governance,
    /// never within a batch): the caller's lead-bank id (0 for a gateway), the rules last read,
    /// and the prohibited-category word last read (`categoryKey` 0: none).
    struct Batch {
        uint32 lead;
        bool loaded;
        ProductId productId;
        RuleSet rules;
        uint256 categoryKey;
        uint256 categoryWord;
    }

    /// @dev Makes `batch.rules` the rules of `productId`, read from storage only when the product changes.
    function _loadRules(Batch memory batch, ProductId productId) internal view {
        if (!batch.loaded || ProductId.unwrap(batch.productId) != ProductId.unwrap(productId)) {
            batch.rules = _rules[productId];
            batch.productId = productId;
            batch.loaded = true;
        }
    }

    /// @dev Judges outflow `kind` of `amount` from `account_` at block time by `batch.rules`.
    function _judge(
        bytes32 account_,
        FlowKind kind,
        FlowInput calldata input,
        Funds memory f,
        Queue memory q,
        Batch memory batch
    ) internal view returns (Judgement memory j) {
        RuleSet memory r = batch.rules;
        uint256 amount = input.amount;
        if (kind == FlowKind.P2PTransfer) {
            if (r.p2pSingleAction != Action.Allow && amount > r.p2pSingleMax) _fire(j, _P2P_SINGLE, r.p2pSingleAction);
            if (r.p2pCountAction != Action.Allow && _p2pCountReached(account_, q, r)) {
                _fire(j, _P2P_COUNT, r.p2pCountAction);
            }
        } else if (kind == FlowKind.CashWithdrawal) {
            if (r.cashSingleAction != Action.Allow && amount > r.cashSingleMax) {
                _fire(j, _CASH_SINGLE, r.cashSingleAction);
            }
            if (
                r.cashShareAction != Action.Allow
                    && amount * _WHOLE_BP > uint256(r.cashMaxShareBp) * _firstBucketAmount(account_, q)
            ) _fire(j, _CASH_SHARE, r.cashShareAction);
        } else if (kind == FlowKind.OffPlatformPayment) {
            if (
                r.offPlatformAction != Action.Allow
                    && (uint256(f.offPlatformSpent) + amount) * _WHOLE_BP > uint256(r.offPlatformMaxShareBp) * f.funded
            ) _fire(j, _OFF_PLATFORM, r.offPlatformAction);
        } else if (kind == FlowKind.MerchantPayment) {
            if (r.prohibitedCategoryAction != Action.Allow && _isProhibitedIn(batch, f.productId, input.mcc)) {
                _fire(j, _PROHIBITED_CATEGORY, r.prohibitedCategoryAction);
            }
        } else if (kind == FlowKind.Repayment) {
            if (
                r.debtRollingAction != Action.Allow && input.toOtherLender
                    && block.timestamp < _lastTouchedTime(account_, q, amount) + uint256(r.debtRollingDays) * _DAY
            ) _fire(j, _DEBT_ROLLING, r.debtRollingAction);
        }
        if (r.velocityAction != Action.Allow) _velocity(j, f, q, r, amount);
    }

    /// @dev The velocity rule over the account's fixed window (opened afresh if none is open).
    function _velocity(Judgement memory j, Funds memory f, Queue memory q, RuleSet memory r, uint256 amount)
        private
        view
    {
        j.velocityTracked = true;
        uint256 outflow;
        if (q.velocityStart == 0 || block.timestamp >= uint256(q.velocityStart) + r.velocityWindow) {
            j.velocityStart = uint40(block.timestamp);
            j.velocityBase = f.balance;
        } else {
            j.velocityStart = q.velocityStart;
            j.velocityBase = q.velocityBase;
            outflow = q.velocityOutflow;
        }
        j.velocityOutflow = outflow + amount;
        if (j.velocityOutflow * _WHOLE_BP > uint256(r.velocityMaxShareBp) * j.velocityBase) {
            _fire(j, _VELOCITY, r.velocityAction);
        }
    }

    /// @dev Whether `p2pMaxCount` counted P2P transfers already lie in (t - p2pWindow, t].
    function _p2pCountReached(bytes32 account_, Queue memory q, RuleSet memory r) private view returns (bool) {
        uint256 n = r.p2pMaxCount;
        if (n == 0) return true;
        if (q.p2pCount < n) return false;
        // The n-th most recent counted transfer (the ring keeps the last MAX_P2P_COUNT >= n).
        uint256 time = _p2pTimes[account_][(q.p2pCount - n) % MAX_P2P_COUNT];
        return time + r.p2pWindow > block.timestamp;
    }

    function _isProhibited(ProductId productId, uint16 mcc) internal view returns (bool) {
        return (_prohibited[productId][mcc >> 8] >> (mcc & 0xff)) & 1 == 1;
    }

    /// @dev {_isProhibited}, reading the category word from storage only when it changes in the batch.
    function _isProhibitedIn(Batch memory batch, ProductId productId, uint16 mcc) private view returns (bool) {
        // Never 0: the +1. The product id (32 bits) and word index (< 40) cannot collide.
        uint256 key = ((uint256(ProductId.unwrap(productId)) << 8) | (mcc >> 8)) + 1;
        if (batch.categoryKey != key) {
            batch.categoryWord = _prohibited[productId][mcc >> 8];
            batch.categoryKey = key;
        }
        return (batch.categoryWord >> (mcc & 0xff)) & 1 == 1;
    }

    function _fire(Judgement memory j, uint16 rule, Action action) private pure {
        j.fired |= rule;
        if (uint8(action) > uint8(j.action)) j.action = action;
    }
}
