// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {IConsortium} from "./interfaces/IConsortium.sol";

/**
 * @title Consortium
 * @notice Membership, roles, keys and M-of-N governance of the coledger consortium; the node's
 * admission rule ({transactionAllowed}) and the role oracle every other coledger contract asks.
 */
contract Consortium is IConsortium {
    using BitMaps for BitMaps.BitMap;

    /// @dev Every defined {Role} bit: `Role.Gateway` is the last of seven.
    uint256 private constant _ALL_ROLES = (1 << (uint256(type(Role).max) + 1)) - 1;
    uint256 private constant _GOVERNOR = 1 << uint256(Role.Governor);
    /// @dev The coledger node's ed25519 verification precompile (see {IConsortium}).
    address private constant _ED25519 = address(0xE25);
    uint256 private constant _MIN_VALIDATORS = 4;
    uint64 private constant _MAX_POWER = 1 << 32;

    /// @dev Storage layout of a member: key, roles and active share one slot.
    struct MemberRecord {
        address key;
        uint8 roles;
        bool active;
        string name;
    }

    /// @dev Storage layout of a proposal: everything but the arguments shares one slot.
    struct ProposalRecord {
        ActionKind kind;
        uint64 deadline;
        bool executed;
        uint64 approvals;
        uint64 proposerId;
        bytes args;
    }

    /// @dev Storage layout of a validator: member id; power and node id share the second slot.
    struct ValidatorRecord {
        uint256 memberId;
        uint64 power;
        bytes20 nodeId;
        uint64 sinceBlock;
    }

    uint256 private immutable _proposalLifetime;

    uint256 private _memberCount;
    uint256 private _governorCount;
    uint256 private _threshold;
    uint256 private _proposalCount;

    mapping(uint256 memberId => MemberRecord) private _members;
    mapping(address key => uint256 memberId) private _memberIds;
    mapping(bytes32 name => uint256 value) private _parameters;
    mapping(uint256 proposalId => ProposalRecord) private _proposals;
    mapping(uint256 proposalId => BitMaps.BitMap approverIds) private _approvals;

    uint256 private _totalPower;
    bytes32[] private _validatorKeys;
    mapping(bytes32 consensusKey => ValidatorRecord) private _validators;
    mapping(bytes32 consensusKey => uint256 position) private _validatorPositions; // index + 1
    mapping(bytes20 nodeId => bool) private _nodeInUse;
    mapping(uint256 memberId => uint256 power) private _memberPower;

    constructor(
        MemberInit[] memory charter,
        uint256 threshold_,
        uint256 proposalLifetime_,
        ValidatorInit[] memory validators_
    ) {
        if (proposalLifetime_ == 0 || proposalLifetime_ > type(uint32).max) {
            revert ConsortiumInvalidLifetime(proposalLifetime_);
        }
        _proposalLifetime = proposalLifetime_;
        for (uint256 i = 0; i < charter.length; ++i) {
            _addMember(charter[i].name, charter[i].key, charter[i].roles);
        }
        _setThreshold(threshold_);
        for (uint256 i = 0; i < validators_.length; ++i) {
            ValidatorInit memory v = validators_[i];
            // Genesis validators are CometBFT's genesis set as given: no proof of possession, and
            // no minimum count or concentration rule (a one-validator benchmark network is valid).
            _checkNewValidator(v.memberId, v.consensusKey, v.power, v.nodeId);
            _storeValidator(v.memberId, v.consensusKey, v.power, v.nodeId);
            emit GenesisValidator(v.consensusKey, v.memberId, v.power, v.nodeId);
        }
    }

    // ---------------------------------------------------------------- governance

    /// @inheritdoc IConsortium
    function propose(ActionKind kind, bytes calldata args) external returns (uint256 proposalId) {
        uint256 memberId = _checkGovernor(msg.sender);
        _dispatch(0, kind, args, false);
        proposalId = _createProposal(kind, args, memberId);
        if (_recordApproval(proposalId, memberId) >= _threshold) _execute(proposalId);
    }

    /// @inheritdoc IConsortium
    function approve(uint256 proposalId) external {
        uint256 memberId = _checkGovernor(msg.sender);
        _checkOpen(proposalId);
        if (_approvals[proposalId].get(memberId)) revert ConsortiumAlreadyApproved(proposalId, memberId);
        if (_recordApproval(proposalId, memberId) >= _threshold) _execute(proposalId);
    }

    /// @inheritdoc IConsortium
    function execute(uint256 proposalId) external {
        _checkGovernor(msg.sender);
        _checkOpen(proposalId);
        uint256 approvals = _proposals[proposalId].approvals;
        uint256 threshold_ = _threshold;
        if (approvals < threshold_) revert ConsortiumBelowThreshold(proposalId, approvals, threshold_);
        _execute(proposalId);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IConsortium
    function member(uint256 memberId) external view returns (Member memory) {
        MemberRecord storage m = _memberRecord(memberId);
        return Member({name: m.name, key: m.key, roles: m.roles, active: m.active});
    }

    /// @inheritdoc IConsortium
    function memberIdOf(address key) external view returns (uint256) {
        return _memberIds[key];
    }

    /// @inheritdoc IConsortium
    function memberCount() external view returns (uint256) {
        return _memberCount;
    }

    /// @inheritdoc IConsortium
    function governorCount() external view returns (uint256) {
        return _governorCount;
    }

    /// @inheritdoc IConsortium
    function threshold() external view returns (uint256) {
        return _threshold;
    }

    /// @inheritdoc IConsortium
    function proposalLifetime() external view returns (uint256) {
        return _proposalLifetime;
    }

    /// @inheritdoc IConsortium
    function hasRole(Role role, address account) public view returns (bool) {
        MemberRecord storage m = _members[_memberIds[account]];
        return m.active && m.roles & (1 << uint8(role)) != 0;
    }

    /// @inheritdoc IConsortium
    function isActiveMember(address account) public view returns (bool) {
        return _members[_memberIds[account]].active;
    }

    /// @inheritdoc IConsortium
    function parameter(bytes32 name) external view returns (uint256) {
        return _parameters[name];
    }

    /// @inheritdoc IConsortium
    function proposal(uint256 proposalId) external view returns (Proposal memory) {
        if (proposalId == 0 || proposalId > _proposalCount) revert ConsortiumUnknownProposal(proposalId);
        ProposalRecord storage p = _proposals[proposalId];
        return Proposal({
            kind: p.kind,
            args: p.args,
            proposerId: p.proposerId,
            approvals: p.approvals,
            deadline: p.deadline,
            executed: p.executed
        });
    }

    /// @inheritdoc IConsortium
    function proposalCount() external view returns (uint256) {
        return _proposalCount;
    }

    /// @inheritdoc IConsortium
    function hasApproved(uint256 proposalId, uint256 memberId) external view returns (bool) {
        return _approvals[proposalId].get(memberId);
    }

    /// @inheritdoc IConsortium
    function validators() external view returns (Validator[] memory set) {
        uint256 n = _validatorKeys.length;
        set = new Validator[](n);
        for (uint256 i = 0; i < n; ++i) {
            bytes32 key = _validatorKeys[i];
            ValidatorRecord storage v = _validators[key];
            set[i] = Validator({
                consensusKey: key, memberId: v.memberId, power: v.power, nodeId: v.nodeId, sinceBlock: v.sinceBlock
            });
        }
    }

    /// @inheritdoc IConsortium
    function validatorCount() external view returns (uint256) {
        return _validatorKeys.length;
    }

    /// @inheritdoc IConsortium
    function isConsortiumNode(bytes20 nodeId) external view returns (bool) {
        return _nodeInUse[nodeId];
    }

    /// @inheritdoc IConsortium
    function transactionAllowed(address sender, address target, uint256, uint256, uint256, bytes calldata)
        external
        view
        returns (bool)
    {
        return target == address(0) ? hasRole(Role.Operator, sender) : isActiveMember(sender);
    }

    // ---------------------------------------------------------------- checks

    /// @dev Reverts unless `account` is an active governor's current key; returns its member id.
    function _checkGovernor(address account) internal view returns (uint256 memberId) {
        if (!hasRole(Role.Governor, account)) revert ConsortiumUnauthorized(account, Role.Governor);
        return _memberIds[account];
    }

    /// @dev Reverts unless `proposalId` exists, is not executed and still accepts approvals.
    function _checkOpen(uint256 proposalId) internal view {
        if (proposalId == 0 || proposalId > _proposalCount) revert ConsortiumUnknownProposal(proposalId);
        ProposalRecord storage p = _proposals[proposalId];
        if (p.executed) revert ConsortiumProposalAlreadyExecuted(proposalId);
        if (block.timestamp > p.deadline) revert ConsortiumProposalExpired(proposalId, p.deadline);
    }

    /// @dev Returns the record of member `memberId`, which must exist.
    function _memberRecord(uint256 memberId) internal view returns (MemberRecord storage) {
        if (memberId == 0 || memberId > _memberCount) revert ConsortiumUnknownMember(memberId);
        return _members[memberId];
    }

    /// @dev Returns the record of member `memberId`, which must exist and be active.
    function _activeMember(uint256 memberId) internal view returns (MemberRecord storage m) {
        m = _memberRecord(memberId);
        if (!m.active) revert ConsortiumMemberInactive(memberId);
    }

    /// @dev Reverts unless `key` can become a member key.
    function _checkFreeKey(address key) internal view {
        if (key == address(0)) revert ConsortiumZeroKey();
        uint256 holder = _memberIds[key];
        if (holder != 0) revert ConsortiumKeyInUse(key, holder);
    }

    /// @dev Reverts unless a member `name` with `key` and `roles` can be added.
    function _checkNewMember(string memory name, address key, uint256 roles) internal view {
        if (bytes(name).length == 0) revert ConsortiumEmptyName();
        _checkFreeKey(key);
        if (roles & ~_ALL_ROLES != 0) revert ConsortiumInvalidRoles(roles);
    }

    /// @dev Reverts unless member `memberId` can be removed with the threshold still reachable.
    function _checkRemoval(uint256 memberId) internal view returns (MemberRecord storage m) {
        m = _activeMember(memberId);
        if (m.roles & _GOVERNOR != 0) _checkThreshold(_threshold, _governorCount - 1);
        uint256 own = 0;
        uint256 n = _validatorKeys.length;
        for (uint256 i = 0; i < n; ++i) {
            if (_validators[_validatorKeys[i]].memberId == memberId) ++own;
        }
        if (own != 0 && n - own < _MIN_VALIDATORS) revert ConsortiumTooFewValidators(n - own);
    }

    /// @dev Reverts unless validator `key` of `memberId` with `power` on `nodeId` can be registered.
    function _checkNewValidator(uint256 memberId, bytes32 key, uint64 power, bytes20 nodeId) internal view {
        if (key == bytes32(0)) revert ConsortiumZeroValidatorKey();
        _activeMember(memberId);
        _checkPower(power);
        if (_validatorPositions[key] != 0) revert ConsortiumValidatorKeyInUse(key);
        if (_nodeInUse[nodeId]) revert ConsortiumNodeIdInUse(nodeId);
    }

    function _checkPower(uint64 power) internal pure {
        if (power == 0 || power > _MAX_POWER) revert ConsortiumInvalidPower(power);
    }

    /// @dev Returns the record of registered validator `key`.
    function _validator(bytes32 key) internal view returns (ValidatorRecord storage) {
        if (_validatorPositions[key] == 0) revert ConsortiumUnknownValidator(key);
        return _validators[key];
    }

    /// @dev Reverts if, with member `changed` holding `changedPower` and `total` in all, any
    /// member would hold 1/3 or more of the voting power; names the largest holder.
    function _checkConcentration(uint256 changed, uint256 changedPower, uint256 total) internal view {
        uint256 top;
        uint256 topPower;
        uint256 members = _memberCount;
        for (uint256 id = 1; id <= members; ++id) {
            uint256 p = id == changed ? changedPower : _memberPower[id];
            if (p > topPower) (top, topPower) = (id, p);
        }
        if (topPower * 3 >= total) revert ConsortiumPowerConcentration(top, topPower, total);
    }

    /// @dev Reverts unless `proof` is `key`'s ed25519 signature of the proof-of-possession message
    /// for `memberId`; on a chain without the precompile the call returns nothing, which fails.
    function _checkPossession(uint256 memberId, bytes32 key, bytes memory proof) internal view {
        bytes32 message = keccak256(abi.encode("coledger/validator-pop/v1", block.chainid, address(this), memberId, key));
        bool valid = false;
        if (proof.length == 64) {
            (bool ok, bytes memory out) = _ED25519.staticcall(abi.encodePacked(key, proof, message));
            valid = ok && out.length == 32 && uint256(bytes32(out)) == 1;
        }
        if (!valid) revert ConsortiumInvalidProofOfPossession(key);
    }

    /// @dev Reverts unless member `memberId` can be granted (`grant`) or lose `role`.
    function _checkRoleChange(uint256 memberId, Role role, bool grant)
        internal
        view
        returns (MemberRecord storage m, uint8 bit)
    {
        m = _activeMember(memberId);
        bit = uint8(1 << uint8(role));
        bool held = m.roles & bit != 0;
        if (grant && held) revert ConsortiumRoleAlreadyGranted(memberId, role);
        if (!grant && !held) revert ConsortiumRoleNotGranted(memberId, role);
        if (!grant && role == Role.Governor) _checkThreshold(_threshold, _governorCount - 1);
    }

    /// @dev Reverts unless member `memberId` can rotate to `newKey`.
    function _checkRotation(uint256 memberId, address newKey) internal view returns (MemberRecord storage m) {
        m = _activeMember(memberId);
        _checkFreeKey(newKey);
    }

    /// @dev Reverts unless a threshold of `threshold_` is reachable by `governors` governors.
    function _checkThreshold(uint256 threshold_, uint256 governors) internal pure {
        if (threshold_ == 0 || threshold_ > governors) revert ConsortiumInvalidThreshold(threshold_, governors);
    }

    // ---------------------------------------------------------------- proposals

    function _createProposal(ActionKind kind, bytes calldata args, uint256 proposerId)
        internal
        returns (uint256 proposalId)
    {
        proposalId = ++_proposalCount;
        // Cannot truncate: the lifetime is below 2^32 and block timestamps are far below 2^63.
        uint64 deadline = uint64(block.timestamp + _proposalLifetime);
        // Cannot truncate: member ids are assigned one by one from 1.
        _proposals[proposalId] = ProposalRecord({
            kind: kind, deadline: deadline, executed: false, approvals: 0, proposerId: uint64(proposerId), args: args
        });
        emit ProposalCreated(proposalId, proposerId, kind, args, deadline);
    }

    /// @dev Counts the approval of `memberId` for `proposalId`; returns the new approval count.
    function _recordApproval(uint256 proposalId, uint256 memberId) internal returns (uint256 approvals) {
        _approvals[proposalId].set(memberId);
        approvals = ++_proposals[proposalId].approvals;
        emit ProposalApproved(proposalId, memberId, approvals);
    }

    /// @dev Marks `proposalId` executed, then performs its action.
    function _execute(uint256 proposalId) internal {
        ProposalRecord storage p = _proposals[proposalId];
        p.executed = true;
        _dispatch(proposalId, p.kind, p.args, true);
        emit ProposalExecuted(proposalId);
    }

    /// @dev Decodes `args` as the arguments of `kind`, checks them against the current state and,
    /// if `perform`, performs the action (on behalf of `proposalId`).
    function _dispatch(uint256 proposalId, ActionKind kind, bytes memory args, bool perform) internal {
        bool dynamic = kind == ActionKind.AddMember || kind == ActionKind.Call || kind == ActionKind.AddValidator;
        uint256 size = kind == ActionKind.AddMember ? 128 : kind == ActionKind.Call ? 96
            : kind == ActionKind.AddValidator ? 192
            : kind == ActionKind.RemoveMember || kind == ActionKind.SetThreshold || kind == ActionKind.RemoveValidator
                ? 32
                : 64;
        if (dynamic ? args.length < size : args.length != size) revert ConsortiumMalformedArgs(kind, args.length);

        if (kind == ActionKind.AddMember) {
            (string memory name, address key, uint256 roles) = abi.decode(args, (string, address, uint256));
            if (perform) _addMember(name, key, roles);
            else _checkNewMember(name, key, roles);
        } else if (kind == ActionKind.RemoveMember) {
            uint256 memberId = abi.decode(args, (uint256));
            if (perform) _removeMember(memberId);
            else _checkRemoval(memberId);
        } else if (kind == ActionKind.GrantRole || kind == ActionKind.RevokeRole) {
            (uint256 memberId, uint8 role) = abi.decode(args, (uint256, uint8));
            bool grant = kind == ActionKind.GrantRole;
            if (role > uint8(type(Role).max)) revert ConsortiumInvalidRole(role);
            if (perform) _setRole(memberId, Role(role), grant);
            else _checkRoleChange(memberId, Role(role), grant);
        } else if (kind == ActionKind.RotateKey) {
            (uint256 memberId, address newKey) = abi.decode(args, (uint256, address));
            if (perform) _rotateKey(memberId, newKey);
            else _checkRotation(memberId, newKey);
        } else if (kind == ActionKind.SetThreshold) {
            uint256 newThreshold = abi.decode(args, (uint256));
            if (perform) _setThreshold(newThreshold);
            else _checkThreshold(newThreshold, _governorCount);
        } else if (kind == ActionKind.SetParameter) {
            (bytes32 name, uint256 value) = abi.decode(args, (bytes32, uint256));
            if (perform) _setParameter(name, value);
            else if (name == bytes32(0)) revert ConsortiumEmptyName();
        } else if (kind == ActionKind.AddValidator) {
            (uint256 memberId, bytes32 key, uint64 power, bytes20 nodeId, bytes memory proof) =
                abi.decode(args, (uint256, bytes32, uint64, bytes20, bytes));
            _checkAddValidator(memberId, key, power, nodeId, proof);
            if (perform) {
                _storeValidator(memberId, key, power, nodeId);
                emit ValidatorAdded(key, memberId, power, nodeId);
            }
        } else if (kind == ActionKind.RemoveValidator) {
            bytes32 key = abi.decode(args, (bytes32));
            uint256 memberId = _checkRemoveValidator(key);
            if (perform) _dropValidator(key, memberId);
        } else if (kind == ActionKind.SetValidatorPower) {
            (bytes32 key, uint64 power) = abi.decode(args, (bytes32, uint64));
            uint256 memberId = _checkSetPower(key, power);
            if (perform) _setPower(key, memberId, power);
        } else {
            (address target, bytes memory data) = abi.decode(args, (address, bytes));
            if (perform) _governedCall(proposalId, target, data);
            else if (target.code.length == 0) revert ConsortiumCallTargetNotContract(target);
        }
    }

    // ---------------------------------------------------------------- validator checks

    function _checkAddValidator(uint256 memberId, bytes32 key, uint64 power, bytes20 nodeId, bytes memory proof)
        internal
        view
    {
        _checkNewValidator(memberId, key, power, nodeId);
        uint256 total = _totalPower + power;
        _checkConcentration(memberId, _memberPower[memberId] + power, total);
        _checkPossession(memberId, key, proof);
    }

    function _checkRemoveValidator(bytes32 key) internal view returns (uint256 memberId) {
        ValidatorRecord storage v = _validator(key);
        memberId = v.memberId;
        uint256 remaining = _validatorKeys.length - 1;
        if (remaining < _MIN_VALIDATORS) revert ConsortiumTooFewValidators(remaining);
        _checkConcentration(memberId, _memberPower[memberId] - v.power, _totalPower - v.power);
    }

    function _checkSetPower(bytes32 key, uint64 power) internal view returns (uint256 memberId) {
        ValidatorRecord storage v = _validator(key);
        _checkPower(power);
        memberId = v.memberId;
        _checkConcentration(memberId, _memberPower[memberId] - v.power + power, _totalPower - v.power + power);
    }

    // ---------------------------------------------------------------- state writers

    function _storeValidator(uint256 memberId, bytes32 key, uint64 power, bytes20 nodeId) internal {
        _validatorKeys.push(key);
        _validatorPositions[key] = _validatorKeys.length;
        // Cannot truncate: block numbers are far below 2^64.
        _validators[key] =
            ValidatorRecord({memberId: memberId, power: power, nodeId: nodeId, sinceBlock: uint64(block.number)});
        _nodeInUse[nodeId] = true;
        _memberPower[memberId] += power;
        _totalPower += power;
    }

    /// @dev Unregisters validator `key` of `memberId` (swap-and-pop of the key list).
    function _dropValidator(bytes32 key, uint256 memberId) internal {
        ValidatorRecord storage v = _validators[key];
        uint256 power = v.power;
        delete _nodeInUse[v.nodeId];
        _memberPower[memberId] -= power;
        _totalPower -= power;
        uint256 position = _validatorPositions[key];
        bytes32 last = _validatorKeys[_validatorKeys.length - 1];
        _validatorKeys[position - 1] = last;
        _validatorPositions[last] = position;
        _validatorKeys.pop();
        delete _validatorPositions[key];
        delete _validators[key];
        emit ValidatorRemoved(key, memberId);
    }

    function _setPower(bytes32 key, uint256 memberId, uint64 power) internal {
        ValidatorRecord storage v = _validators[key];
        _memberPower[memberId] = _memberPower[memberId] - v.power + power;
        _totalPower = _totalPower - v.power + power;
        v.power = power;
        emit ValidatorPowerChanged(key, memberId, power);
    }

    function _addMember(string memory name, address key, uint256 roles) internal {
        _checkNewMember(name, key, roles);
        uint256 memberId = ++_memberCount;
        // Cannot truncate: `roles` only uses the seven defined bits (checked above).
        _members[memberId] = MemberRecord({key: key, roles: uint8(roles), active: true, name: name});
        _memberIds[key] = memberId;
        if (roles & _GOVERNOR != 0) ++_governorCount;
        emit MemberAdded(memberId, key, name, roles);
    }

    function _removeMember(uint256 memberId) internal {
        MemberRecord storage m = _checkRemoval(memberId);
        if (m.roles & _GOVERNOR != 0) --_governorCount;
        m.active = false;
        address key = m.key;
        delete _memberIds[key];
        // Backwards, since a removal moves the last key into the freed position.
        for (uint256 i = _validatorKeys.length; i > 0; --i) {
            bytes32 vkey = _validatorKeys[i - 1];
            if (_validators[vkey].memberId == memberId) _dropValidator(vkey, memberId);
        }
        emit MemberRemoved(memberId, key);
    }

    function _setRole(uint256 memberId, Role role, bool grant) internal {
        (MemberRecord storage m, uint8 bit) = _checkRoleChange(memberId, role, grant);
        if (grant) {
            m.roles |= bit;
            if (role == Role.Governor) ++_governorCount;
            emit RoleGranted(memberId, role);
        } else {
            m.roles &= ~bit;
            if (role == Role.Governor) --_governorCount;
            emit RoleRevoked(memberId, role);
        }
    }

    function _rotateKey(uint256 memberId, address newKey) internal {
        MemberRecord storage m = _checkRotation(memberId, newKey);
        address oldKey = m.key;
        delete _memberIds[oldKey];
        _memberIds[newKey] = memberId;
        m.key = newKey;
        emit KeyRotated(memberId, oldKey, newKey);
    }

    function _setThreshold(uint256 newThreshold) internal {
        _checkThreshold(newThreshold, _governorCount);
        emit ThresholdChanged(_threshold, newThreshold);
        _threshold = newThreshold;
    }

    function _setParameter(bytes32 name, uint256 value) internal {
        if (name == bytes32(0)) revert ConsortiumEmptyName();
        emit ParameterSet(name, _parameters[name], value);
        _parameters[name] = value;
    }

    function _governedCall(uint256 proposalId, address target, bytes memory data) internal {
        if (target.code.length == 0) revert ConsortiumCallTargetNotContract(target);
        (bool success, bytes memory reason) = target.call(data);
        if (!success) revert ConsortiumCallFailed(target, reason);
        emit GovernedCallExecuted(proposalId, target, data);
    }
}
