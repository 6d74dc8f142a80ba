// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {LendingMath} from "../libraries/LendingMath.sol";

/**
 * @title LendingMathHarness
 * @notice Test-only external wrapper of {LendingMath}, so the Python mirror can be cross-checked by
 * eth_call (results and revert errors) and its gas measured. Holds no state; never deployed in
 * production.
 */
contract LendingMathHarness {
    function split(uint256 amount, uint256[] memory weights) external pure returns (uint256[] memory) {
        return LendingMath.split(amount, weights);
    }

    function splitBp(uint256 amount, uint16[] memory sharesBp) external pure returns (uint256[] memory) {
        return LendingMath.splitBp(amount, sharesBp);
    }

    function periodInterest(uint256 balance, uint256 annualRateBp) external pure returns (uint256) {
        return LendingMath.periodInterest(balance, annualRateBp);
    }

    function annuityPayment(uint256 principal, uint256 annualRateBp, uint256 n) external pure returns (uint256) {
        return LendingMath.annuityPayment(principal, annualRateBp, n);
    }

    function scheduleRow(uint256 principal, uint256 annualRateBp, uint256 n, uint256 i)
        external
        pure
        returns (uint256 principalPart, uint256 interestPart)
    {
        return LendingMath.scheduleRow(principal, annualRateBp, n, i);
    }

    function cumulative(uint256 principal, uint256 annualRateBp, uint256 n, uint256 k)
        external
        pure
        returns (uint256 principalThroughK, uint256 interestThroughK)
    {
        return LendingMath.cumulative(principal, annualRateBp, n, k);
    }

    function schedule(uint256 principal, uint256 annualRateBp, uint256 n)
        external
        pure
        returns (uint256[] memory principals, uint256[] memory interests)
    {
        return LendingMath.schedule(principal, annualRateBp, n);
    }

    function penalty(uint256 overduePrincipal, uint256 annualRateBp, uint256 surchargeBp, uint256 elapsedSeconds)
        external
        pure
        returns (uint256)
    {
        return LendingMath.penalty(overduePrincipal, annualRateBp, surchargeBp, elapsedSeconds);
    }

    function allocate(uint256 amount, uint256 penaltyDue, uint256 interestDue, uint256 principalDue)
        external
        pure
        returns (uint256 toPenalty, uint256 toInterest, uint256 toPrincipal, uint256 excess)
    {
        return LendingMath.allocate(amount, penaltyDue, interestDue, principalDue);
    }

    function daysPastDue(uint256 oldestUnpaidDueTime, uint256 nowTime) external pure returns (uint256) {
        return LendingMath.daysPastDue(oldestUnpaidDueTime, nowTime);
    }

    function classify(uint256 dpd, uint256[4] memory thresholds) external pure returns (uint8) {
        return LendingMath.classify(dpd, thresholds);
    }

    function defaultThresholds() external pure returns (uint256[4] memory) {
        return LendingMath.defaultThresholds();
    }
}
