"""Each invariant broken in the input the checker sees (an altered copy of the clean scenario's
events), and the failure named with its counterexample."""

from __future__ import annotations

import copy
from dataclasses import replace

from client.audit.events import Event
from client.audit.invariants import InvariantResult, check_events
from client.consortium import Role
from tests.audit._domain_scenario import Scenario


def _check(s: Scenario, events: list[Event], cap: int | None = None) -> dict[str, InvariantResult]:
    _, results = check_events(events, s.addresses, s.exposure_cap if cap is None else cap)
    return {r.name: r for r in results}


def _failed(results: dict[str, InvariantResult]) -> set[str]:
    return {n for n, r in results.items() if not r.passed}


def _copy(s: Scenario) -> list[Event]:
    return copy.deepcopy(s.events)


def _index(events: list[Event], name: str, nth: int = 0) -> int:
    return [i for i, e in enumerate(events) if e.name == name][nth]


def test_altered_split_fails_splits_sum_to_amounts(scenario: Scenario) -> None:
    events = _copy(scenario)
    i = _index(events, "DrawdownProposed")
    parts = events[i].args["parts"]
    parts[0]["amount"] += 1
    parts[1]["amount"] -= 1  # still sums to the amount, but is not the largest-remainder split
    results = _check(scenario, events)
    assert _failed(results) == {"splits_sum_to_amounts"}
    ex = results["splits_sum_to_amounts"].counterexamples[0]
    assert ex["drawdown"] == events[i].args["drawdownId"] and ex["parts"] != ex["expected"]


def test_dropped_lender_credit_fails_conservation(scenario: Scenario) -> None:
    events = _copy(scenario)
    i = _index(events, "LenderCredited", 1)
    dropped = events.pop(i)
    results = _check(scenario, events)
    assert "lender_receipts_conserve_payments" in _failed(results)
    ex = results["lender_receipts_conserve_payments"].counterexamples[0]
    assert ex["tx"] == dropped.tx_hash and ex["credited_to_lenders"]["total"] < ex["amount"]


def test_lender_credited_beyond_its_part_fails_no_lender_overpaid(scenario: Scenario) -> None:
    events = _copy(scenario)
    i = _index(events, "LenderCredited")
    e = events[i]
    loan = next(x for x in events if x.name == "LoanOpened" and x.args["loanId"] == e.args["loanId"])
    lent = next(p["amount"] for p in loan.args["parts"] if p["memberId"] == e.args["memberId"])
    e.args["principal"] = lent + 1
    results = _check(scenario, events)
    assert "no_lender_overpaid_principal" in _failed(results)
    ex = results["no_lender_overpaid_principal"].counterexamples[0]
    assert (ex["member"], ex["principal_lent"], ex["principal_repaid"]) == (
        e.args["memberId"],
        lent,
        lent + 1,
    )


def test_cap_below_a_disbursement_fails_exposure_caps(scenario: Scenario) -> None:
    results = _check(scenario, _copy(scenario), cap=2_500_000)
    assert _failed(results) == {"exposure_caps_respected"}
    ex = results["exposure_caps_respected"].counterexamples[0]
    assert ex["problems"] == ["borrower exposure 3000000 > cap 2500000"]


def test_flow_settled_before_release_fails_no_settlement_while_held(scenario: Scenario) -> None:
    events = _copy(scenario)
    released = events.pop(_index(events, "HoldReleased"))
    results = _check(scenario, events)
    assert "no_settlement_while_held" in _failed(results)
    ex = results["no_settlement_while_held"].counterexamples[0]
    assert ex["account"] == released.args["account"] and ex["verdict"] == 0


def test_second_resolution_fails_verifications_resolved_or_open(scenario: Scenario) -> None:
    events = _copy(scenario)
    i = _index(events, "VerificationResolved")
    events.insert(i + 1, replace(copy.deepcopy(events[i]), log_index=events[i].log_index + 1000))
    results = _check(scenario, events)
    assert "verifications_resolved_or_open" in _failed(results)
    ex = results["verifications_resolved_or_open"].counterexamples[0]
    assert ex["flow"] == events[i].args["flowId"] and ex["flow_status"] == "approved"


def test_dropped_lineage_fails_lineage_conserves_flows(scenario: Scenario) -> None:
    events = _copy(scenario)
    dropped = events.pop(_index(events, "FlowLineage"))
    results = _check(scenario, events)
    assert _failed(results) == {"lineage_conserves_flows"}
    ex = results["lineage_conserves_flows"].counterexamples[0]
    assert ex["flow"] == dropped.args["flowId"] and ex["lineage"] == ex["amount"] - dropped.args["amount"]


def test_lead_bank_role_removed_from_timeline_fails_actions_by_role_holders(scenario: Scenario) -> None:
    events = _copy(scenario)
    lead_id = scenario.ids["lead"]
    added = next(e for e in events if e.name == "MemberAdded" and e.args["memberId"] == lead_id)
    added.args["roles"] &= ~(1 << Role.LEAD_BANK)  # the timeline now says: never a lead bank
    results = _check(scenario, events)
    assert "actions_by_role_holders" in _failed(results)
    examples = results["actions_by_role_holders"].counterexamples
    assert {"LineOpened", "Repaid"} <= {x["event"] for x in examples}
    repaid = next(x for x in examples if x["event"] == "Repaid")
    assert repaid["from"] == scenario.keys["lead"].address.lower()
    assert repaid["required_role"] == "LEAD_BANK" and repaid["sender_member"] == lead_id


def test_threshold_above_approvals_fails_governance_threshold_met(scenario: Scenario) -> None:
    events = _copy(scenario)
    events[_index(events, "ThresholdChanged")].args["newThreshold"] = 2
    results = _check(scenario, events)
    assert _failed(results) == {"governance_threshold_met"}
    ex = results["governance_threshold_met"].counterexamples[0]
    assert (ex["approvals_by_governors"], ex["threshold"]) == (1, 2)


def test_change_outside_an_executed_proposal_fails_governance(scenario: Scenario) -> None:
    events = _copy(scenario)
    lead_id = scenario.ids["lead"]
    added = next(e for e in events if e.name == "MemberAdded" and e.args["memberId"] == lead_id)
    events = [e for e in events if not (e.tx_hash == added.tx_hash and e.name == "ProposalExecuted")]
    results = _check(scenario, events)
    assert "governance_threshold_met" in _failed(results)
    ex = results["governance_threshold_met"].counterexamples[0]
    assert ex["change"] == "MemberAdded" and ex["problem"] == "not in an executed proposal"
