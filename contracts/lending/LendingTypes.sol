// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/**
 * @title LendingTypes
 * @notice Types shared by the coledger lending contracts (ProductCatalog, CreditLines, LoanLedger).
 * Amounts are integers in fen (1/100 RMB); nothing here carries personal data.
 */

/// @notice Id of a lending product in the ProductCatalog; ids start at 1.
type ProductId is uint32;

/// @notice Id of a credit line in CreditLines; ids start at 1.
type LineId is uint64;

/// @notice Id of a drawdown in CreditLines and of the loan it creates in the LoanLedger: a loan's
/// id is the id of the drawdown that created it. Ids start at 1.
type LoanId is uint64;

/// @notice One lender's share of a loan: consortium member `memberId` funds `amount` fen.
struct LenderPart {
    uint32 memberId;
    uint64 amount;
}

/// @notice The five-category loan classification (normal .. loss).
enum Category {
    Normal,
    SpecialMention,
    Substandard,
    Doubtful,
    Loss
}

/// @notice Life cycle of a loan in the LoanLedger.
enum LoanStatus {
    None,
    Active,
    Closed,
    Defaulted
}

/// @notice The collection ladder a delinquent loan climbs.
enum CollectionStep {
    None,
    Reminder,
    AutomatedCollection,
    OutsourcedRecovery,
    Arbitration
}
