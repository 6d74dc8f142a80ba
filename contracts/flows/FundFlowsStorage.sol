// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IConsortium} from "../interfaces/IConsortium.sol";
import {IFundFlows} from "../interfaces/IFundFlows.sol";
import {LoanId, ProductId} from "../lending/LendingTypes.sol";

/**
 * @title FundFlowsStorage
 * @notice FundFlows' state, its packed layout, the FIFO lineage queue and the role checks.
 * @dev Layout: an account is {Funds} (1 slot: what every flow reads and writes) + {Queue} (1 slot:
 * bucket head/tail, hold and closed flags, P2P counter, velocity window) + its buckets (1 slot
 * each) + a ring of the last 16 P2P times (3 slots, touched by P2P flows only). Amounts are
 * stored in 48 bits: a loan's principal is below 2^48 (the LoanLedger checks it) and every sum is
 * cast with SafeCast.
 * Only Verify flows are stored; everything else an off-chain reader needs is in events (per-loan
 * totals by kind included: {FlowLineage}). A batch reads an account's two slots once, at its first
 * flow, works on them in memory ({Cached}) and writes them back once at the end.
 */
abstract contract FundFlowsStorage is IFundFlows {
    using SafeCast for uint256;

    /// @inheritdoc IFundFlows
    uint256 public constant MAX_BATCH = 500;
    /// @inheritdoc IFundFlows
    uint256 public constant MAX_P2P_COUNT = 16;

    uint256 internal constant _WHOLE_BP = 10_000;
    uint256 internal constant _DAY = 86_400;

    /// @dev The hot slot of an account. `leadMemberId` 0 means "no such account".
    struct Funds {
        uint48 balance;
        uint48 reserved;
        uint48 funded;
        uint48 offPlatformSpent;
        ProductId productId;
        uint32 leadMemberId;
    }

    /// @dev The second slot: buckets `head..tail-1` may hold money (earlier ones are empty).
    struct Queue {
        uint32 head;
        uint32 tail;
        bool held;
        bool closed;
        uint32 p2pCount;
        uint40 velocityStart;
        uint48 velocityBase;
        uint48 velocityOutflow;
    }

    struct StoredBucket {
        LoanId loanId;
        uint48 remaining;
        uint48 amount;
        uint40 time;
        ProductId productId;
    }

    struct StoredFlow {
        bytes32 account;
        FlowKind kind;
        FlowStatus status;
        uint16 mcc;
        uint48 amount;
    }

    IConsortium internal immutable _consortium;
    address internal immutable _loanLedger;

    uint64 internal _flowCount;
    mapping(bytes32 account => Funds) internal _funds;
    mapping(bytes32 account => Queue) internal _queues;
    mapping(bytes32 account => mapping(uint256 index => StoredBucket)) internal _buckets;
    mapping(bytes32 account => uint40[MAX_P2P_COUNT]) internal _p2pTimes;
    /// @dev Bucket index + 1 of a synced loan (0: not synced); the account is the loan's borrower.
    mapping(LoanId loanId => uint256) internal _bucketOf;
    mapping(uint64 flowId => StoredFlow) internal _flows;
    mapping(ProductId productId => RuleSet) internal _rules;
    /// @dev Bit `mcc % 256` of word `mcc / 256`: whether category `mcc` is prohibited.
    mapping(ProductId productId => mapping(uint256 word => uint256)) internal _prohibited;

    constructor(IConsortium consortium_, address loanLedger_) {
        if (address(consortium_) == address(0) || loanLedger_ == address(0)) revert FundFlowsZeroAddress();
        _consortium = consortium_;
        _loanLedger = loanLedger_;
    }

    // ---------------------------------------------------------------- role checks

    /// @dev 0 if `caller` holds Gateway (may record for any account), else its member id as a
    /// lead bank; reverts if it is neither.
    function _recorderLead(address caller) internal view returns (uint32) {
        if (_consortium.hasRole(IConsortium.Role.Gateway, caller)) return 0;
        if (!_consortium.hasRole(IConsortium.Role.LeadBank, caller)) revert FundFlowsUnauthorized(caller, bytes32(0));
        return uint32(_consortium.memberIdOf(caller));
    }

    /// @dev Reverts unless `caller` is the current key of `account`'s lead bank; returns its id.
    function _checkLeadOf(address caller, bytes32 account_) internal view returns (uint32 memberId) {
        memberId = _funds[account_].leadMemberId;
        if (
            memberId == 0 || !_consortium.hasRole(IConsortium.Role.LeadBank, caller)
                || _consortium.memberIdOf(caller) != memberId
        ) revert FundFlowsUnauthorized(caller, account_);
    }

    // ---------------------------------------------------------------- packed words

    // The hot slots are read and written as whole words, one SLOAD or SSTORE each: the via-IR
    // code otherwise reads a packed struct field by field and writes it back field by field
    // (measured: ~17 storage accesses per flow, each a trip through the EVM's storage journal).
    // The bit positions are Solidity's own packing of these structs (members from the low-order
    // end, in declaration order; a bool is one byte), so ordinary field accesses elsewhere (views,
    // syncDrawdown, verification) see the same values.

    uint256 private constant _MASK48 = (1 << 48) - 1;
    uint256 private constant _BUCKET_REMAINING_SHIFT = 64;
    uint256 private constant _BUCKET_TIME_SHIFT = 160;

    function _loadFunds(bytes32 account_) internal view returns (Funds memory f) {
        Funds storage s = _funds[account_];
        uint256 w;
        assembly ("memory-safe") {
            w := sload(s.slot)
        }
        f.balance = uint48(w);
        f.reserved = uint48(w >> 48);
        f.funded = uint48(w >> 96);
        f.offPlatformSpent = uint48(w >> 144);
        f.productId = ProductId.wrap(uint32(w >> 192));
        f.leadMemberId = uint32(w >> 224);
    }

    function _storeFunds(bytes32 account_, Funds memory f) internal {
        Funds storage s = _funds[account_];
        uint256 w = uint256(f.balance) | (uint256(f.reserved) << 48) | (uint256(f.funded) << 96)
            | (uint256(f.offPlatformSpent) << 144) | (uint256(ProductId.unwrap(f.productId)) << 192)
            | (uint256(f.leadMemberId) << 224);
        assembly ("memory-safe") {
            sstore(s.slot, w)
        }
    }

    function _loadQueue(bytes32 account_) internal view returns (Queue memory q) {
        Queue storage s = _queues[account_];
        uint256 w;
        assembly ("memory-safe") {
            w := sload(s.slot)
        }
        q.head = uint32(w);
        q.tail = uint32(w >> 32);
        q.held = uint8(w >> 64) != 0;
        q.closed = uint8(w >> 72) != 0;
        q.p2pCount = uint32(w >> 80);
        q.velocityStart = uint40(w >> 112);
        q.velocityBase = uint48(w >> 152);
        q.velocityOutflow = uint48(w >> 200);
    }

    function _storeQueue(bytes32 account_, Queue memory q) internal {
        Queue storage s = _queues[account_];
        uint256 w = uint256(q.head) | (uint256(q.tail) << 32) | (q.held ? uint256(1) << 64 : 0)
            | (q.closed ? uint256(1) << 72 : 0) | (uint256(q.p2pCount) << 80) | (uint256(q.velocityStart) << 112)
            | (uint256(q.velocityBase) << 152) | (uint256(q.velocityOutflow) << 200);
        assembly ("memory-safe") {
            sstore(s.slot, w)
        }
    }

    /// @dev The packed word of bucket `index` of `account_` and its slot.
    function _bucketWord(mapping(uint256 => StoredBucket) storage buckets, uint256 index)
        private
        view
        returns (uint256 slot, uint256 w)
    {
        StoredBucket storage b = buckets[index];
        assembly ("memory-safe") {
            slot := b.slot
            w := sload(slot)
        }
    }

    // ---------------------------------------------------------------- lineage queue

    /// @dev Takes `amount` from `account_`'s buckets FIFO (from `q.head`), emitting {FlowLineage}
    /// per bucket touched (per-loan totals by kind are derived from these events, not stored);
    /// advances `q.head` past emptied buckets. The caller writes `q` back. Terminates: the buckets
    /// from head hold `balance >= amount`.
    function _consume(bytes32 account_, Queue memory q, uint64 flowId, uint256 amount) internal {
        mapping(uint256 => StoredBucket) storage buckets = _buckets[account_];
        uint256 index = q.head;
        while (amount != 0) {
            (uint256 slot, uint256 w) = _bucketWord(buckets, index);
            uint256 left = (w >> _BUCKET_REMAINING_SHIFT) & _MASK48;
            if (left != 0) {
                uint256 take = left < amount ? left : amount;
                // Underflow not possible: take <= left and take <= amount.
                unchecked {
                    w = (w & ~(_MASK48 << _BUCKET_REMAINING_SHIFT)) | ((left - take) << _BUCKET_REMAINING_SHIFT);
                    amount -= take;
                }
                assembly ("memory-safe") {
                    sstore(slot, w)
                }
                emit FlowLineage(flowId, LoanId.wrap(uint64(w)), uint64(take));
                if (take != left) break;
            }
            ++index;
        }
        q.head = uint32(index);
    }

    /// @dev The drawdown amount of the first bucket with money left, from the head (one exists
    /// when balance > 0).
    function _firstBucketAmount(bytes32 account_, Queue memory q) internal view returns (uint256) {
        mapping(uint256 => StoredBucket) storage buckets = _buckets[account_];
        for (uint256 i = q.head;; ++i) {
            (, uint256 w) = _bucketWord(buckets, i);
            if ((w >> _BUCKET_REMAINING_SHIFT) & _MASK48 != 0) return (w >> 112) & _MASK48;
        }
    }

    /// @dev The drawdown time of the last bucket a FIFO walk for `amount` (<= balance) touches.
    function _lastTouchedTime(bytes32 account_, Queue memory q, uint256 amount) internal view returns (uint256) {
        mapping(uint256 => StoredBucket) storage buckets = _buckets[account_];
        for (uint256 i = q.head;; ++i) {
            (, uint256 w) = _bucketWord(buckets, i);
            uint256 left = (w >> _BUCKET_REMAINING_SHIFT) & _MASK48;
            if (left >= amount && left != 0) return uint40(w >> _BUCKET_TIME_SHIFT);
            // Underflow not possible: left < amount here.
            unchecked {
                amount -= left;
            }
        }
    }

    // ---------------------------------------------------------------- settlement

    /// @dev Moves a judged outflow's money: down `balance` (and `reserved` for a pending one),
    /// up the off-platform total, FIFO lineage (buckets written here). The caller writes `f` and
    /// `q` back.
    function _settle(
        bytes32 account_,
        Funds memory f,
        Queue memory q,
        uint64 flowId,
        FlowKind kind,
        uint256 amount,
        bool wasReserved
    ) internal {
        // Underflow not possible: amount <= available <= balance ({recordFlows} checks it), or
        // amount <= reserved <= balance for a pending flow; so both results fit their 48 bits.
        unchecked {
            f.balance = uint48(f.balance - amount);
            if (wasReserved) f.reserved = uint48(f.reserved - amount);
        }
        if (kind == FlowKind.OffPlatformPayment) f.offPlatformSpent = (uint256(f.offPlatformSpent) + amount).toUint48();
        _consume(account_, q, flowId, amount);
    }

    // ---------------------------------------------------------------- batch cache

    /// @dev An account's two slots as a batch sees them: read from storage at the account's first
    /// flow in the batch, changed in memory by each of its flows, written back once at the end.
    struct Cached {
        bytes32 account; // first field: `_find` reads it at the entry's address
        bool dirty;
        Funds f;
        Queue q;
    }

    /// @dev Where entry `account_` is (or would go) in an open-addressing table of {Cached}
    /// addresses (0 = empty) of power-of-two size: its id's low bits (ids are hashes), then
    /// linearly on. Returns the table index and the entry's address (0 if not yet cached).
    function _find(uint256[] memory table, bytes32 account_) internal pure returns (uint256 slot, uint256 entry) {
        uint256 mask = table.length - 1;
        slot = uint256(account_) & mask;
        while (true) {
            entry = table[slot];
            if (entry == 0) return (slot, 0);
            bytes32 cachedAccount;
            assembly ("memory-safe") {
                cachedAccount := mload(entry)
            }
            if (cachedAccount == account_) return (slot, entry);
            slot = (slot + 1) & mask;
        }
    }

    /// @dev The smallest power of two >= 2 * `flows` (the table stays at most half full).
    function _tableSize(uint256 flows) internal pure returns (uint256 size) {
        size = 2;
        while (size < 2 * flows) size <<= 1;
    }

    function _toView(StoredBucket memory b) internal pure returns (Bucket memory) {
        return Bucket(b.loanId, b.remaining, b.amount, b.time, b.productId);
    }
}
