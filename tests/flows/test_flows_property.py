"""Property test: the FundFlows contract and the Python reference model (client.flow_rules) agree
on verdicts, fired rules, lineage, balances, reservations, holds, closed accounts and per-loan
totals over random sequences of syncs, batches (some malformed), time advances, verifications,
hold releases, account drains, closings and reopenings (flows and syncs on a closed account are
refused)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from client.errors import ContractRevert
from client.flow_rules import Action, FlowInput, FlowKind, FlowRuleError, RuleSet
from tests.conftest import ChainHandle
from tests.flows._helpers import Env, Keys, borrower, deploy_env, make_keys

ACTIONS = st.sampled_from([Action.ALLOW] * 3 + [Action.FLAG] * 3 + [Action.VERIFY, Action.HOLD])
PRODUCTS = (1, 2)
STATS: list[tuple[int, int, int]] = []
EVENTS: list[str] = []  # what the non-flow rules did (closings, refused or not; refused batches)


@st.composite
def rule_sets(draw: Any) -> RuleSet:
    return RuleSet(
        p2p_single_max=draw(st.integers(0, 20_000)),
        p2p_single_action=draw(ACTIONS),
        p2p_max_count=draw(st.integers(0, 4)),
        p2p_window=draw(st.sampled_from([0, 60, 3_600, 86_400])),
        p2p_count_action=draw(ACTIONS),
        cash_single_max=draw(st.integers(0, 300_000)),
        cash_single_action=draw(ACTIONS),
        cash_max_share_bp=draw(st.integers(0, 10_000)),
        cash_share_action=draw(ACTIONS),
        off_platform_max_share_bp=draw(st.integers(0, 10_000)),
        off_platform_action=draw(ACTIONS),
        prohibited_category_action=draw(ACTIONS),
        debt_rolling_days=draw(st.integers(0, 30)),
        debt_rolling_action=draw(ACTIONS),
        velocity_window=draw(st.sampled_from([0, 600, 86_400])),
        velocity_max_share_bp=draw(st.integers(0, 10_000)),
        velocity_action=draw(ACTIONS),
    )


@st.composite
def flow_specs(draw: Any) -> tuple[int, int, int, int, int, bool]:
    """(account pick, kind, amount in per-mille of what is available, mcc, refund bucket pick,
    toOtherLender); about one flow in 40 is malformed (unknown account or kind, bad category,
    zero or too large an amount) and one in 40 names a closed account if there is one."""
    kind = draw(st.sampled_from(list(FlowKind)))
    mcc = draw(st.sampled_from([5411, 6211, 7995])) if kind == FlowKind.MERCHANT_PAYMENT else 0
    permille = draw(st.one_of(st.integers(1, 60), st.integers(900, 1_000), st.integers(1, 1_000)))
    account = draw(st.integers(0, 7))
    broken = draw(st.integers(0, 40))
    if broken == 1:
        mcc = draw(st.sampled_from([0, 10_000, 7]))
    elif broken == 2:
        permille = draw(st.sampled_from([0, 1_500]))
    elif broken == 3:
        account = 99
    elif broken == 4:
        kind = 6
    elif broken == 5:
        account = 98
    return (account, kind, permille, mcc, draw(st.integers(0, 3)), draw(st.booleans()))


def check_state(env: Env) -> None:
    for account, state in env.model.accounts.items():
        info = env.flows.account(account)
        assert (
            info.balance,
            info.reserved,
            info.funded,
            info.off_platform_spent,
            info.held,
            info.closed,
            info.product_id,
        ) == (
            state.balance,
            state.reserved,
            state.funded,
            state.off_platform_spent,
            state.held,
            state.closed,
            state.product_id,
        )
        assert info.p2p_count == len(state.p2p_times)
        for i, b in enumerate(state.buckets):
            assert env.flows.bucket(account, i)[:3] == (b.loan_id, b.remaining, b.amount)
        assert sum(b.remaining for b in state.buckets) == state.balance
    for loan_id, totals in env.model.loan_spend.items():
        assert env.flows.loan_spend(loan_id) == totals


def test_contract_matches_reference_model(
    chain: ChainHandle, make_account: Callable[..., LocalAccount]
) -> None:
    keys: Keys = make_keys(chain, make_account, "prop")
    stub_address = deploy_env(chain, keys).stub.address

    class FlowMachine(RuleBasedStateMachine):
        env: Env

        @initialize(r1=rule_sets(), r2=rule_sets(), prohibited=st.sampled_from([6211, 7995]))
        def setup(self, r1: RuleSet, r2: RuleSet, prohibited: int) -> None:
            self.env = deploy_env(chain, keys, stub_address)
            self.salt = os.urandom(4)
            self.env.set_rules(1, r1)
            self.env.set_rules(2, r2)
            self.env.prohibit(1, prohibited)
            self.loans: list[int] = []
            for n in range(2):
                self.loans.append(self.env.open_loan(borrower(n, self.salt), 100_000 + 50_000 * n, 1 + n % 2))

        @rule(n=st.integers(0, 2), principal=st.integers(1_000, 400_000), product=st.sampled_from(PRODUCTS))
        def sync(self, n: int, principal: int, product: int) -> None:
            account = borrower(n, self.salt)
            state = self.env.model.accounts.get(account)
            if state is not None and state.closed:
                with pytest.raises(ContractRevert) as err:
                    self.env.open_loan(account, principal, product)
                assert (err.value.name, err.value.args_by_name) == (
                    "FundFlowsAccountClosed", {"account": account})
                return
            self.loans.append(self.env.open_loan(account, principal, product))

        @rule(specs=st.lists(flow_specs(), min_size=1, max_size=8))
        def record(self, specs: list[tuple[int, int, int, int, int, bool]]) -> None:
            model = self.env.model
            accounts = [a for a, s in model.accounts.items() if not s.closed] or list(model.accounts)
            closed = [a for a, s in model.accounts.items() if s.closed] or accounts
            inputs = []
            for acc_i, kind, permille, mcc, loan_pick, other in specs:
                account = {99: borrower(99, self.salt), 98: closed[0]}.get(acc_i) or accounts[acc_i % len(accounts)]
                state = model.accounts.get(account)
                counterparty = b"\x00" * 32
                if kind == FlowKind.REFUND and state is not None:
                    spent = [(b.loan_id, b.amount - b.remaining) for b in state.buckets]
                    loan_id, room = spent[loan_pick % len(spent)]
                    counterparty = loan_id.to_bytes(32, "big") if loan_pick % 2 else b"\x00" * 32
                    if not loan_pick % 2:
                        room = spent[-1][1]
                    amount = max(1, room * permille // 1_000) if permille else 0
                    if room == 0 and permille and permille <= 1_000:  # nothing to refund: spend instead
                        kind, amount = int(FlowKind.MERCHANT_PAYMENT), 1
                        mcc, counterparty = 5411, b"\x00" * 32
                else:
                    available = state.available if state else 1_000
                    if kind == FlowKind.P2P_TRANSFER and permille > 60:
                        permille //= 20
                    amount = max(1, available * permille // 1_000) if permille else 0
                inputs.append(FlowInput(account, kind, amount, mcc, counterparty, other))
            self._record(inputs)

        def _record(self, inputs: list[FlowInput]) -> None:
            env, model = self.env, self.env.model
            try:
                results = env.flows.record_flows(inputs)
            except ContractRevert as exc:
                # The contract judged the batch at the pending block's time (gas estimation);
                # the head's time is the closest the model can get — time 0 would open every
                # velocity window at the wrong moment and change the verdicts.
                head_time = env.now_of(int(env.chain.w3.eth.block_number))
                try:
                    model.record(inputs, head_time)
                except FlowRuleError as expected:
                    assert exc.name == expected.name, (exc, expected)
                    EVENTS.append(f"batch refused: {exc.name}")
                    return
                raise AssertionError(f"the contract refused a batch the model accepts: {exc}") from exc
            now = env.now_of(results[0].block_number)
            outcomes = model.record(inputs, now)
            got = [(r.flow_id, r.verdict, r.rules_fired, r.lineage) for r in results]
            want = [(o.flow_id, o.verdict, o.rules_fired, o.lineage) for o in outcomes]
            assert got == want
            STATS.extend((int(r.verdict), r.rules_fired, len(r.lineage)) for r in results)

        @rule(seconds=st.sampled_from([30, 700, 4_000, 90_000, 15 * 86_400]))
        def advance(self, seconds: int) -> None:
            self.env.chain.increase_time(seconds)

        @precondition(lambda self: bool(self.env.model.pending()))
        @rule(pick=st.integers(0, 10), approved=st.booleans())
        def resolve(self, pick: int, approved: bool) -> None:
            pending = self.env.model.pending()
            flow_id = pending[pick % len(pending)]
            try:
                expected = self.env.model.resolve(flow_id, approved)
            except FlowRuleError as refused:
                with pytest.raises(ContractRevert) as reverted:
                    self.env.lead.resolve_verification(flow_id, b"\x01" * 32, approved)
                assert reverted.value.name == refused.name
                return
            lineage = self.env.lead.resolve_verification(flow_id, b"\x01" * 32, approved)
            assert lineage == expected

        @rule(pick=st.integers(0, 7), drain=st.booleans())
        def close(self, pick: int, drain: bool) -> None:
            """Spend what is available (a repayment of the own loan: judged like any outflow, so it
            may be held or pended), then ask the lead bank to close the account."""
            model = self.env.model
            candidates = [a for a, s in model.accounts.items() if not s.closed]
            if pick == 0 or not candidates:  # now and then, any account (closing twice is refused)
                candidates = list(model.accounts)
            account = candidates[pick % len(candidates)]
            state = model.accounts[account]
            if drain and state.available and not state.closed:
                loan = state.buckets[-1].loan_id.to_bytes(32, "big")
                self._record([FlowInput(account, FlowKind.REPAYMENT, state.available, 0, loan, False)])
            try:
                model.close(account)
            except FlowRuleError as refused:
                with pytest.raises(ContractRevert) as reverted:
                    self.env.lead.close_account(account, b"\x03" * 32)
                assert reverted.value.name == refused.name
                EVENTS.append(f"close refused: {refused.name}")
                return
            self.env.lead.close_account(account, b"\x03" * 32)
            EVENTS.append("closed")

        @precondition(lambda self: any(a.closed for a in self.env.model.accounts.values()))
        @rule()
        def reopen(self) -> None:
            account = next(a for a, s in self.env.model.accounts.items() if s.closed)
            self.env.lead.reopen_account(account, b"\x04" * 32)
            self.env.model.reopen(account)

        @precondition(lambda self: any(a.held for a in self.env.model.accounts.values()))
        @rule()
        def release(self) -> None:
            account = next(a for a, s in self.env.model.accounts.items() if s.held)
            self.env.lead.release_hold(account, b"\x02" * 32)
            self.env.model.release(account)

        @invariant()
        def agree(self) -> None:
            if hasattr(self, "env"):
                check_state(self.env)

    run_state_machine_as_test(
        FlowMachine,
        settings=settings(
            max_examples=int(os.environ.get("FLOWS_EXAMPLES", "10")),
            stateful_step_count=16,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    if os.environ.get("FLOWS_STATS"):
        from collections import Counter

        print(
            "verdicts",
            Counter(v for v, _, _ in STATS),
            "rules",
            Counter(bit for _, f, _ in STATS for bit in range(8) if f >> bit & 1),
            "multi-bucket",
            sum(1 for *_, n in STATS if n > 1),
            Counter(EVENTS),
        )
