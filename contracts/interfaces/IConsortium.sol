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
 *
 * Validator registry: the consensus keys (ed25519) of the network's validators, each run by an
 * active member, added, re-weighted or removed only by governance. Adding needs a proof of
 * possession: the key's ed25519 signature of `keccak256(abi.encode("coledger/validator-pop/v1",
 * block.chainid, address(this), memberId, consensusKey))`, checked by the coledger node's
 * precompile at `0x…0E25` (input key(32) || signature(64) || message(32); output the word 1 when
 * valid). A governed change never leaves fewer than 4 validators nor lets one member hold 1/3 or
 * more of the voting power; the genesis validators of the constructor are taken as given.
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
     * SetParameter(bytes32 name, uint256 value); Call(address target, bytes data);
     * AddValidator(uint256 memberId, bytes32 consensusKey, uint64 power, bytes20 nodeId,
     * bytes proofOfPossession); RemoveValidator(bytes32 consensusKey);
     * SetValidatorPower(bytes32 consensusKey, uint64 power).
     */
    enum ActionKind {
        AddMember,
        RemoveMember,
        GrantRole,
        RevokeRole,
        RotateKey,
        SetThreshold,
        SetParameter,
        Call,
        AddValidator,
        RemoveValidator,
        SetValidatorPower
    }

    /// @notice A founding member as listed in the constructor's charter.
    struct MemberInit {
        string name;
        address key;
        uint256 roles;
    }

    /// @notice A genesis validator as listed in the constructor (registered without proof of possession).
    struct ValidatorInit {
        uint256 memberId;
        bytes32 consensusKey;
        uint64 power;
        bytes20 nodeId;
    }

    /**
     * @notice A validator of the consortium network: its ed25519 consensus public key, the member
     * institution that runs it, its voting power, its node's p2p id (the first 20 bytes of the
     * SHA-256 of the node key) and the block at which it was registered.
     */
    struct Validator {
        bytes32 consensusKey;
        uint256 memberId;
        uint64 power;
        bytes20 nodeId;
        uint64 sinceBlock;
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

    /// @notice Genesis validator `consensusKey` of `memberId`, registered by the constructor.
    event GenesisValidator(bytes32 indexed consensusKey, uint256 indexed memberId, uint64 power, bytes20 nodeId);

    /// @notice Governance added validator `consensusKey` of `memberId` with `power`, on node `nodeId`.
    event ValidatorAdded(bytes32 indexed consensusKey, uint256 indexed memberId, uint64 power, bytes20 nodeId);

    /// @notice Validator `consensusKey` of `memberId` now has voting power `power`.
    event ValidatorPowerChanged(bytes32 indexed consensusKey, uint256 indexed memberId, uint64 power);

    /// @notice Validator `consensusKey` of `memberId` left the set (by governance or with its member).
    event ValidatorRemoved(bytes32 indexed consensusKey, uint256 indexed memberId);

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

    /// @dev `key` is already a registered validator's consensus key.
    error ConsortiumValidatorKeyInUse(bytes32 key);

    /// @dev No registered validator has the consensus key `key`.
    error ConsortiumUnknownValidator(bytes32 key);

    /// @dev The zero word cannot be a consensus key.
    error ConsortiumZeroValidatorKey();

    /// @dev `nodeId` is already the node of a registered validator.
    error ConsortiumNodeIdInUse(bytes20 nodeId);

    /// @dev The change would leave `remaining` validators, fewer than the 4 a BFT network needs.
    error ConsortiumTooFewValidators(uint256 remaining);

    /// @dev After the change member `memberId` would hold `memberPower` of `totalPower`: 1/3 or more.
    error ConsortiumPowerConcentration(uint256 memberId, uint256 memberPower, uint256 totalPower);

    /// @dev The proof of possession of `key` is not its ed25519 signature of the expected message.
    error ConsortiumInvalidProofOfPossession(bytes32 key);

    /// @dev A voting power must be in `1..2**32`.
    error ConsortiumInvalidPower(uint64 power);

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

    /// @notice The current validator set, in no particular but stable order between changes.
    function validators() external view returns (Validator[] memory);

    /// @notice The number of current validators.
    function validatorCount() external view returns (uint256);

    /// @notice Whether `nodeId` is the p2p node id of a current validator (CometBFT peer filter).
    function isConsortiumNode(bytes20 nodeId) external view returns (bool);
}
