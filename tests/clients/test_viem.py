"""viem with its defaults against the embedded node (js/viem.mjs does the client side)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.clients.conftest import run_script

REFUSED = "not allowed by Consortium"


@pytest.fixture(scope="module")
def viem_run(tool_env: Callable[[str], dict[str, str]]) -> dict[str, Any]:
    """One run of the script; each test checks one part of its report."""
    return run_script("viem.mjs", tool_env("viem"))  # type: ignore[no-any-return]


def test_viem_defaults_deploy_and_write(viem_run: dict[str, Any]) -> None:
    r = viem_run
    for step in ("deploy", "write", "eip2930"):
        assert r[step]["status"] == "success", (step, r[step])
    assert r["deploy"]["contractAddress"]
    assert r["eip2930"]["type"] == "eip2930"
    assert r["count"] == "3"
    assert r["balances"]["member"] == "0"


def test_viem_create_access_list_names_the_counter_slot(viem_run: dict[str, Any]) -> None:
    listed = viem_run["accessList"]["accessList"]
    assert listed[0]["address"].lower() == viem_run["deploy"]["contractAddress"].lower()
    assert listed[0]["storageKeys"] == ["0x" + "00" * 32]
    assert int(viem_run["eip2930"]["gas"]) >= int(viem_run["eip2930"]["gasUsed"])


def test_viem_watch_contract_event_by_http_polling_and_get_logs(viem_run: dict[str, Any]) -> None:
    watched = viem_run["watched"]
    assert [x["txHash"] for x in watched["logs"]] == [watched["expectedTx"]]
    assert watched["logs"][0]["newCount"] == "3"
    assert [x["newCount"] for x in viem_run["getLogs"]] == ["1", "2", "3"]


def test_viem_block_receipts(viem_run: dict[str, Any]) -> None:
    receipts = viem_run["blockReceipts"]
    assert viem_run["eip2930"]["hash"] in [x["hash"] for x in receipts]
    assert {x["status"] for x in receipts} == {"success"}


def test_viem_stranger_is_refused_by_admission(viem_run: dict[str, Any]) -> None:
    stranger = viem_run["stranger"]
    assert stranger["refused"] is True
    assert REFUSED in stranger["error"] and stranger["address"] in stranger["error"]
