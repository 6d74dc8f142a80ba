// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/**
 * @title IEvidenceRegistry
 * @notice Anchors of default evidence: lead banks anchor the hash of each evidence record, one at
 * a time or as the root of an RFC 6962 Merkle batch; members publish the X25519 keys evidence is
 * sealed to. Neither content nor keys to it ever reach the chain.
 *
 * Records. An evidence record is the 194 bytes `abi.encodePacked(uint8 version = 1, evidenceId,
 * loanId, uint8 kind, sha256Hash, sm3Hash, ciphertextSha256, prev)`; its item hash is the RFC 6962
 * leaf hash SHA-256(0x00 || record), which is also the leaf of a batch and the `prev` of the
 * loan's next record. `kind` is 0..8 (loan agreement, disbursement receipt, repayment schedule,
 * repayment record, overdue notice, collection log, fund-flow trace, verification record, other).
 *
 * Not enforced here: the per-loan hash chain (`prev`). A batch cannot afford per-loan storage,
 * so the SDK computes `prev` and the verifier, the API and the auditor check the chain.
 *
 * Invariants: an evidence id is anchored at most once; a hash is anchored at most once, as an
 * item hash or as a batch root (never both); batch ids are `1..batchCount()`.
 */
interface IEvidenceRegistry {
    /// @notice `submitter` anchored the record of `evidenceId`, whose item hash is `itemHash`.
    event EvidenceAnchored(
        bytes32 indexed evidenceId,
        bytes32 indexed loanId,
        uint8 kind,
        bytes32 itemHash,
        bytes32 prev,
        bytes32 sha256Hash,
        bytes32 sm3Hash,
        bytes32 ciphertextSha256,
        address indexed submitter
    );

    /// @notice `submitter` anchored batch `batchId`: a Merkle tree of `size` item hashes with root `root`.
    event EvidenceBatchAnchored(uint256 indexed batchId, bytes32 indexed root, uint64 size, address indexed submitter);

    /// @notice `member` published `key`, the X25519 public key evidence is sealed to for it.
    event ReaderKeyRegistered(address indexed member, bytes32 key);

    /// @dev `account` does not hold `role` (a `IConsortium.Role`); `role` is 255 when the account
    /// is not an active member at all (for {registerReaderKey}, which needs membership only).
    error EvidenceUnauthorized(address account, uint8 role);

    /// @dev `kind` is not an evidence kind (0..8).
    error EvidenceUnknownKind(uint8 kind);

    /// @dev The evidence id is zero.
    error EvidenceZeroId();

    /// @dev A content hash (SHA-256 of the plaintext or of the ciphertext) or a root is zero.
    error EvidenceZeroHash();

    /// @dev `evidenceId` was anchored before.
    error EvidenceAlreadyAnchored(bytes32 evidenceId);

    /// @dev `root` was anchored before, as a batch root or as an item hash.
    error EvidenceRootAlreadyAnchored(bytes32 root);

    /// @dev A batch of `size` items: the size must be 1..2**32.
    error EvidenceBadBatchSize(uint64 size);

    /// @dev The reader key is zero.
    error EvidenceZeroKey();

    /**
     * @notice Anchors one evidence record and returns its item hash.
     * @dev Caller must hold `Role.LeadBank`. Reverts with {EvidenceUnknownKind} if `kind > 8`,
     * {EvidenceZeroId}, {EvidenceZeroHash} if `sha256Hash` or `ciphertextSha256` is zero,
     * {EvidenceAlreadyAnchored} for a known `evidenceId`, {EvidenceRootAlreadyAnchored} if the
     * item hash is a batch root. `loanId`, `sm3Hash` and `prev` may be zero. Emits {EvidenceAnchored}.
     */
    function anchorItem(
        bytes32 evidenceId,
        bytes32 loanId,
        uint8 kind,
        bytes32 sha256Hash,
        bytes32 sm3Hash,
        bytes32 ciphertextSha256,
        bytes32 prev
    ) external returns (bytes32 itemHash);

    /**
     * @notice Anchors the root of a Merkle batch of `size` item hashes. Root and size are stored
     * together: an inclusion proof binds the leaf index and the tree size only through the root
     * the verifier recomputes, so the size must come from here.
     * @dev Caller must hold `Role.LeadBank`. Reverts with {EvidenceBadBatchSize} unless
     * `1 <= size <= 2**32`, {EvidenceZeroHash} for a zero root, {EvidenceRootAlreadyAnchored} if
     * `root` was anchored (as a root or an item hash). Emits {EvidenceBatchAnchored}.
     * @return batchId The new batch's id; ids start at 1.
     */
    function anchorBatch(bytes32 root, uint64 size) external returns (uint256 batchId);

    /**
     * @notice Publishes the caller's X25519 reader key, replacing any earlier one.
     * @dev Caller must be an active member ({EvidenceUnauthorized} with role 255). Reverts with
     * {EvidenceZeroKey}. Emits {ReaderKeyRegistered}.
     */
    function registerReaderKey(bytes32 x25519PublicKey) external;

    /// @notice The reader key `member` last registered, or zero.
    function readerKey(address member) external view returns (bytes32);

    /// @notice The anchor of `evidenceId`: its item hash, block and submitter; zeros if unknown.
    function item(bytes32 evidenceId) external view returns (bytes32 itemHash, uint64 blockNumber, address submitter);

    /// @notice The batch anchored with root `root`; zeros if `root` is not a batch root.
    function batch(bytes32 root)
        external
        view
        returns (uint256 batchId, uint64 size, uint64 blockNumber, address submitter);

    /// @notice The number of items anchored one at a time (batch items are not counted).
    function itemCount() external view returns (uint256);

    /// @notice The number of batches anchored; ids are `1..batchCount()`.
    function batchCount() external view returns (uint256);

    /// @notice The Consortium whose roles this registry checks.
    function consortium() external view returns (address);
}
