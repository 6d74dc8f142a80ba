"""End to end through the SDKs only: a lead bank disburses co-lent loans (LendingClient), FundFlows
pulls the drawdowns from the real LoanLedger, a payment gateway records normal spending and
every kind of misuse, the lead bank verifies and releases, and an alert watcher resumes from its
cursor without repeats."""

from __future__ import annotations

from collections.abc import Callable

from eth_account.signers.local import LocalAccount

from client.borrower import borrower_id, national_id_check_char
from client.consortium import Role
from client.flow_rules import Action, FlowInput, FlowKind, Rule, RuleSet, Verdict
from client.flows import AlertCursor, FundFlowsClient, deploy_fund_flows
from client.lending import LendingClient
from client.lending_math import split_bp
from client.products import weloan_terms
from client.suite import deploy_lending
from client.tx import TransactionPipeline
from tests.conftest import ChainHandle

DAY = 86_400
K = FlowKind


def _borrower(serial: int) -> bytes:
    first17 = f"44010619850101{serial:03d}"
    return borrower_id(first17 + national_id_check_char(first17), bytes(range(2, 34)))


def test_disburse_sync_spend_trigger_every_rule_verify_release(
    chain: ChainHandle, make_account: Callable[..., LocalAccount]
) -> None:
    lead_key = make_account("flows-e2e-lead", roles=(Role.LEAD_BANK,))
    pa = make_account("flows-e2e-pa", roles=(Role.PARTNER,))
    pb = make_account("flows-e2e-pb", roles=(Role.PARTNER,))
    gw = make_account("flows-e2e-gateway", roles=(Role.GATEWAY,))
    addresses, _ = deploy_lending(chain.admission.pipeline, chain.admission.address)  # type: ignore[arg-type]
    ids = {n: chain.admission.member_id_of(k.address) for n, k in (("lead", lead_key), ("a", pa), ("b", pb))}
    lead = LendingClient(chain.w3, addresses, TransactionPipeline(chain.w3, lead_key))
    partner_b = LendingClient(chain.w3, addresses, TransactionPipeline(chain.w3, pb))
    terms = weloan_terms(ids["lead"], [ids["a"], ids["b"]], annual_rate_bp=1_800)
    chain.admission.propose_call(addresses.ProductCatalog, lead.define_product_call(terms))
    product = lead.product_count()

    def draw(who: bytes, amount: int) -> int:
        line = lead.open_line(product, who, 10_000_000, 3, b"\x11" * 32)
        d = lead.propose_drawdown(line, amount, 10)
        signed = {ids["a"]: lead.sign_commitment(pa, d, ids["a"])}
        partner_b.commit(d.drawdown_id)
        lead.disburse(d, [ids["a"], ids["b"]], signed)
        return d.drawdown_id

    alice, bob = _borrower(11), _borrower(12)
    loan_a = draw(alice, 2_000_000)
    loan_b = draw(bob, 1_000_000)
    assert [p for _, p in lead.drawdown(loan_a).parts] == split_bp(2_000_000, [2_000, 4_000, 4_000])

    address = deploy_fund_flows(chain.admission.pipeline, chain.admission.address, addresses.LoanLedger)  # type: ignore[arg-type]
    gateway = FundFlowsClient(chain.w3, address, TransactionPipeline(chain.w3, gw))
    bank = FundFlowsClient(chain.w3, address, TransactionPipeline(chain.w3, lead_key))
    rules = RuleSet(
        p2p_single_max=500_000,
        p2p_single_action=Action.VERIFY,
        p2p_max_count=3,
        p2p_window=DAY,
        p2p_count_action=Action.FLAG,
        cash_single_max=300_000,
        cash_single_action=Action.FLAG,
        cash_max_share_bp=3_000,
        cash_share_action=Action.VERIFY,
        off_platform_max_share_bp=2_000,
        off_platform_action=Action.FLAG,
        prohibited_category_action=Action.HOLD,
        debt_rolling_days=30,
        debt_rolling_action=Action.HOLD,
        velocity_window=DAY,
        velocity_max_share_bp=9_000,
        velocity_action=Action.FLAG,
    )
    chain.admission.propose_call(address, gateway.set_rules_call(product, rules))
    for mcc in (6211, 7995):  # securities brokers, betting
        chain.admission.propose_call(address, gateway.set_prohibited_category_call(product, mcc, True))
    assert gateway.rules(product) == rules

    gateway.sync_drawdown(loan_a)
    bank.sync_drawdown(loan_b)  # any member may pull a drawdown
    assert gateway.account(alice).balance == 2_000_000 == int(lead.loan(loan_a).fields["principal"])
    start = gateway.bucket(alice, 0)[3]

    # Normal spending: groceries, a small transfer, repaying her own loan — all allowed.
    normal = gateway.record_flows(
        [
            FlowInput(alice, K.MERCHANT_PAYMENT, 120_000, 5411),
            FlowInput(alice, K.P2P_TRANSFER, 20_000),
            FlowInput(alice, K.REPAYMENT, 50_000, 0, loan_a.to_bytes(32, "big"), False),
            FlowInput(bob, K.MERCHANT_PAYMENT, 80_000, 5732),
        ]
    )
    assert [r.verdict for r in normal] == [Verdict.ALLOW] * 4
    assert [r.lineage for r in normal[:3]] == [((loan_a, 120_000),), ((loan_a, 20_000),), ((loan_a, 50_000),)]

    # Each rule, in one batch over two accounts.
    misuse = gateway.record_flows(
        [
            FlowInput(alice, K.P2P_TRANSFER, 600_000),  # P2P single -> VERIFY
            FlowInput(alice, K.P2P_TRANSFER, 1_000),  # third P2P today: fine (2 before)
            FlowInput(alice, K.P2P_TRANSFER, 1_000),  # fourth -> P2P count FLAG
            FlowInput(alice, K.CASH_WITHDRAWAL, 310_000),  # cash single FLAG
            FlowInput(alice, K.CASH_WITHDRAWAL, 250_000),  # fine
            FlowInput(bob, K.CASH_WITHDRAWAL, 299_999),  # 30% of 1,000,000 is 300,000: fine
            FlowInput(bob, K.CASH_WITHDRAWAL, 300_001),  # cash share VERIFY (+ single FLAG)
            FlowInput(bob, K.OFF_PLATFORM_PAYMENT, 200_001),  # 20% of funded -> FLAG
        ]
    )
    assert [(r.verdict, r.rules_fired) for r in misuse] == [
        (Verdict.VERIFY, 1 << Rule.P2P_SINGLE),
        (Verdict.ALLOW, 0),
        (Verdict.FLAG, 1 << Rule.P2P_COUNT),
        (Verdict.FLAG, 1 << Rule.CASH_SINGLE),
        (Verdict.ALLOW, 0),
        (Verdict.ALLOW, 0),
        (Verdict.VERIFY, 1 << Rule.CASH_SHARE | 1 << Rule.CASH_SINGLE),
        (Verdict.FLAG, 1 << Rule.OFF_PLATFORM),
    ]
    assert gateway.account(alice).reserved == 600_000 and gateway.account(bob).reserved == 300_001

    # The lead bank verifies: Alice's transfer passes the face check, Bob's withdrawal fails.
    assert bank.resolve_verification(misuse[0].flow_id, b"\xfa" * 32, True) == ((loan_a, 600_000),)
    assert bank.resolve_verification(misuse[6].flow_id, b"\xfb" * 32, False) == ()
    assert (
        gateway.account(bob).reserved == 0
        and gateway.account(bob).balance == 1_000_000 - 80_000 - 299_999 - 200_001
    )

    # Debt rolling within 30 days holds Alice's account; a gambling merchant holds Bob's.
    held = gateway.record_flows(
        [
            FlowInput(alice, K.REPAYMENT, 10_000, 0, b"\x42" * 32, True),
            FlowInput(alice, K.MERCHANT_PAYMENT, 10, 5411),
            FlowInput(bob, K.MERCHANT_PAYMENT, 10_000, 7995),
        ]
    )
    assert [r.verdict for r in held] == [Verdict.HOLD, Verdict.REJECTED, Verdict.HOLD]
    assert held[0].rules_fired == 1 << Rule.DEBT_ROLLING
    bank.release_hold(alice, b"\x01" * 32)
    bank.release_hold(bob, b"\x02" * 32)
    # After D days the same repayment to another lender is no longer debt rolling.
    chain.increase_time(31 * DAY)
    assert int(chain.w3.eth.get_block("latest")["timestamp"]) >= start + 30 * DAY
    later = gateway.record_flows([FlowInput(alice, K.REPAYMENT, 10_000, 0, b"\x42" * 32, True)])
    assert later[0].verdict == Verdict.ALLOW

    # Velocity: more than 90% of the balance out within a day (a fresh window opens a day later).
    chain.increase_time(DAY)
    balance = gateway.account(alice).available
    fast = gateway.record_flows(
        [
            FlowInput(alice, K.MERCHANT_PAYMENT, balance * 9 // 10, 5411),
            FlowInput(alice, K.MERCHANT_PAYMENT, 1, 5411),
        ]
    )
    assert [(r.verdict, r.rules_fired) for r in fast] == [
        (Verdict.ALLOW, 0),
        (Verdict.FLAG, 1 << Rule.VELOCITY),
    ]

    # Lineage: where did loan A's money go, by kind; the totals equal the settled flows.
    spend = gateway.loan_spend(loan_a)
    assert spend["p2p"] == 20_000 + 600_000 + 2_000 and spend["cash"] == 560_000
    assert spend["repayment"] == 60_000 and spend["merchant"] == 120_000 + balance * 9 // 10 + 1
    assert sum(spend.values()) - 2 * spend["refunded"] == 2_000_000 - gateway.account(alice).balance

    # Alerts: a watcher that stopped half way resumes from its cursor without repeats or gaps.
    all_alerts, end = gateway.alerts(AlertCursor())
    assert [a.verdict for a in all_alerts].count(Verdict.HOLD) == 2
    first, cursor = gateway.alerts(AlertCursor(), to_block=all_alerts[3].block_number)
    rest, end2 = gateway.alerts(cursor)
    assert first + rest == all_alerts and end2 == end
    assert gateway.alerts(end)[0] == []
    counts = gateway.verdict_counts(product)
    assert counts["rule"][Rule.DEBT_ROLLING] == 1 and counts["verdict"][Verdict.HOLD] == 2
    assert len(gateway.history(alice)) == 3 + 5 + 2 + 1 + 2
