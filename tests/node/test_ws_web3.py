"""WebSocket JSON-RPC through web3.py v8's ``AsyncWeb3(WebSocketProvider(...))`` (issue 12):
ordinary calls, newHeads, contract logs filtered by address and topic, pending transactions,
unsubscribe. An embedded node in the test process; the URL is the HTTP one with ``ws://``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from eth_utils import keccak
from web3 import AsyncWeb3, WebSocketProvider
from websockets.sync.client import connect

from tests.node.conftest import NodeHandle

INCREMENTED = "0x" + keccak(text="Incremented(address,uint256)").hex()
#: a safety net only: every wait below ends as soon as what it waits for arrives
PATIENCE = 60


def ws_url(handle: NodeHandle) -> str:
    return handle.node.url.replace("http://", "ws://")


def _signed(handle: NodeHandle, nonce: int, to: str, data: str) -> bytes:
    tx: dict[str, Any] = {"chainId": handle.config.chain_id, "nonce": nonce, "gas": 200_000, "to": to,
          "data": data, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "value": 0}
    return bytes(handle.bootstrap.sign_transaction(tx).raw_transaction)


def _topic_of(address: str) -> str:
    return "0x" + address[2:].lower().rjust(64, "0")


async def _collect(w3: Any, done: Callable[[list[Any]], bool]) -> list[Any]:
    seen: list[Any] = []

    async def run() -> None:
        async for message in w3.socket.process_subscriptions():
            seen.append(message)
            if done(seen):
                return

    await asyncio.wait_for(run(), PATIENCE)
    return seen


def test_web3_websocket_calls_new_heads_and_filtered_contract_logs(
        node_handle: NodeHandle, node_artifacts: dict[str, Any]) -> None:
    h = node_handle
    h.deploy(h.bootstrap, node_artifacts["AllowList"])  # at the consortium address: owner may send
    counter = h.deploy(h.bootstrap, node_artifacts["Counter"])
    other = h.deploy(h.bootstrap, node_artifacts["Counter"])
    increment = counter.encode_abi("increment", [])

    async def scenario() -> None:
        async with AsyncWeb3(WebSocketProvider(ws_url(h))) as w3:
            assert await w3.eth.chain_id == h.config.chain_id  # ordinary calls work over WS
            start = await w3.eth.block_number
            assert (await w3.eth.get_block(start))["hash"] == h.w3.eth.get_block(start)["hash"]
            heads = await w3.eth.subscribe("newHeads")
            by_address = await w3.eth.subscribe("logs", {"address": counter.address})
            by_topics = await w3.eth.subscribe("logs", {
                "address": [counter.address, other.address],
                "topics": [INCREMENTED, _topic_of(h.bootstrap.address)]})
            nobody = await w3.eth.subscribe("logs", {
                "topics": [INCREMENTED, _topic_of("0x" + "ab" * 20)]})
            nonce = await w3.eth.get_transaction_count(h.bootstrap.address, "pending")
            sent = []
            for i, to in enumerate([counter.address, other.address, counter.address]):
                sent.append(await w3.eth.send_raw_transaction(
                    _signed(h, nonce + i, to, increment)))
            receipts = [await w3.eth.wait_for_transaction_receipt(x, timeout=PATIENCE,
                                                                   poll_latency=0.02)
                        for x in sent]
            assert all(r["status"] == 1 for r in receipts)
            last = max(r["blockNumber"] for r in receipts)

            def done(seen: list[Any]) -> bool:
                got_heads = [m for m in seen if m["subscription"] == heads]
                return bool(got_heads) and got_heads[-1]["result"]["number"] >= last \
                    and sum(m["subscription"] == by_topics for m in seen) >= 3

            seen = await _collect(w3, done)
            of = {sid: [m["result"] for m in seen if m["subscription"] == sid]
                  for sid in (heads, by_address, by_topics, nobody)}
            numbers = [b["number"] for b in of[heads]]
            assert numbers == list(range(start + 1, last + 1)), "every new block, in order"
            for header in of[heads]:
                block = await w3.eth.get_block(header["number"])
                assert header["hash"] == block["hash"]
                assert header["stateRoot"] == block["stateRoot"]
                assert "transactions" not in header
            assert [lg["address"] for lg in of[by_address]] == [counter.address] * 2
            assert [lg["transactionHash"] for lg in of[by_address]] == [sent[0], sent[2]]
            assert [lg["address"] for lg in of[by_topics]] == \
                [counter.address, other.address, counter.address]
            assert all(lg["removed"] is False for lg in of[by_topics])
            logs = await w3.eth.get_logs({"fromBlock": start + 1, "toBlock": last,
                                          "address": [counter.address, other.address]})
            assert [dict(x) for x in of[by_topics]] == [dict(x) for x in logs]
            assert of[nobody] == []
            assert await w3.eth.unsubscribe(by_address) is True

    # web3.py's typed subscriptions have no block bounds; a raw client sends them as geth takes
    # them: new blocks only, a numeric bound limits which, a tag does not
    with connect(ws_url(h)) as raw:
        def subscribe(rid: int, params: list[Any]) -> str:
            raw.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": "eth_subscribe",
                                 "params": params}))
            return str(json.loads(raw.recv(timeout=PATIENCE))["result"])

        head = h.w3.eth.block_number
        ended = subscribe(1, ["logs", {"address": counter.address, "toBlock": hex(head)}])
        tagged = subscribe(2, ["logs", {"address": counter.address, "fromBlock": "latest"}])
        sync = subscribe(3, ["newHeads"])  # after the logs: a block's header comes after them
        asyncio.run(scenario())
        last = h.w3.eth.block_number
        by_address_logs = h.rpc("eth_getLogs", [{"fromBlock": hex(head + 1), "toBlock": hex(last),
                                                 "address": counter.address}])["result"]
        notes: list[Any] = []
        while not notes or notes[-1]["subscription"] != sync or \
                int(notes[-1]["result"]["number"], 16) < last:
            notes.append(json.loads(raw.recv(timeout=PATIENCE))["params"])
    assert [n for n in notes if n["subscription"] == ended] == []
    assert [n["result"] for n in notes if n["subscription"] == tagged] == by_address_logs
    assert len(by_address_logs) == 2


def test_web3_websocket_pending_transaction_hashes(node_handle: NodeHandle) -> None:
    h = node_handle

    async def scenario() -> None:
        async with AsyncWeb3(WebSocketProvider(ws_url(h))) as w3:
            sub = await w3.eth.subscribe("newPendingTransactions")
            nonce = await w3.eth.get_transaction_count(h.bootstrap.address, "pending")
            sent = [await w3.eth.send_raw_transaction(
                _signed(h, nonce + i, h.bootstrap.address, "0x")) for i in range(3)]
            seen = await _collect(w3, lambda s: len(s) >= 3)
            assert [m["subscription"] for m in seen] == [sub] * 3
            assert [m["result"] for m in seen] == sent

    asyncio.run(scenario())


def test_unsubscribe_stops_notifications_and_subscriptions_die_with_the_connection(
        node_handle: NodeHandle) -> None:
    """Raw client: after the eth_unsubscribe answer no notification of that subscription
    comes; a later subscription on the same connection (made first, so it is delivered after
    the ended one on every block) proves blocks were delivered meanwhile."""
    h = node_handle
    notes: list[Any] = []
    with connect(ws_url(h)) as ws:
        def call(rid: int, method: str, params: list[Any]) -> tuple[Any, list[Any]]:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                                "params": params}))
            while True:
                msg = json.loads(ws.recv(timeout=PATIENCE))
                if msg.get("id") == rid:
                    return msg, notes
                notes.append(msg)

        ended = call(1, "eth_subscribe", ["newHeads"])[0]["result"]
        kept = call(2, "eth_subscribe", ["newHeads"])[0]["result"]
        call(3, "evm_mine", [])
        answer, _ = call(4, "eth_unsubscribe", [ended])
        del notes[:]
        assert answer["result"] is True
        assert call(5, "eth_unsubscribe", [ended])[0]["result"] is False
        mined = [int(call(6 + i, "evm_mine", [])[0]["result"], 16) for i in range(3)]
        while not notes or int(notes[-1]["params"]["result"]["number"], 16) < mined[-1]:
            notes.append(json.loads(ws.recv(timeout=PATIENCE)))
        after = [n for n in notes if int(n["params"]["result"]["number"], 16) in mined]
        assert {n["params"]["subscription"] for n in after} == {kept}
        assert len(after) == 3
    # the connection is gone: its session with it (the hub keeps nobody's subscriptions)
    hub = h.node._hub
    assert hub is not None
    for _ in range(200):
        if not hub._sessions:
            break
        time.sleep(0.05)
    assert not hub._sessions
