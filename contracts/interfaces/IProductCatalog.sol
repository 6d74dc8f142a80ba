// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ProductId} from "../lending/LendingTypes.sol";

/**
 * @title IProductCatalog
 * @notice The co-lending products of the consortium: rate, lead/partner funding shares, penalty
 * surcharge, allowed installment counts, single-draw cap and credit-ceiling range.
 *
 * A product is defined either by the Consortium itself (a governed {IConsortium-ActionKind} Call:
 * any terms within the hard bounds) or by the lead bank it names, within the limits governance
 * sets as Consortium parameters `keccak256("lending.product.maxRateBp")`,
 * `keccak256("lending.product.maxSingleDrawCap")` and `keccak256("lending.product.maxCeiling")`
 * (any of them 0: lead banks may not define products alone). Terms never change once defined;
 * only the active flag does, and an inactive product opens no new credit lines.
 *
 * Hard bounds: non-empty name; 1..{MAX_PARTNERS} distinct partners, each an active Partner member
 * other than the lead; the lead an active LeadBank member; every share non-zero and the lead's
 * plus the partners' shares exactly 10,000 bp; ceilingMin <= ceilingMax; singleDrawCap > 0 and
 * <= ceilingMax; installment counts a non-empty subset of 1..60 (bit n of the mask = n
 * installments); annual rate <= 100,000 bp (which the uint16 type already guarantees: at most
 * 65,535 bp). Amounts are in fen.
 */
interface IProductCatalog {
    /**
     * @notice A product's terms. `installmentCountsMask` has bit n set when n installments are
     * allowed (WeLoan-like {5, 10, 20}: `1<<5 | 1<<10 | 1<<20`). `partnerSharesBp[i]` is the share
     * of `partnerIds[i]`; partners are listed in the order commitments are given.
     */
    struct ProductTerms {
        string name;
        uint16 annualRateBp;
        uint16 leadShareBp;
        uint16 penaltySurchargeBp;
        uint64 installmentCountsMask;
        uint64 singleDrawCap;
        uint64 ceilingMin;
        uint64 ceilingMax;
        uint32 leadMemberId;
        uint32[] partnerIds;
        uint16[] partnerSharesBp;
    }

    /// @notice Product `productId` was defined by `definedBy` (the Consortium or the lead's key).
    event ProductDefined(
        ProductId indexed productId, uint32 indexed leadMemberId, address indexed definedBy, ProductTerms terms
    );

    /// @notice Product `productId` was made active (`active`) or inactive by `by`.
    event ProductActiveSet(ProductId indexed productId, bool active, address indexed by);

    /// @dev `caller` is neither the Consortium nor the current key of lead bank `leadMemberId`.
    error ProductCatalogUnauthorized(address caller, uint32 leadMemberId);

    /// @dev Governance parameter `parameter` is 0, so lead banks may not define products alone.
    error ProductCatalogLeadDefinitionDisabled(bytes32 parameter);

    /// @dev `value` exceeds `limit`, the lead-bank limit set by governance parameter `parameter`.
    error ProductCatalogLimitExceeded(bytes32 parameter, uint256 value, uint256 limit);

    /// @dev The product name is empty.
    error ProductCatalogEmptyName();

    /// @dev `count` partners were given; a product has 1..`max` partners.
    error ProductCatalogPartnerCount(uint256 count, uint256 max);

    /// @dev `partners` partner ids but `shares` partner shares were given.
    error ProductCatalogSharesLength(uint256 partners, uint256 shares);

    /// @dev The share of member `memberId` is 0 bp.
    error ProductCatalogZeroShare(uint32 memberId);

    /// @dev The lead's and the partners' shares sum to `totalBp`, not 10,000.
    error ProductCatalogSharesNotWhole(uint256 totalBp);

    /// @dev Member `memberId` is listed twice as a partner.
    error ProductCatalogDuplicatePartner(uint32 memberId);

    /// @dev The lead `memberId` is also listed as a partner.
    error ProductCatalogPartnerIsLead(uint32 memberId);

    /// @dev `memberId` is not an active member holding Partner.
    error ProductCatalogNotPartner(uint32 memberId);

    /// @dev `memberId` is not an active member holding LeadBank.
    error ProductCatalogNotLeadBank(uint32 memberId);

    /// @dev The credit ceiling range `ceilingMin..ceilingMax` is empty.
    error ProductCatalogInvalidCeiling(uint64 ceilingMin, uint64 ceilingMax);

    /// @dev `singleDrawCap` is 0 or above `ceilingMax`.
    error ProductCatalogInvalidDrawCap(uint64 singleDrawCap, uint64 ceilingMax);

    /// @dev `mask` allows no installment count, or a count outside 1..60.
    error ProductCatalogInvalidInstallments(uint64 mask);

    /// @dev No product has the id `productId`.
    error ProductCatalogUnknownProduct(ProductId productId);

    /**
     * @notice Defines a product with `terms`; it starts active.
     * @dev Caller: the Consortium (governed call), or the current key of `terms.leadMemberId`
     * holding LeadBank, then within the governance limits. Reverts on any hard-bound violation.
     * Emits {ProductDefined}.
     * @return productId The new product's id; ids start at 1.
     */
    function defineProduct(ProductTerms calldata terms) external returns (ProductId productId);

    /**
     * @notice Makes product `productId` active or inactive (an inactive product opens no lines).
     * @dev Caller: the Consortium or the current key of the product's lead (holding LeadBank).
     * Emits {ProductActiveSet}.
     */
    function setProductActive(ProductId productId, bool active) external;

    /// @notice Product `productId` and whether it is active. Reverts with {ProductCatalogUnknownProduct}.
    function product(ProductId productId) external view returns (ProductTerms memory terms, bool active);

    /// @notice The number of products ever defined; ids are `1..productCount()`.
    function productCount() external view returns (uint256);

    /// @notice The most partners a product may have.
    function MAX_PARTNERS() external view returns (uint256);

    /// @notice The Consortium this catalog asks for roles and parameters.
    function consortium() external view returns (address);
}
