// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IConsortium} from "../interfaces/IConsortium.sol";
import {IEvidenceRegistry} from "../interfaces/IEvidenceRegistry.sol";

/**
 * @title EvidenceRegistry
 * @notice Anchors of default evidence (single items and Merkle batch roots) and members' reader
 * keys; see {IEvidenceRegistry}.
 */
contract EvidenceRegistry is IEvidenceRegistry {
    uint8 private constant _RECORD_VERSION = 1;
    uint8 private constant _MAX_KIND = 8;
    uint64 private constant _MAX_BATCH_SIZE = 2 ** 32;

    /// @dev Anchor of a hash, an item hash or a batch root: one slot for an item, two for a batch
    /// (`batchId` and `size` stay zero for an item). `submitter` is never zero once anchored.
    struct Anchor {
        address submitter;
        uint64 blockNumber;
        uint64 batchId;
        uint64 size;
    }

    IConsortium private immutable _consortium;

    uint256 private _itemCount;
    uint256 private _batchCount;
    mapping(bytes32 evidenceId => bytes32 itemHash) private _items;
    mapping(bytes32 hash => Anchor) private _anchors;
    mapping(address member => bytes32 key) private _readerKeys;

    constructor(IConsortium consortium_) {
        _consortium = consortium_;
    }

    // ---------------------------------------------------------------- anchoring

    /// @inheritdoc IEvidenceRegistry
    function anchorItem(
        bytes32 evidenceId,
        bytes32 loanId,
        uint8 kind,
        bytes32 sha256Hash,
        bytes32 sm3Hash,
        bytes32 ciphertextSha256,
        bytes32 prev
    ) external returns (bytes32 itemHash) {
        _checkLeadBank();
        if (kind > _MAX_KIND) revert EvidenceUnknownKind(kind);
        if (evidenceId == bytes32(0)) revert EvidenceZeroId();
        if (sha256Hash == bytes32(0) || ciphertextSha256 == bytes32(0)) revert EvidenceZeroHash();
        if (_items[evidenceId] != bytes32(0)) revert EvidenceAlreadyAnchored(evidenceId);
        itemHash = sha256(
            abi.encodePacked(
                uint8(0), _RECORD_VERSION, evidenceId, loanId, kind, sha256Hash, sm3Hash, ciphertextSha256, prev
            )
        );
        // A fresh evidence id gives a fresh item hash (the id is hashed), unless the hash is a root.
        if (_anchors[itemHash].submitter != address(0)) revert EvidenceRootAlreadyAnchored(itemHash);
        _items[evidenceId] = itemHash;
        _anchors[itemHash] = Anchor({submitter: msg.sender, blockNumber: uint64(block.number), batchId: 0, size: 0});
        ++_itemCount;
        emit EvidenceAnchored(
            evidenceId, loanId, kind, itemHash, prev, sha256Hash, sm3Hash, ciphertextSha256, msg.sender
        );
    }

    /// @inheritdoc IEvidenceRegistry
    function anchorBatch(bytes32 root, uint64 size) external returns (uint256 batchId) {
        _checkLeadBank();
        if (size == 0 || size > _MAX_BATCH_SIZE) revert EvidenceBadBatchSize(size);
        if (root == bytes32(0)) revert EvidenceZeroHash();
        Anchor storage a = _anchors[root];
        if (a.submitter != address(0)) revert EvidenceRootAlreadyAnchored(root);
        batchId = ++_batchCount;
        a.submitter = msg.sender;
        a.blockNumber = uint64(block.number);
        a.batchId = uint64(batchId);
        a.size = size;
        emit EvidenceBatchAnchored(batchId, root, size, msg.sender);
    }

    // ---------------------------------------------------------------- reader keys

    /// @inheritdoc IEvidenceRegistry
    function registerReaderKey(bytes32 x25519PublicKey) external {
        if (!_consortium.isActiveMember(msg.sender)) {
            revert EvidenceUnauthorized(msg.sender, type(uint8).max);
        }
        if (x25519PublicKey == bytes32(0)) revert EvidenceZeroKey();
        _readerKeys[msg.sender] = x25519PublicKey;
        emit ReaderKeyRegistered(msg.sender, x25519PublicKey);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IEvidenceRegistry
    function readerKey(address member) external view returns (bytes32) {
        return _readerKeys[member];
    }

    /// @inheritdoc IEvidenceRegistry
    function item(bytes32 evidenceId) external view returns (bytes32 itemHash, uint64 blockNumber, address submitter) {
        itemHash = _items[evidenceId];
        if (itemHash != bytes32(0)) {
            Anchor storage a = _anchors[itemHash];
            (blockNumber, submitter) = (a.blockNumber, a.submitter);
        }
    }

    /// @inheritdoc IEvidenceRegistry
    function batch(bytes32 root)
        external
        view
        returns (uint256 batchId, uint64 size, uint64 blockNumber, address submitter)
    {
        Anchor storage a = _anchors[root];
        if (a.batchId != 0) (batchId, size, blockNumber, submitter) = (a.batchId, a.size, a.blockNumber, a.submitter);
    }

    /// @inheritdoc IEvidenceRegistry
    function itemCount() external view returns (uint256) {
        return _itemCount;
    }

    /// @inheritdoc IEvidenceRegistry
    function batchCount() external view returns (uint256) {
        return _batchCount;
    }

    /// @inheritdoc IEvidenceRegistry
    function consortium() external view returns (address) {
        return address(_consortium);
    }

    // ---------------------------------------------------------------- internals

    function _checkLeadBank() private view {
        if (!_consortium.hasRole(IConsortium.Role.LeadBank, msg.sender)) {
            revert EvidenceUnauthorized(msg.sender, uint8(IConsortium.Role.LeadBank));
        }
    }
}
