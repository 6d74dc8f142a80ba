// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IConsortium} from "../interfaces/IConsortium.sol";
import {IProductCatalog} from "../interfaces/IProductCatalog.sol";
import {ProductId} from "./LendingTypes.sol";

/**
 * @title ProductCatalog
 * @notice The consortium's co-lending products; see {IProductCatalog}.
 */
contract ProductCatalog is IProductCatalog {
    /// @inheritdoc IProductCatalog
    uint256 public constant MAX_PARTNERS = 8;

    /// @dev Installment counts 1..60: bits 1..60 of the mask.
    uint64 private constant _VALID_COUNTS = uint64(((1 << 61) - 1) & ~uint256(1));
    uint256 private constant _WHOLE_BP = 10_000;

    bytes32 private constant _MAX_RATE_KEY = keccak256("lending.product.maxRateBp");
    bytes32 private constant _MAX_DRAW_CAP_KEY = keccak256("lending.product.maxSingleDrawCap");
    bytes32 private constant _MAX_CEILING_KEY = keccak256("lending.product.maxCeiling");

    /// @dev Storage layout of a product: the first eight fields share one slot, the ceilings a
    /// second, the partner ids a third and the partner shares a fourth.
    struct Record {
        uint32 leadMemberId;
        uint16 annualRateBp;
        uint16 leadShareBp;
        uint16 penaltySurchargeBp;
        uint64 installmentCountsMask;
        uint64 singleDrawCap;
        uint8 partnerCount;
        bool active;
        uint64 ceilingMin;
        uint64 ceilingMax;
        uint32[MAX_PARTNERS] partnerIds;
        uint16[MAX_PARTNERS] partnerSharesBp;
        string name;
    }

    IConsortium private immutable _consortium;

    uint256 private _productCount;
    mapping(ProductId productId => Record) private _products;

    constructor(IConsortium consortium_) {
        _consortium = consortium_;
    }

    // ---------------------------------------------------------------- writes

    /// @inheritdoc IProductCatalog
    function defineProduct(ProductTerms calldata terms) external returns (ProductId productId) {
        bool governed = msg.sender == address(_consortium);
        if (!governed && !_isLead(msg.sender, terms.leadMemberId)) {
            revert ProductCatalogUnauthorized(msg.sender, terms.leadMemberId);
        }
        _checkTerms(terms);
        if (!governed) _checkLeadLimits(terms);
        productId = _store(terms);
        emit ProductDefined(productId, terms.leadMemberId, msg.sender, terms);
    }

    /// @inheritdoc IProductCatalog
    function setProductActive(ProductId productId, bool active) external {
        Record storage r = _record(productId);
        uint32 lead = r.leadMemberId;
        if (msg.sender != address(_consortium) && !_isLead(msg.sender, lead)) {
            revert ProductCatalogUnauthorized(msg.sender, lead);
        }
        r.active = active;
        emit ProductActiveSet(productId, active, msg.sender);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IProductCatalog
    function product(ProductId productId) external view returns (ProductTerms memory terms, bool active) {
        Record storage r = _record(productId);
        uint256 n = r.partnerCount;
        terms.name = r.name;
        terms.annualRateBp = r.annualRateBp;
        terms.leadShareBp = r.leadShareBp;
        terms.penaltySurchargeBp = r.penaltySurchargeBp;
        terms.installmentCountsMask = r.installmentCountsMask;
        terms.singleDrawCap = r.singleDrawCap;
        terms.ceilingMin = r.ceilingMin;
        terms.ceilingMax = r.ceilingMax;
        terms.leadMemberId = r.leadMemberId;
        terms.partnerIds = new uint32[](n);
        terms.partnerSharesBp = new uint16[](n);
        uint32[MAX_PARTNERS] memory ids = r.partnerIds;
        uint16[MAX_PARTNERS] memory shares = r.partnerSharesBp;
        for (uint256 i; i < n; ++i) {
            terms.partnerIds[i] = ids[i];
            terms.partnerSharesBp[i] = shares[i];
        }
        active = r.active;
    }

    /// @inheritdoc IProductCatalog
    function productCount() external view returns (uint256) {
        return _productCount;
    }

    /// @inheritdoc IProductCatalog
    function consortium() external view returns (address) {
        return address(_consortium);
    }

    // ---------------------------------------------------------------- checks

    /// @dev Whether `account` is the current key of member `memberId` and holds LeadBank.
    function _isLead(address account, uint32 memberId) private view returns (bool) {
        return memberId != 0 && _consortium.memberIdOf(account) == memberId
            && _consortium.hasRole(IConsortium.Role.LeadBank, account);
    }

    /// @dev Whether member `memberId` exists, is active and holds `role`.
    function _memberHolds(uint32 memberId, IConsortium.Role role) private view returns (bool) {
        if (memberId == 0 || memberId > _consortium.memberCount()) return false;
        IConsortium.Member memory m = _consortium.member(memberId);
        return m.active && m.roles & (1 << uint8(role)) != 0;
    }

    /// @dev Reverts unless `terms` are within the hard bounds (see {IProductCatalog}).
    function _checkTerms(ProductTerms calldata terms) private view {
        if (bytes(terms.name).length == 0) revert ProductCatalogEmptyName();
        if (terms.ceilingMin > terms.ceilingMax) revert ProductCatalogInvalidCeiling(terms.ceilingMin, terms.ceilingMax);
        if (terms.singleDrawCap == 0 || terms.singleDrawCap > terms.ceilingMax) {
            revert ProductCatalogInvalidDrawCap(terms.singleDrawCap, terms.ceilingMax);
        }
        uint64 mask = terms.installmentCountsMask;
        if (mask == 0 || mask & ~_VALID_COUNTS != 0) revert ProductCatalogInvalidInstallments(mask);

        uint32 lead = terms.leadMemberId;
        if (!_memberHolds(lead, IConsortium.Role.LeadBank)) revert ProductCatalogNotLeadBank(lead);
        if (terms.leadShareBp == 0) revert ProductCatalogZeroShare(lead);
        uint32[] calldata partners = terms.partnerIds;
        uint256 n = partners.length;
        if (n == 0 || n > MAX_PARTNERS) revert ProductCatalogPartnerCount(n, MAX_PARTNERS);
        if (terms.partnerSharesBp.length != n) revert ProductCatalogSharesLength(n, terms.partnerSharesBp.length);
        uint256 total = terms.leadShareBp;
        for (uint256 i; i < n; ++i) {
            uint32 p = partners[i];
            if (p == lead) revert ProductCatalogPartnerIsLead(p);
            for (uint256 j; j < i; ++j) {
                if (partners[j] == p) revert ProductCatalogDuplicatePartner(p);
            }
            if (!_memberHolds(p, IConsortium.Role.Partner)) revert ProductCatalogNotPartner(p);
            uint16 share = terms.partnerSharesBp[i];
            if (share == 0) revert ProductCatalogZeroShare(p);
            total += share;
        }
        if (total != _WHOLE_BP) revert ProductCatalogSharesNotWhole(total);
    }

    /// @dev Reverts unless `terms` are within what governance lets a lead bank define alone.
    function _checkLeadLimits(ProductTerms calldata terms) private view {
        _checkLimit(_MAX_RATE_KEY, terms.annualRateBp);
        _checkLimit(_MAX_DRAW_CAP_KEY, terms.singleDrawCap);
        _checkLimit(_MAX_CEILING_KEY, terms.ceilingMax);
    }

    function _checkLimit(bytes32 key, uint256 value) private view {
        uint256 limit = _consortium.parameter(key);
        if (limit == 0) revert ProductCatalogLeadDefinitionDisabled(key);
        if (value > limit) revert ProductCatalogLimitExceeded(key, value, limit);
    }

    /// @dev Returns the record of product `productId`, which must exist.
    function _record(ProductId productId) private view returns (Record storage) {
        uint256 id = ProductId.unwrap(productId);
        if (id == 0 || id > _productCount) revert ProductCatalogUnknownProduct(productId);
        return _products[productId];
    }

    // ---------------------------------------------------------------- state writers

    function _store(ProductTerms calldata terms) private returns (ProductId productId) {
        // Cannot truncate in practice: 2^32 - 1 products are never defined.
        productId = ProductId.wrap(uint32(++_productCount));
        Record storage r = _products[productId];
        r.leadMemberId = terms.leadMemberId;
        r.annualRateBp = terms.annualRateBp;
        r.leadShareBp = terms.leadShareBp;
        r.penaltySurchargeBp = terms.penaltySurchargeBp;
        r.installmentCountsMask = terms.installmentCountsMask;
        r.singleDrawCap = terms.singleDrawCap;
        // Cannot truncate: at most MAX_PARTNERS (checked).
        r.partnerCount = uint8(terms.partnerIds.length);
        r.active = true;
        r.ceilingMin = terms.ceilingMin;
        r.ceilingMax = terms.ceilingMax;
        for (uint256 i; i < terms.partnerIds.length; ++i) {
            r.partnerIds[i] = terms.partnerIds[i];
            r.partnerSharesBp[i] = terms.partnerSharesBp[i];
        }
        r.name = terms.name;
    }
}
