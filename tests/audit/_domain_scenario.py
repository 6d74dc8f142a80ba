"""A demo-like chain for the domain replay tests: three institutions and a gateway; a governed
product; three co-lent loans (paid, prepaid, defaulted); virtual-account spending with a VERIFY
approved, one rejected, a HOLD released, a refund to a named loan, a debt-rolling HOLD, a
repayment to another lender after the debt-rolling window, and an account emptied, closed,
reopened and closed again — all through the SDK, as the banks would run it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from client.audit.events import Event, fetch_events
from client.audit.fetch import RpcClient
from client.borrower import borrower_id, national_id_check_char
from client.consortium import Role
from client.flow_rules import Action, FlowInput, FlowKind, RuleSet
from client.flows import FundFlowsClient, deploy_fund_flows
from client.lending import CollectionStep, LendingClient
from client.lending_math import schedule
from client.products import weloan_terms
from client.suite import DEFAULT_BORROWER_EXPOSURE_CAP, deploy_lending
from client.tx import TransactionPipeline
from tests.conftest import ChainHandle

DAY = 86_400
PERIOD = 30 * DAY
K = FlowKind


@dataclass
class Scenario:
    addresses: dict[str, str]
    events: list[Event]
    head: int
    ids: dict[str, int]
    keys: dict[str, LocalAccount]
    exposure_cap: int = DEFAULT_BORROWER_EXPOSURE_CAP


def _borrower(serial: int) -> bytes:
    first17 = f"44010619770101{serial:03d}"
    return borrower_id(first17 + national_id_check_char(first17), bytes(range(3, 35)))


def build(chain: ChainHandle, make_account: Callable[..., LocalAccount]) -> Scenario:
    lead_key = make_account("audit-dom-lead", roles=(Role.LEAD_BANK,))
    pa = make_account("audit-dom-pa", roles=(Role.PARTNER,))
    pb = make_account("audit-dom-pb", roles=(Role.PARTNER,))
    gw = make_account("audit-dom-gw", roles=(Role.GATEWAY,))
    lending, _ = deploy_lending(chain.admission.pipeline, chain.admission.address)  # type: ignore[arg-type]
    ids = {n: chain.admission.member_id_of(k.address) for n, k in
           (("lead", lead_key), ("a", pa), ("b", pb), ("gw", gw))}
    lead_pipe = TransactionPipeline(chain.w3, lead_key)  # one pipeline per key: one nonce cache
    lead = LendingClient(chain.w3, lending, lead_pipe)
    partner_b = LendingClient(chain.w3, lending, TransactionPipeline(chain.w3, pb))
    terms = weloan_terms(ids["lead"], [ids["a"], ids["b"]], annual_rate_bp=1_800)
    chain.admission.propose_call(lending.ProductCatalog, lead.define_product_call(terms))
    product = lead.product_count()

    def draw(who: bytes, amount: int, n: int) -> int:
        line = lead.open_line(product, who, 10_000_000, 3, b"\x11" * 32)
        d = lead.propose_drawdown(line, amount, n)
        signed = {ids["a"]: lead.sign_commitment(pa, d, ids["a"])}
        partner_b.commit(d.drawdown_id)
        lead.disburse(d, [ids["a"], ids["b"]], signed)
        return d.drawdown_id

    good, early, bad = _borrower(1), _borrower(2), _borrower(3)
    loan_good = draw(good, 1_000_001, 5)
    loan_early = draw(early, 2_000_000, 10)
    loan_bad = draw(bad, 3_000_000, 10)

    flows_addr = deploy_fund_flows(chain.admission.pipeline, chain.admission.address, lending.LoanLedger)  # type: ignore[arg-type]
    gateway = FundFlowsClient(chain.w3, flows_addr, TransactionPipeline(chain.w3, gw))
    bank = FundFlowsClient(chain.w3, flows_addr, lead_pipe)
    rules = RuleSet(
        p2p_single_max=500_000, p2p_single_action=Action.VERIFY, p2p_max_count=3, p2p_window=DAY,
        p2p_count_action=Action.FLAG, cash_single_max=300_000, cash_single_action=Action.FLAG,
        cash_max_share_bp=3_000, cash_share_action=Action.VERIFY, off_platform_max_share_bp=2_000,
        off_platform_action=Action.FLAG, prohibited_category_action=Action.HOLD, debt_rolling_days=30,
        debt_rolling_action=Action.HOLD, velocity_window=DAY, velocity_max_share_bp=9_000,
        velocity_action=Action.FLAG)
    chain.admission.propose_call(flows_addr, gateway.set_rules_call(product, rules))
    chain.admission.propose_call(flows_addr, gateway.set_prohibited_category_call(product, 7995, True))
    gateway.sync_drawdown(loan_good)
    bank.sync_drawdown(loan_bad)
    first = gateway.record_flows([
        FlowInput(good, K.MERCHANT_PAYMENT, 120_000, 5411),
        FlowInput(good, K.P2P_TRANSFER, 600_000),  # VERIFY, approved
        FlowInput(bad, K.CASH_WITHDRAWAL, 900_001),  # VERIFY (cash share), rejected
        FlowInput(bad, K.OFF_PLATFORM_PAYMENT, 100_000),
    ])
    bank.resolve_verification(first[1].flow_id, b"\xfa" * 32, True)
    bank.resolve_verification(first[2].flow_id, b"\xfb" * 32, False)
    held = gateway.record_flows([FlowInput(bad, K.MERCHANT_PAYMENT, 10_000, 7995),
                                 FlowInput(bad, K.MERCHANT_PAYMENT, 10, 5411)])  # HOLD, then refused
    assert held[1].verdict == 4
    bank.release_hold(bad, b"\x02" * 32)
    gateway.record_flows([FlowInput(bad, K.MERCHANT_PAYMENT, 10_000, 5411),
                          FlowInput(good, K.REFUND, 20_000, 0, loan_good.to_bytes(32, "big"), False)])
    rolled = gateway.record_flows([FlowInput(bad, K.REPAYMENT, 5_000, 0, b"\x0b" * 32, True)])
    assert (rolled[0].verdict, rolled[0].rules_fired) == (3, 1 << 6)  # debt rolling: HOLD

    rows_good, rows_bad = schedule(1_000_001, 1_800, 5), schedule(3_000_000, 1_800, 10)
    for month in range(1, 8):
        chain.increase_time(PERIOD)
        if month <= 5:
            lead.repay(loan_good, rows_good[month - 1].installment)
        if month == 1:  # 30 days on: no debt rolling any more; velocity flags emptying the account
            (out,) = gateway.record_flows([FlowInput(good, K.REPAYMENT, 300_001, 0, b"\x0c" * 32, True)])
            assert (out.verdict, out.rules_fired) == (1, 1 << 7)
            bank.close_account(good, b"\x0d" * 32)
        if month in (2, 3):
            (bank.reopen_account if month == 2 else bank.close_account)(good, b"\x0e" * 32)
        if month <= 2:
            lead.repay(loan_bad, rows_bad[month - 1].installment)
        if month == 2:
            dues = lead.due_at(loan_early, int(chain.w3.eth.get_block("latest")["timestamp"]))
            lead.repay(loan_early, dues["payoff"])
        lead.classify(loan_bad)
    for step in (CollectionStep.REMINDER, CollectionStep.AUTOMATED_COLLECTION,
                 CollectionStep.OUTSOURCED_RECOVERY, CollectionStep.ARBITRATION):
        lead.record_collection_step(loan_bad, step, b"\x22" * 32)

    addresses = {"Consortium": chain.admission.address, **lending.as_dict(), "FundFlows": flows_addr}
    rpc = RpcClient(chain.url)
    try:
        events, head = fetch_events(rpc, addresses)
    finally:
        rpc.close()
    keys = {"lead": lead_key, "a": pa, "b": pb, "gw": gw}
    return Scenario(addresses, events, head, ids, keys)
