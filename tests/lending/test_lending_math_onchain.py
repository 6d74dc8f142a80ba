"""Cross-check: `LendingMath.sol` (through `LendingMathHarness`, by eth_call) and
`client.lending_math` give the same result — or the same custom error with the same arguments —
for the same inputs, including inputs outside the bounds. Also records the gas of the two calls
the lending contracts make most (a 3-party split, a 20-installment cumulative).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError

import client.lending_math as lm
from client.contracts import bind, deploy
from client.revert import decode_revert
from client.tx import TransactionPipeline

Outcome = tuple[str, Any]

# 60 examples x 11 functions keeps the run to seconds; raise it for a soak run.
EXAMPLES = settings(
    max_examples=int(os.environ.get("COLEDGER_LENDING_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def near(bound: int, typical: int) -> st.SearchStrategy[int]:
    """Typical values, any value up to just past `bound`, and the values around `bound` itself."""
    return st.one_of(
        st.integers(0, typical), st.integers(0, bound + 2), st.integers(bound - 1, bound + 2)
    )


# Slightly past every bound, so the reverts are exercised as often as the results.
amounts = near(lm.MAX_AMOUNT, 10**12)
rates = near(lm.MAX_RATE_BP, 3650)
counts = st.integers(0, lm.MAX_INSTALLMENTS + 1)
weights = st.lists(st.one_of(st.integers(0, 10**6), st.integers(0, lm.MAX_AMOUNT + 1)), max_size=6)
shares = st.one_of(
    st.lists(st.integers(0, 5000), max_size=5),
    st.just([2000, 4000, 4000]),
    st.just([2000, 8000]),
    st.just([10_000, 0]),
)
uint256 = st.one_of(st.integers(0, 10**12), st.integers(0, 2**256 - 1))


@pytest.fixture(scope="module")
def harness(w3: Web3, make_account: Callable[..., LocalAccount]) -> Contract:
    pipeline = TransactionPipeline(w3, make_account("lending-math"))
    return bind(w3, "LendingMathHarness", deploy(pipeline, "LendingMathHarness"))


def onchain(harness: Contract, name: str, *args: Any) -> Outcome:
    try:
        result = getattr(harness.functions, name)(*args).call()
    except ContractCustomError as exc:
        revert = decode_revert(exc.data if isinstance(exc.data, str) else None)
        return ("revert", (revert.name, revert.args_by_name))
    return ("ok", result)


def offchain(fn: Callable[..., Any], *args: Any) -> Outcome:
    try:
        result = fn(*args)
    except lm.LendingMathError as exc:
        return ("revert", (type(exc).__name__, exc.args_by_name))
    return ("ok", result)


def same(harness: Contract, name: str, fn: Callable[..., Any], *args: Any,
         shape: Callable[[Any], Any] = lambda r: r) -> None:
    py = offchain(fn, *args)
    if py[0] == "ok":
        py = ("ok", shape(py[1]))
    event(f"{name}: {py[0]}")
    assert onchain(harness, name, *args) == py, (name, args)


@EXAMPLES
@given(amounts, weights)
def test_split_onchain_and_python_agree_including_reverts(
    harness: Contract, amount: int, ws: list[int]
) -> None:
    same(harness, "split", lm.split, amount, ws)


@EXAMPLES
@given(amounts, shares)
def test_split_bp_onchain_and_python_agree_including_reverts(
    harness: Contract, amount: int, ss: list[int]
) -> None:
    same(harness, "splitBp", lm.split_bp, amount, ss)


@EXAMPLES
@given(amounts, rates)
def test_period_interest_onchain_and_python_agree(harness: Contract, balance: int, rate: int) -> None:
    same(harness, "periodInterest", lm.period_interest, balance, rate)


@EXAMPLES
@given(amounts, rates, counts)
def test_annuity_payment_onchain_and_python_agree(harness: Contract, p: int, rate: int, n: int) -> None:
    same(harness, "annuityPayment", lm.annuity_payment, p, rate, n)


@EXAMPLES
@given(amounts, rates, counts, st.integers(0, 62))
def test_schedule_row_onchain_and_python_agree(harness: Contract, p: int, rate: int, n: int, i: int) -> None:
    same(harness, "scheduleRow", lm.schedule_row, p, rate, n, i, shape=list)


@EXAMPLES
@given(amounts, rates, counts, st.integers(0, 62))
def test_cumulative_onchain_and_python_agree(harness: Contract, p: int, rate: int, n: int, k: int) -> None:
    same(harness, "cumulative", lm.cumulative, p, rate, n, k, shape=list)


@EXAMPLES
@given(amounts, rates, counts)
def test_schedule_onchain_and_python_agree(harness: Contract, p: int, rate: int, n: int) -> None:
    same(harness, "schedule", lm.schedule, p, rate, n,
         shape=lambda rows: [[r.principal for r in rows], [r.interest for r in rows]])


@EXAMPLES
@given(amounts, rates, near(lm.MAX_SURCHARGE_BP, 5000), near(lm.MAX_ELAPSED, 400 * 86_400))
def test_penalty_onchain_and_python_agree(harness: Contract, p: int, rate: int, s: int, t: int) -> None:
    same(harness, "penalty", lm.penalty, p, rate, s, t)


@EXAMPLES
@given(uint256, uint256, uint256, uint256)
def test_allocate_onchain_and_python_agree(harness: Contract, a: int, pen: int, i: int, p: int) -> None:
    same(harness, "allocate", lm.allocate, a, pen, i, p, shape=list)


@EXAMPLES
@given(uint256, uint256)
def test_days_past_due_onchain_and_python_agree(harness: Contract, due: int, now: int) -> None:
    same(harness, "daysPastDue", lm.days_past_due, due, now)


@EXAMPLES
@given(st.integers(0, 400), st.one_of(
    st.just(list(lm.DEFAULT_THRESHOLDS)),
    st.lists(st.integers(0, 400), min_size=4, max_size=4),
    st.lists(st.integers(1, 400), min_size=4, max_size=4, unique=True).map(sorted),
))
def test_classify_onchain_and_python_agree(harness: Contract, dpd: int, ts: list[int]) -> None:
    same(harness, "classify", lm.classify, dpd, ts, shape=int)


def test_default_thresholds_onchain_equal_python(harness: Contract) -> None:
    assert tuple(harness.functions.defaultThresholds().call()) == lm.DEFAULT_THRESHOLDS


def test_gas_of_three_party_split_and_twenty_row_cumulative_is_recorded(
    harness: Contract, capsys: pytest.CaptureFixture[str]
) -> None:
    split_gas = harness.functions.splitBp(1_000_001, [2000, 4000, 4000]).estimate_gas()
    split_w_gas = harness.functions.split(1_000_001, [200_000, 400_003, 399_998]).estimate_gas()
    cumulative_gas = harness.functions.cumulative(4_000_000, 1800, 20, 20).estimate_gas()
    with capsys.disabled():
        print(f"\nLendingMath gas (eth_estimateGas, incl. 21000 base + calldata): "
              f"splitBp 3 parties {split_gas}, split 3 weights {split_w_gas}, "
              f"cumulative n=20 k=20 {cumulative_gas}")
    assert split_gas < 60_000 and cumulative_gas < 120_000
