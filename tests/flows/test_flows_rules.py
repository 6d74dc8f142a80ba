"""Targeted FundFlows tests: each rule fires its configured action, holds, verification, lineage,
malformed batches (each error with its arguments, nothing changed), roles and governance."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_account.signers.local import LocalAccount

from client.errors import ContractRevert
from client.flow_rules import Action, FlowInput, FlowKind, FlowRuleError, Rule, RuleSet, Verdict
from tests.conftest import ChainHandle
from tests.flows._helpers import Env, Keys, borrower, deploy_env, make_keys

DAY = 86_400
K = FlowKind


@pytest.fixture(scope="module")
def keys(chain: ChainHandle, make_account: Callable[..., LocalAccount]) -> Keys:
    return make_keys(chain, make_account, "rules")


@pytest.fixture()
def env(chain: ChainHandle, keys: Keys) -> Env:
    return deploy_env(chain, keys)


def merchant(account: bytes, amount: int, mcc: int = 5411) -> FlowInput:
    return FlowInput(account, K.MERCHANT_PAYMENT, amount, mcc)


def record_one(env: Env, flow: FlowInput) -> tuple[Verdict, int]:
    (r,) = env.flows.record_flows([flow])
    return r.verdict, r.rules_fired


def bit(rule: Rule) -> int:
    return 1 << rule


@pytest.mark.parametrize("action", [Action.FLAG, Action.VERIFY, Action.HOLD])
def test_each_rule_triggers_its_configured_action(env: Env, action: Action) -> None:
    a = borrower(1, bytes([action]))
    env.set_rules(
        1,
        RuleSet(
            p2p_single_max=5_000,
            p2p_single_action=action,
            p2p_max_count=2,
            p2p_window=DAY,
            p2p_count_action=action,
            cash_single_max=20_000,
            cash_single_action=action,
            cash_max_share_bp=500,
            cash_share_action=action,
            off_platform_max_share_bp=1_000,
            off_platform_action=action,
            prohibited_category_action=action,
            debt_rolling_days=7,
            debt_rolling_action=action,
        ),
    )
    env.prohibit(1, 7995)  # betting / gambling
    env.open_loan(a, 1_000_000)
    cases = [
        (FlowInput(a, K.P2P_TRANSFER, 100), 0),
        (FlowInput(a, K.P2P_TRANSFER, 100), 0),
        (FlowInput(a, K.P2P_TRANSFER, 100), bit(Rule.P2P_COUNT)),  # the third within a day
        (FlowInput(a, K.P2P_TRANSFER, 5_001), bit(Rule.P2P_SINGLE) | bit(Rule.P2P_COUNT)),
        (FlowInput(a, K.CASH_WITHDRAWAL, 20_001), bit(Rule.CASH_SINGLE)),
        (FlowInput(a, K.CASH_WITHDRAWAL, 60_000), bit(Rule.CASH_SINGLE) | bit(Rule.CASH_SHARE)),
        (FlowInput(a, K.OFF_PLATFORM_PAYMENT, 100_001), bit(Rule.OFF_PLATFORM)),
        (merchant(a, 1_000, 7995), bit(Rule.PROHIBITED_CATEGORY)),
        (merchant(a, 1_000, 5411), 0),
        (FlowInput(a, K.REPAYMENT, 1_000, 0, b"\x07" * 32, True), bit(Rule.DEBT_ROLLING)),
        (FlowInput(a, K.REPAYMENT, 1_000, 0, b"\x07" * 32, False), 0),
    ]
    for flow, fired in cases:
        if action == Action.HOLD and env.model.accounts[a].held:
            env.lead.release_hold(a, b"\x05" * 32)
            env.model.release(a)
        (want,) = env.model.record([flow], env.now_of("latest") + 1)
        verdict, got = record_one(env, flow)
        assert (got, verdict) == (fired, Verdict(action) if fired else Verdict.ALLOW), flow
        assert want.rules_fired == fired


def test_velocity_window_fires_above_share_of_balance_at_window_start(env: Env) -> None:
    a = borrower(2)
    env.set_rules(1, RuleSet(velocity_window=DAY, velocity_max_share_bp=5_000, velocity_action=Action.FLAG))
    env.open_loan(a, 100_000)
    assert record_one(env, merchant(a, 30_000)) == (Verdict.ALLOW, 0)
    assert record_one(env, merchant(a, 20_000)) == (Verdict.ALLOW, 0)  # 50,000 = exactly 50%
    assert record_one(env, merchant(a, 1)) == (Verdict.FLAG, bit(Rule.VELOCITY))
    env.chain.increase_time(DAY)  # a new window opens at the balance then (49,999)
    assert record_one(env, merchant(a, 24_999)) == (Verdict.ALLOW, 0)
    info = env.flows.account(a)
    assert (info.velocity_base, info.velocity_outflow) == (49_999, 24_999)


def test_hold_rejects_later_flows_until_the_lead_bank_releases(env: Env) -> None:
    a, b = borrower(3), borrower(4)
    env.set_rules(1, RuleSet(cash_single_max=1_000, cash_single_action=Action.HOLD))
    env.open_loan(a, 50_000)
    env.open_loan(b, 50_000)
    results = env.flows.record_flows(
        [FlowInput(a, K.CASH_WITHDRAWAL, 5_000), merchant(a, 10), merchant(b, 10)]
    )
    assert [r.verdict for r in results] == [Verdict.HOLD, Verdict.REJECTED, Verdict.ALLOW]
    assert env.flows.account(a).held and env.flows.account(a).balance == 50_000
    with pytest.raises(ContractRevert) as err:
        env.client(env.keys.gateway).release_hold(a, b"\x01" * 32)
    assert err.value.name == "FundFlowsUnauthorized"
    with pytest.raises(ContractRevert) as err:
        env.lead.release_hold(b, b"\x01" * 32)
    assert (err.value.name, err.value.args_by_name["account"]) == ("FundFlowsNotHeld", b)
    env.lead.release_hold(a, b"\x09" * 32)
    assert not env.flows.account(a).held
    assert record_one(env, merchant(a, 10)) == (Verdict.ALLOW, 0)
    logs = env.flows.contract.events.HoldReleased().get_logs(from_block=0)
    assert logs[-1]["args"]["reasonHash"] == b"\x09" * 32
    assert logs[-1]["args"]["memberId"] == env.keys.lead_id


def test_pending_flow_of_a_held_account_cannot_be_approved_until_release(env: Env) -> None:
    a = borrower(5)
    env.set_rules(1, RuleSet(p2p_single_max=1_000, p2p_single_action=Action.VERIFY,
                             cash_single_max=1_000, cash_single_action=Action.HOLD))
    env.open_loan(a, 50_000)
    pending, held = env.flows.record_flows(
        [FlowInput(a, K.P2P_TRANSFER, 5_000), FlowInput(a, K.CASH_WITHDRAWAL, 5_000)])
    assert (pending.verdict, held.verdict) == (Verdict.VERIFY, Verdict.HOLD)
    with pytest.raises(ContractRevert) as err:
        env.lead.resolve_verification(pending.flow_id, b"\x01" * 32, True)
    assert (err.value.name, err.value.args_by_name["account"]) == ("FundFlowsAccountHeld", a)
    assert env.flows.account(a).reserved == 5_000  # nothing moved
    env.lead.release_hold(a, b"\x02" * 32)
    assert env.lead.resolve_verification(pending.flow_id, b"\x01" * 32, True)
    assert env.flows.account(a).balance == 45_000 and env.flows.account(a).reserved == 0


def test_verification_reserves_then_settles_or_returns_and_not_pending_is_refused(env: Env) -> None:
    a = borrower(5)
    env.set_rules(1, RuleSet(p2p_single_max=1_000, p2p_single_action=Action.VERIFY))
    loan = env.open_loan(a, 10_000)
    r1, r2 = env.flows.record_flows(
        [FlowInput(a, K.P2P_TRANSFER, 4_000), FlowInput(a, K.P2P_TRANSFER, 3_000)]
    )
    assert (r1.verdict, r2.verdict) == (Verdict.VERIFY, Verdict.VERIFY)
    info = env.flows.account(a)
    assert (info.balance, info.reserved, info.available) == (10_000, 7_000, 3_000)
    with pytest.raises(ContractRevert) as err:
        env.flows.record_flows([merchant(a, 3_001)])
    assert err.value.name == "FundFlowsAmountExceedsAvailable"
    assert err.value.args_by_name == {"index": 0, "account": a, "amount": 3_001, "available": 3_000}
    with pytest.raises(ContractRevert) as err:
        env.flows.resolve_verification(r1.flow_id, b"\x01" * 32, True)  # the gateway is no lead bank
    assert err.value.name == "FundFlowsUnauthorized"
    assert env.lead.resolve_verification(r1.flow_id, b"\xaa" * 32, True) == ((loan, 4_000),)
    assert env.lead.resolve_verification(r2.flow_id, b"\xbb" * 32, False) == ()
    info = env.flows.account(a)
    assert (info.balance, info.reserved) == (6_000, 0)
    assert env.flows.flow(r1.flow_id)["status"] == 2 and env.flows.flow(r2.flow_id)["status"] == 3
    assert env.flows.loan_spend(loan)["p2p"] == 4_000
    for flow_id in (r1.flow_id, r2.flow_id, 999_999):
        with pytest.raises(ContractRevert) as err:
            env.lead.resolve_verification(flow_id, b"\x01" * 32, True)
        assert (err.value.name, err.value.args_by_name) == ("FundFlowsNotPending", {"flowId": flow_id})


def test_lineage_is_fifo_across_drawdowns_and_sums_to_the_flows(env: Env) -> None:
    a = borrower(6)
    l1 = env.open_loan(a, 1_000)
    l2 = env.open_loan(a, 5_000)
    results = env.flows.record_flows(
        [
            merchant(a, 600),
            FlowInput(a, K.CASH_WITHDRAWAL, 700),
            FlowInput(a, K.REPAYMENT, 200),
            FlowInput(a, K.REFUND, 150, 0, l1.to_bytes(32, "big")),
            merchant(a, 150),
        ]
    )
    assert [r.lineage for r in results] == [
        ((l1, 600),),
        ((l1, 400), (l2, 300)),
        ((l2, 200),),
        ((l1, 150),),
        ((l1, 150),),
    ]
    for r in results:
        assert sum(amount for _, amount in r.lineage) == r.amount
    assert env.flows.loan_spend(l1) == {
        "merchant": 750,
        "p2p": 0,
        "cash": 400,
        "offPlatform": 0,
        "repayment": 0,
        "refunded": 150,
    }
    assert env.flows.loan_spend(l2)["cash"] == 300 and env.flows.loan_spend(l2)["repayment"] == 200
    assert env.flows.account(a).balance == 6_000 - 600 - 700 - 200 + 150 - 150


def test_malformed_batches_revert_with_their_arguments_and_change_nothing(env: Env) -> None:
    a = borrower(7)
    loan = env.open_loan(a, 10_000)
    unknown = borrower(8)
    ok = merchant(a, 1)
    cases = [
        ([], "FundFlowsEmptyBatch", {}),
        ([ok] * 501, "FundFlowsBatchTooLarge", {"length": 501, "max": 500}),
        ([ok, merchant(unknown, 5)], "FundFlowsUnknownAccount", {"index": 1, "account": unknown}),
        ([ok, merchant(a, 0)], "FundFlowsZeroAmount", {"index": 1}),
        (
            [ok, merchant(a, 10_000)],
            "FundFlowsAmountExceedsAvailable",
            {"index": 1, "account": a, "amount": 10_000, "available": 9_999},
        ),
        ([FlowInput(a, 6, 1)], "FundFlowsUnknownKind", {"index": 0, "kind": 6}),
        ([merchant(a, 1, 10_000)], "FundFlowsInvalidCategory", {"index": 0, "kind": 0, "mcc": 10_000}),
        ([merchant(a, 1, 0)], "FundFlowsInvalidCategory", {"index": 0, "kind": 0, "mcc": 0}),
        (
            [FlowInput(a, K.CASH_WITHDRAWAL, 1, 5411)],
            "FundFlowsInvalidCategory",
            {"index": 0, "kind": 2, "mcc": 5411},
        ),
        (
            [ok, FlowInput(a, K.REFUND, 2, 0, loan.to_bytes(32, "big"))],
            "FundFlowsRefundExceedsSpent",
            {"index": 1, "loanId": loan, "amount": 2, "spent": 1},
        ),
        (
            [FlowInput(a, K.REFUND, 1, 0, (loan + 1).to_bytes(32, "big"))],
            "FundFlowsRefundUnknownLoan",
            {"index": 0, "account": a, "loanId": loan + 1},
        ),
    ]
    before = (env.flows.account(a), env.flows.flow_count(), env.flows.loan_spend(loan))
    for flows, name, args in cases:
        call = env.flows._call("recordFlows", [f.as_abi() for f in flows])
        with pytest.raises(ContractRevert) as err:
            env.flows.pipeline.transact(call)  # type: ignore[union-attr]
        assert (err.value.name, err.value.args_by_name) == (name, args)
    assert (env.flows.account(a), env.flows.flow_count(), env.flows.loan_spend(loan)) == before


def test_only_gateways_and_the_accounts_lead_bank_record_flows(env: Env) -> None:
    a = borrower(9)
    env.open_loan(a, 10_000)
    with pytest.raises(ContractRevert) as err:
        env.client(env.keys.outsider).record_flows([merchant(a, 1)])
    assert (err.value.name, err.value.args_by_name) == (
        "FundFlowsUnauthorized",
        {"caller": env.keys.outsider.address, "account": b"\x00" * 32},
    )
    with pytest.raises(ContractRevert) as err:
        env.client(env.keys.other_lead).record_flows([merchant(a, 1)])
    assert (err.value.name, err.value.args_by_name) == (
        "FundFlowsUnauthorized",
        {"caller": env.keys.other_lead.address, "account": a},
    )
    assert env.lead.record_flows([merchant(a, 1)])[0].verdict == Verdict.ALLOW


def test_sync_is_idempotent_and_keeps_one_lead_bank(env: Env) -> None:
    a = borrower(10)
    loan = env.open_loan(a, 10_000)
    with pytest.raises(ContractRevert) as err:
        env.flows.sync_drawdown(loan)
    assert (err.value.name, err.value.args_by_name) == ("FundFlowsAlreadySynced", {"loanId": loan})
    with pytest.raises(ContractRevert) as err:
        env.open_loan(a, 10_000, lead_id=env.keys.other_lead_id)
    assert err.value.name == "FundFlowsLeadBankMismatch"
    with pytest.raises(ContractRevert) as err:
        env.flows.sync_drawdown(123_456_789_012)
    assert err.value.name == "LoanLedgerUnknownLoan"
    assert env.flows.account(a).funded == 10_000


def test_rules_change_only_through_governance_and_the_change_is_an_event(env: Env) -> None:
    rules = RuleSet(cash_single_max=7, cash_single_action=Action.FLAG)
    for key in (env.keys.lead, env.keys.gateway):
        with pytest.raises(ContractRevert) as err:
            env.client(key).pipeline.transact(env.flows._call("setRules", 1, rules.as_abi()))  # type: ignore[union-attr]
        assert (err.value.name, err.value.args_by_name) == ("FundFlowsNotGovernance", {"caller": key.address})
    env.set_rules(3, rules)
    assert env.flows.rules(3) == rules
    (event,) = env.flows.contract.events.RulesSet().get_logs(from_block=0)
    assert event["args"]["productId"] == 3
    env.prohibit(3, 6211)
    assert env.flows.contract.functions.isProhibited(3, 6211).call()
    with pytest.raises(ContractRevert) as err:
        env.govern(
            env.flows.call_data(
                "setRules", 3, RuleSet(p2p_max_count=17, p2p_count_action=Action.FLAG).as_abi()
            )
        )
    assert err.value.name in ("FundFlowsInvalidRule", "ConsortiumCallFailed")


def test_sdk_splits_a_long_list_into_batches_that_fit(env: Env) -> None:
    a = borrower(11)
    env.open_loan(a, 1_000_000)
    results = env.flows.record_flows([merchant(a, 1)] * 620)
    assert [r.flow_id for r in results] == list(range(1, 621))
    assert len({r.block_number for r in results}) == 2  # 500 + 120
    assert env.flows.account(a).balance == 1_000_000 - 620


def test_closing_needs_an_empty_unheld_account_and_refuses_flows_and_syncs_until_reopened(env: Env) -> None:
    a, b = borrower(12), borrower(13)
    env.set_rules(1, RuleSet(p2p_single_max=1_000, p2p_single_action=Action.VERIFY,
                             cash_single_max=1_000, cash_single_action=Action.HOLD))
    loan = env.open_loan(a, 10_000)
    env.open_loan(b, 10_000)
    reason = b"\x0c" * 32

    def refused(call: Callable[[], object]) -> tuple[str | None, dict[str, object]]:
        with pytest.raises(ContractRevert) as err:
            call()
        return err.value.name, err.value.args_by_name

    for key, account in ((env.keys.gateway, a), (env.keys.other_lead, a), (env.keys.lead, borrower(14))):
        assert refused(lambda k=key, acc=account: env.client(k).close_account(acc, reason)) == (
            "FundFlowsUnauthorized", {"caller": key.address, "account": account})
    assert refused(lambda: env.lead.close_account(a, reason)) == (
        "FundFlowsAccountNotEmpty", {"account": a, "balance": 10_000})
    spent, pending = env.flows.record_flows([merchant(a, 8_000), FlowInput(a, K.P2P_TRANSFER, 2_000)])
    assert pending.verdict == Verdict.VERIFY
    assert refused(lambda: env.lead.close_account(a, reason)) == (  # the pending 2,000 is still in it
        "FundFlowsAccountNotEmpty", {"account": a, "balance": 2_000})
    env.lead.resolve_verification(pending.flow_id, b"\x01" * 32, False)
    assert record_one(env, FlowInput(a, K.CASH_WITHDRAWAL, 1_500))[0] == Verdict.HOLD
    assert refused(lambda: env.lead.close_account(a, reason)) == ("FundFlowsAccountHeld", {"account": a})
    env.lead.release_hold(a, b"\x02" * 32)
    assert record_one(env, merchant(a, 2_000)) == (Verdict.ALLOW, 0)
    assert refused(lambda: env.lead.close_account(a, b"\x00" * 32)) == ("FundFlowsEmptyHash", {})

    env.lead.close_account(a, reason)
    env.model.record([merchant(a, 8_000), merchant(a, 2_000)], 0)  # the model follows the chain
    env.model.close(a)
    info = env.flows.account(a)
    assert info.closed and not info.held and (info.balance, info.funded) == (0, 10_000)
    (event,) = env.flows.contract.events.AccountClosed().get_logs(from_block=0)
    assert (event["args"]["account"], event["args"]["reasonHash"], event["args"]["memberId"]) == (
        a, reason, env.keys.lead_id)
    assert refused(lambda: env.lead.close_account(a, reason)) == ("FundFlowsAccountClosed", {"account": a})
    # Flows on it (a refund too) are bad input: the whole batch reverts, b's flow included.
    before = (env.flows.account(b), env.flows.flow_count())
    for flows in ([merchant(b, 1), merchant(a, 1)],
                  [merchant(b, 1), FlowInput(a, K.REFUND, 1, 0, loan.to_bytes(32, "big"))]):
        assert refused(lambda fl=flows: env.flows.record_flows(fl)) == (
            "FundFlowsAccountClosed", {"account": a})
        with pytest.raises(FlowRuleError) as model_err:
            env.model.record(flows, 0)
        assert model_err.value.name == "FundFlowsAccountClosed"
    assert (env.flows.account(b), env.flows.flow_count()) == before
    assert refused(lambda: env.open_loan(a, 5_000)) == ("FundFlowsAccountClosed", {"account": a})

    assert refused(lambda: env.lead.reopen_account(b, reason)) == ("FundFlowsAccountNotClosed", {"account": b})
    assert refused(lambda: env.client(env.keys.other_lead).reopen_account(a, reason))[0] == "FundFlowsUnauthorized"
    env.lead.reopen_account(a, b"\x0d" * 32)
    env.model.reopen(a)
    assert not env.flows.account(a).closed
    later = env.open_loan(a, 5_000)
    assert env.flows.record_flows([merchant(a, 100)])[0].lineage == ((later, 100),)
    (event,) = env.flows.contract.events.AccountReopened().get_logs(from_block=0)
    assert event["args"]["reasonHash"] == b"\x0d" * 32
