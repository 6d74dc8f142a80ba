"""Gas of origination: proposeDrawdown + disburse with two partner signatures must stay under
250,000 gas together, the ledger's openLoan included. Measured on a borrower who already has a
line (the usual case: lines are opened once, drawn many times), with the LoanLedgerStub (our own
share) and, when its artifact exists, with the real LoanLedger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from client.artifacts import available_artifacts
from client.contracts import bind, create_address, deploy
from tests.lending._origination_helpers import Origination, deploy_origination, events

BUDGET = 250_000
# What CreditLines itself (plus the stub's event) may spend of the budget: a regression guard.
# Measured 86,488 + 104,794 = 191,282 on anvil (prague) at the time of writing (it was 206,082
# before CreditLines took over the borrower's virtual account and slimmed the split).
OWN_SHARE = 210_000


def measure(o: Origination, amount: int) -> dict[str, int]:
    line_id, _ = o.open_line(30_000_000)
    drawdown_id, proposed = o.propose(line_id, amount, 10)
    disbursed = o.send("lead", o.lines, "disburse", drawdown_id, *o.signatures(drawdown_id))
    assert [n for n, _ in events(o.lines, disbursed)][-1] == "DrawdownDisbursed"
    return {"propose": int(proposed["gasUsed"]), "disburse": int(disbursed["gasUsed"])}


def report(label: str, runs: list[dict[str, int]]) -> dict[str, int]:
    last = runs[-1]
    total = last["propose"] + last["disburse"]
    print(f"\n[gas] {label}: first draw propose={runs[0]['propose']} disburse={runs[0]['disburse']}; "
          f"steady propose={last['propose']} disburse={last['disburse']} total={total}")
    return {**last, "total": total}


def test_gas_with_stub_ledger_is_under_budget(chain: Any, make_account: Callable[..., LocalAccount]) -> None:
    o = deploy_origination(chain, make_account, "gas-stub")
    runs = [measure(o, 1_234_567) for _ in range(3)]
    figures = report("CreditLines + LoanLedgerStub", runs)
    assert figures["total"] < OWN_SHARE


@pytest.mark.skipif("LoanLedger" not in available_artifacts(), reason="LoanLedger not built yet")
def test_gas_with_real_ledger_is_under_budget(chain: Any, make_account: Callable[..., LocalAccount]) -> None:
    o = deploy_origination(chain, make_account, "gas-real")
    # Redeploy CreditLines against a real LoanLedger; each needs the other's address, so the
    # ledger is created first with CreditLines' predicted CREATE address.
    gov = o.pipelines["governor"]
    nonce = o.w3.eth.get_transaction_count(gov.address, "pending")
    ledger = deploy(gov, "LoanLedger", o.consortium.address, create_address(gov.address, nonce + 1))
    lines = deploy(gov, "CreditLines", o.consortium.address, o.catalog.address, ledger, 100_000_000)
    o.ledger = bind(o.w3, "LoanLedger", ledger)
    o.lines = bind(o.w3, "CreditLines", lines)
    runs = [measure(o, 1_234_567) for _ in range(3)]
    figures = report("CreditLines + LoanLedger", runs)
    assert figures["total"] < BUDGET
