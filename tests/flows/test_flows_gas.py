"""Gas per flow of `recordFlows` in batches of 1, 10, 100 and 500 (the issue's target: a batch of
100 under 15,000 gas per flow, amortized, the transaction's 21,000 included). Two account mixes:
every flow from a different account (cold storage for each: the worst case) and 100 flows over
10 accounts (a gateway's batch of a busy minute). Rules: a typical product — prohibited categories
and a velocity window enabled, so the rule engine does its full work on merchant payments.
Prints a `[gas]` table; asserts the target, and a regression guard for the distinct-account mix."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_account.signers.local import LocalAccount

from client.flow_rules import Action, FlowInput, FlowKind, RuleSet
from client.tx import Call
from tests.conftest import ChainHandle
from tests.flows._helpers import Env, borrower, deploy_env, make_keys

TARGET_100 = 15_000
# Measured (see the [gas] lines), 10 accounts, batch of 100: 19,309 per flow at first; 17,388 once
# per-loan totals moved from storage to FlowLineage events (and counterparty left FlowRecorded for
# FlowCounterparty); 15,596 with each account's two slots read and written once per batch; 15,013
# with the rules and prohibited-category word read once per batch; 14,887 with the balance update
# unchecked; 14,885 with the closed flag (in the Queue slot, checked once per account and batch).
# Distinct accounts (cold slots for each), batch of 100: 53,525 at first, 30,360 now.
GUARD_DISTINCT_100 = 31_500


def _fund(env: Env, accounts: list[bytes]) -> None:
    """One stub loan per account, set and synced in JSON-RPC batches of transactions."""
    pipe = env.flows.pipeline
    assert pipe is not None
    base = int.from_bytes(accounts[0][:3], "big") * 10_000
    calls = []
    for i, a in enumerate(accounts):
        data = env.stub.encode_abi("setLoan", args=[base + i, a, 1, 10_000_000, env.keys.lead_id])
        calls.append(Call(env.stub.address, bytes.fromhex(data[2:]), gas=200_000))
    syncs = [
        Call(env.flows.address, env.flows.call_data("syncDrawdown", base + i), gas=300_000)
        for i in range(len(accounts))
    ]
    for batch in (calls, syncs):
        for start in range(0, len(batch), 50):
            pipe.wait_many(pipe.send_many(batch[start : start + 50]))


def _measure(env: Env, flows: list[FlowInput]) -> int:
    pipe = env.flows.pipeline
    assert pipe is not None
    call = env.flows._call("recordFlows", [f.as_abi() for f in flows])
    limit = int(env.chain.w3.eth.get_block("latest")["gasLimit"])
    gas = min(limit, pipe.estimate_gas(call))  # the margin may not exceed the block
    receipt = pipe.transact(Call(call.to, call.data, gas=gas, label=call.label))
    return int(receipt["gasUsed"])


@pytest.mark.slow
def test_gas_per_flow_in_batches(chain: ChainHandle, make_account: Callable[..., LocalAccount]) -> None:
    keys = make_keys(chain, make_account, "gas")
    env = deploy_env(chain, keys)
    env.set_rules(
        1,
        RuleSet(
            velocity_window=86_400,
            velocity_max_share_bp=9_000,
            velocity_action=Action.FLAG,
            prohibited_category_action=Action.HOLD,
        ),
    )
    env.prohibit(1, 7995)
    distinct = [borrower(i, b"gas-d") for i in range(1 + 10 + 100 + 500)]
    busy = [borrower(i, b"gas-b") for i in range(10)]
    _fund(env, distinct + busy)
    table: dict[str, dict[int, int]] = {"distinct": {}, "10 accounts": {}}
    used = 0
    for n in (1, 10, 100, 500):
        flows = [
            FlowInput(a, FlowKind.MERCHANT_PAYMENT, 1_000 + i, 5411)
            for i, a in enumerate(distinct[used : used + n])
        ]
        used += n
        table["distinct"][n] = _measure(env, flows) // n
        flows = [FlowInput(busy[i % 10], FlowKind.MERCHANT_PAYMENT, 1_000 + i, 5411) for i in range(n)]
        table["10 accounts"][n] = _measure(env, flows) // n
    for mix, row in table.items():
        print(
            f"\n[gas] recordFlows per flow ({mix}): " + ", ".join(f"batch {n}: {g}" for n, g in row.items())
        )
    met = table["10 accounts"][100] < TARGET_100
    print(
        f"[gas] target {TARGET_100} per flow in a batch of 100 (10 accounts): {'met' if met else 'NOT met'}"
    )
    assert table["10 accounts"][100] < TARGET_100
    assert table["distinct"][100] < GUARD_DISTINCT_100
