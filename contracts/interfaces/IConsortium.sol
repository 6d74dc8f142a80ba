// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/**
 * @title IConsortium
 * @notice Membership, roles, keys and M-of-N governance of the coledger consortium.
 *
 * Members are numbered from 1 in the order they joined; a member keeps its id for ever, while its
 * signing key can be rotated. Each member holds a set of roles, a bitmask with bit
 * `1 << uint8(role)` set for every {Role} it holds. Every change to membership, roles, keys, the
 * approval threshold, governed parameters, or to contracts that trust this one (through a governed
 * {ActionKind.Call}) happens only by a proposal that enough active governors approve.
 *
 * Invariants: a key belongs to at most one member and is never the zero address; a removed member
 * is inactive, its key is freed and it holds no role; `1 <= threshold() <= governorCount()`.
 */
interface IConsortium {
    /// @notice The roles a member can hold; bit `1 << uint8(role)` of a member's role set.
    enum Role {
        LeadBank,
        Partner,
        Arbitrator,
        Auditor,
        Governor,
        Operator,
        Gateway
    }

    /**
     * @notice What a proposal does when executed, with the `abi.encode`d arguments it carries:
     * AddMember(string name, address key, uint256 roles); RemoveMember(uint256 memberId);
     * GrantRole(uint256 memberId, uint8 role); RevokeRole(uint256 memberId, uint8 role);
     * RotateKey(uint256 memberId, address newKey); SetThreshold(uint256 threshold);
     * SetParameter(bytes32 name, uint256 value); Call(address target, bytes data).
     */
    enum ActionKind {
        AddMember,
        RemoveMember,
        GrantRole,
        RevokeRole,
        RotateKey,
        SetThreshold,
        SetParameter,
        Call
    }

    /// @notice A founding member as listed in the constructor's charter.
    struct MemberInit {
        string name;
        address key;
        uint256 roles;
    }

    /// @notice A member: `key` is its current key (its last key once removed), `roles` a bitmask.
    struct Member {
        string name;
        address key;
        uint256 roles;
        bool active;
    }

    /// @notice A governance proposal; `approvals` counts distinct approving members.
    struct Proposal {
        ActionKind kind;
        bytes args;
        uint256 proposerId;
        uint256 approvals;
        uint64 deadline;
        bool executed;
    }

    /// @notice `memberId` joined with `key`, `name` and the role set `roles`.
    event MemberAdded(uint256 indexed memberId, address indexed key, string name, uint256 roles);

    /// @notice `memberId` was removed; `key` was its key and is free again.
    event MemberRemoved(uint256 indexed memberId, address indexed key);

    /// @notice `memberId` was granted `role`.
    event RoleGranted(uint256 indexed memberId, Role role);

    /// @notice `memberId` lost `role`.
    event RoleRevoked(uint256 indexed memberId, Role role);

    /// @notice `memberId` now signs with `newKey`; `oldKey` lost every right and is free again.
    event KeyRotated(uint256 indexed memberId, address indexed oldKey, address indexed newKey);

    /// @notice The number of approvals a proposal needs changed (from 0 at deployment).
    event ThresholdChanged(uint256 oldThreshold, uint256 newThreshold);

    /// @notice The governed parameter `name` changed from `oldValue` to `newValue`.
    event ParameterSet(bytes32 indexed name, uint256 oldValue, uint256 newValue);

    /// @notice Proposal `proposalId` called `target` with `data`, and the call succeeded.
    event GovernedCallExecuted(uint256 indexed proposalId, address indexed target, bytes data);

    /// @notice Member `proposerId` proposed `kind` with `args`; approvals close after `deadline`.
    event ProposalCreated(
        uint256 indexed proposalId, uint256 indexed proposerId, ActionKind kind, bytes args, uint64 deadline
    );

    /// @notice Member `memberId` approved `proposalId`, which now has `approvals` approvals.
    event ProposalApproved(uint256 indexed proposalId, uint256 indexed memberId, uint256 approvals);

    /// @notice Proposal `proposalId` was executed.
    event ProposalExecuted(uint256 indexed proposalId);

    /// @dev `account` is not the current key of an active member holding `role`.
    error ConsortiumUnauthorized(address account, Role role);

    /// @dev No member has the id `memberId`.
    error ConsortiumUnknownMember(uint256 memberId);

    /// @dev Member `memberId` was removed.
    error ConsortiumMemberInactive(uint256 memberId);

    /// @dev `key` is already the key of member `memberId`.
    error ConsortiumKeyInUse(address key, uint256 memberId);

    /// @dev The zero address cannot be a member key.
    error ConsortiumZeroKey();

    /// @dev A member name or a parameter name is empty.
    error ConsortiumEmptyName();

    /// @dev `roles` sets a bit that is not a defined {Role}.
    error ConsortiumInvalidRoles(uint256 roles);

    /// @dev `role` is not a defined {Role}.
    error ConsortiumInvalidRole(uint256 role);

    /// @dev Member `memberId` already holds `role`.
    error ConsortiumRoleAlreadyGranted(uint256 memberId, Role role);

    /// @dev Member `memberId` does not hold `role`.
    error ConsortiumRoleNotGranted(uint256 memberId, Role role);

    /// @dev `threshold` is outside `1..governors`, the number of active governors it would face.
    error ConsortiumInvalidThreshold(uint256 threshold, uint256 governors);

    /// @dev `lifetime` (seconds) is zero or longer than `type(uint32).max`.
    error ConsortiumInvalidLifetime(uint256 lifetime);

    /// @dev `length` bytes cannot be the `abi.encode`d arguments of `kind`.
    error ConsortiumMalformedArgs(ActionKind kind, uint256 length);

    /// @dev No proposal has the id `proposalId`.
    error ConsortiumUnknownProposal(uint256 proposalId);

    /// @dev Proposal `proposalId` stopped accepting approvals after `deadline`.
    error ConsortiumProposalExpired(uint256 proposalId, uint64 deadline);

    /// @dev Proposal `proposalId` was already executed.
    error ConsortiumProposalAlreadyExecuted(uint256 proposalId);

    /// @dev Member `memberId` already approved `proposalId` (with this or an earlier key).
    error ConsortiumAlreadyApproved(uint256 proposalId, uint256 memberId);

    /// @dev Proposal `proposalId` has `approvals` approvals, fewer than `threshold`.
    error ConsortiumBelowThreshold(uint256 proposalId, uint256 approvals, uint256 threshold);

    /// @dev A governed call to `target` has no contract to run.
    error ConsortiumCallTargetNotContract(address target);

    /// @dev A governed call to `target` reverted with `reason` (its raw revert data).
    error ConsortiumCallFailed(address target, bytes reason);

    /**
     * @notice Proposes `kind` with `args` and counts the caller's approval; executes it at once
     * if that already reaches {threshold}. Arguments are decoded and checked against the current
     * state now, and checked again on execution. The proposal accepts approvals until
     * `block.timestamp + proposalLifetime()` inclusive.
     * @dev Caller must be an active {Role.Governor}. Emits {ProposalCreated}, {ProposalApproved}.
     * @return proposalId The new proposal's id; ids start at 1.
     */
    function propose(ActionKind kind, bytes calldata args) external returns (uint256 proposalId);

    /**
     * @notice Approves `proposalId` and executes it once its approvals reach {threshold}.
     * @dev Caller must be an active {Role.Governor}. Reverts on an unknown, executed or expired
     * proposal, and if the caller's member (by id, whatever its key) already approved it.
     * Emits {ProposalApproved}, and {ProposalExecuted} after the action's own events.
     */
    function approve(uint256 proposalId) external;

    /**
     * @notice Executes `proposalId` whose approvals already reach the current {threshold}, for
     * instance after the threshold was lowered.
     * @dev Caller must be an active {Role.Governor}. Reverts on an unknown, executed or expired
     * proposal, or with {ConsortiumBelowThreshold}. Emits {ProposalExecuted}.
     */
    function execute(uint256 proposalId) external;

    /// @notice Member `memberId`, active or removed. Reverts with {ConsortiumUnknownMember}.
    function member(uint256 memberId) external view returns (Member memory);

    /// @notice The id of the active member whose current key is `key`, or 0.
    function memberIdOf(address key) external view returns (uint256);

    /// @notice The number of member ids ever assigned (removed members included); ids are `1..memberCount()`.
    function memberCount() external view returns (uint256);

    /// @notice The number of active members holding {Role.Governor}.
    function governorCount() external view returns (uint256);

    /// @notice The number of distinct governor approvals that executes a proposal.
    function threshold() external view returns (uint256);

    /// @notice Seconds a proposal accepts approvals after it is created.
    function proposalLifetime() external view returns (uint256);

    /// @notice Whether `account` is the current key of an active member holding `role`.
    function hasRole(Role role, address account) external view returns (bool);

    /// @notice Whether `account` is the current key of an active member.
    function isActiveMember(address account) external view returns (bool);

    /// @notice The governed parameter `name`; 0 if never set.
    function parameter(bytes32 name) external view returns (uint256);

    /// @notice Proposal `proposalId`. Reverts with {ConsortiumUnknownProposal}.
    function proposal(uint256 proposalId) external view returns (Proposal memory);

    /// @notice The number of proposals ever created; ids are `1..proposalCount()`.
    function proposalCount() external view returns (uint256);

    /// @notice Whether member `memberId` approved proposal `proposalId`.
    function hasApproved(uint256 proposalId, uint256 memberId) external view returns (bool);

    /**
     * @notice Node admission: whether `sender` may submit a transaction to `target` (the zero
     * address for a contract creation). True only if `sender` is the current key of an active
     * member and, for a creation, that member holds {Role.Operator}. The remaining arguments are
     * those of the old Besu permissioning hook and are not consulted.
     */
    function transactionAllowed(
        address sender,
        address target,
        uint256 value,
        uint256 gasPrice,
        uint256 gasLimit,
        bytes calldata payload
    ) external view returns (bool);
}
