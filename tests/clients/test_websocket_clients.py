"""ethers v6 and viem over the node's WebSocket (the JSON-RPC port upgraded): contract
events and new heads as eth_subscribe subscriptions, as dapps and web3.js-style event code use
them (web3.py's WebSocketProvider is tested in tests/node/test_ws_web3.py; `cast logs
--subscribe` is not covered yet: it receives the notifications but printed nothing here)."""

from __future__ import annotations

from collections.abc import Callable

from tests.clients.conftest import run_script


def test_ethers_websocket_provider_gets_contract_events_and_blocks_by_subscription(
        tool_env: Callable[[str], dict[str, str]]) -> None:
    r = run_script("ethers_ws.mjs", tool_env("ethers-ws"))
    assert r["event"]["txHash"] == r["event"]["expectedTx"]
    assert r["event"]["by"] == r["member"] and r["event"]["newCount"] == "1"
    assert int(r["block"]["notified"]) >= 1


def test_viem_websocket_transport_watches_events_and_block_numbers(
        tool_env: Callable[[str], dict[str, str]]) -> None:
    r = run_script("viem_ws.mjs", tool_env("viem-ws"))
    assert r["status"] == "success"
    assert [x["txHash"] for x in r["logs"]] == [r["expectedTx"]]
    assert r["logs"][0]["newCount"] == "1"
    assert int(r["block"]) >= 1
