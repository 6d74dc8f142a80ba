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


def test_refund_to_another_loan_than_its_counterparty_fails_lineage_conserves_flows(scenario: Scenario) -> None:
    events = _copy(scenario)
    refund = next(e for e in events if e.name == "FlowRecorded" and e.args["kind"] == 5)
    named = next(e for e in events if e.name == "FlowCounterparty" and e.args["flowId"] == refund.args["flowId"])
    other = next(e.args["loanId"] for e in events if e.name == "DrawdownSynced"
                 and e.args["account"] != refund.args["account"])
    named.args["counterparty"] = other.to_bytes(32, "big")  # names a loan of another account
    results = _check(scenario, events)
    assert _failed(results) == {"lineage_conserves_flows"}
    ex = results["lineage_conserves_flows"].counterexamples[0]
    assert ex["flow"] == refund.args["flowId"] and ex["expected_loan"] is None


def _counterparty_of(events: list[Event], to_other_lender: bool, verdict: int) -> tuple[Event, Event]:
    recorded = next(e for e in events if e.name == "FlowRecorded" and e.args["kind"] == 4
                    and e.args["verdict"] == verdict)
    named = next(e for e in events if e.name == "FlowCounterparty" and e.args["flowId"] == recorded.args["flowId"])
    assert named.args["toOtherLender"] is to_other_lender
    return recorded, named


def test_debt_rolling_fired_without_another_lender_fails_debt_rolling_flagged(scenario: Scenario) -> None:
    events = _copy(scenario)
    recorded, named = _counterparty_of(events, True, 3)  # the debt-rolling HOLD
    named.args["toOtherLender"] = False
    results = _check(scenario, events)
    assert _failed(results) == {"debt_rolling_flagged"}
    ex = results["debt_rolling_flagged"].counterexamples[0]
    assert ex["flow"] == recorded.args["flowId"] and ex["problem"].startswith("fired on a flow")


def test_debt_rolling_silent_on_fresh_money_fails_debt_rolling_flagged(scenario: Scenario) -> None:
    events = _copy(scenario)
    recorded, _ = _counterparty_of(events, True, 1)  # settled 30 days after the drawdown
    synced = next(e for e in events if e.name == "DrawdownSynced" and e.args["account"] == recorded.args["account"])
    synced.args["drawdownTime"] += 10 * 86_400  # as if drawn 20 days before: the rule should fire
    results = _check(scenario, events)
    assert _failed(results) == {"debt_rolling_flagged"}
    ex = results["debt_rolling_flagged"].counterexamples[0]
    assert ex["flow"] == recorded.args["flowId"] and ex["problem"].startswith("rule silent")


def test_flows_on_a_closed_account_and_closing_a_funded_one_fail_closed_accounts_stay_closed(
        scenario: Scenario) -> None:
    events = _copy(scenario)
    reopened = events.pop(_index(events, "AccountReopened"))  # so the second close is of a closed one
    closed = events[_index(events, "AccountClosed")]
    refund = next(e for e in events if e.name == "FlowRecorded" and e.args["kind"] == 5)
    early = replace(copy.deepcopy(refund), name="AccountClosed", sender=closed.sender, args={
        "account": closed.args["account"], "reasonHash": b"\x01" * 32, "memberId": closed.args["memberId"]})
    events.insert(events.index(refund) + 1, early)  # in the refund's transaction: balance 300,001
    results = _check(scenario, events)
    assert _failed(results) == {"closed_accounts_stay_closed"}
    examples = results["closed_accounts_stay_closed"].counterexamples
    assert examples[0]["problems"] == ["balance 300001"]
    assert {x.get("problem") for x in examples[1:]} >= {"flow recorded on a closed account"}
    assert any(x.get("problems") == ["already closed"] for x in examples), (reopened, examples)


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
