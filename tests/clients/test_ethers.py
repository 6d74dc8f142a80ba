"""ethers v6 with its defaults against the embedded node (js/ethers.mjs does the client side)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.clients.conftest import run_script

REFUSED = "not allowed by Consortium"


@pytest.fixture(scope="module")
def ethers_run(tool_env: Callable[[str], dict[str, str]]) -> dict[str, Any]:
    """One run of the script; each test checks one part of its report."""
    return run_script("ethers.mjs", tool_env("ethers"))  # type: ignore[no-any-return]


def test_ethers_defaults_deploy_and_send_every_transaction_type(ethers_run: dict[str, Any]) -> None:
    r = ethers_run
    for step in ("deploy", "plain", "eip2930", "eip1559"):
        assert r[step]["status"] == 1, (step, r[step])
    assert r["eip2930"]["type"] == 1 and r["eip2930"]["accessListLength"] >= 1
    assert r["eip1559"]["type"] == 2
    assert r["count"] == "4"  # plain, 2930, 1559 and the event trigger all incremented
    assert r["balances"]["member"] == "0"  # nothing was charged and nothing was needed


def test_ethers_estimated_access_list_transaction_has_room_for_the_list(
        ethers_run: dict[str, Any]) -> None:
    """eth_estimateGas counts the list (issue 12, defect 6): the estimate covers what was used."""
    listed, sent = ethers_run["accessList"], ethers_run["eip2930"]
    assert int(sent["gasLimit"]) >= int(sent["gasUsed"])
    assert listed["accessList"][0]["address"].lower() == ethers_run["deploy"]["address"].lower()
    assert listed["accessList"][0]["storageKeys"] == ["0x" + "00" * 32]


def test_ethers_events_by_polling_and_query_filter(ethers_run: dict[str, Any]) -> None:
    r = ethers_run
    assert r["polledEvent"]["txHash"] == r["polledEvent"]["expectedTx"]
    assert r["polledEvent"]["by"] == r["member"]
    assert [e["newCount"] for e in r["queryFilter"]] == ["1", "2", "3", "4"]


def test_ethers_block_receipts_and_zero_effective_price(ethers_run: dict[str, Any]) -> None:
    receipts = ethers_run["blockReceipts"]
    assert ethers_run["eip1559"]["hash"] in [x["hash"] for x in receipts]
    assert {x["status"] for x in receipts} == {"0x1"}
    assert {x["effectiveGasPrice"] for x in receipts} == {"0x0"}


def test_ethers_stranger_is_refused_by_admission(ethers_run: dict[str, Any]) -> None:
    stranger = ethers_run["stranger"]
    assert stranger["refused"] is True
    assert REFUSED in stranger["error"] and stranger["address"] in stranger["error"]
