"""Bounds of the WebSocket side of the JSON-RPC port (issue 12), on an in-process node with
small limits: subscriptions per connection, connections, browser Origin, node stop, and what an
HTTP caller of eth_subscribe is told.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from node.server import RpcHttpServer, ServerLimits
from node.subscriptions import SubscriptionHub
from node.websocket import WsLimits
from tests.node.conftest import NodeHandle
from tests.node.test_rpc_hostile_params import HOSTILE, INTERNAL

PATIENCE = 30


def ws_url(handle: NodeHandle) -> str:
    return handle.node.url.replace("http://", "ws://")


def call(ws: ClientConnection, method: str, params: list[Any] | None = None,
         rid: int = 1) -> Any:
    ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or []}))
    while True:
        msg = json.loads(ws.recv(timeout=PATIENCE))
        if msg.get("id") == rid:
            return msg


@pytest.fixture
def small(node_factory: Callable[..., NodeHandle]) -> NodeHandle:
    return node_factory(allow_time_travel=True, ws_max_connections=2, ws_max_subscriptions=3)


def test_too_many_subscriptions_on_one_connection_is_an_error(small: NodeHandle) -> None:
    with connect(ws_url(small)) as ws:
        ids = [call(ws, "eth_subscribe", ["newHeads"], i)["result"] for i in range(3)]
        assert len(set(ids)) == 3
        refused = call(ws, "eth_subscribe", ["logs", {}], 9)
        assert refused["error"]["code"] == -32005
        assert "too many subscriptions" in refused["error"]["message"]
        assert call(ws, "eth_unsubscribe", [ids[0]], 10)["result"] is True
        assert call(ws, "eth_subscribe", ["newPendingTransactions"], 11)["result"].startswith("0x")
        # the connection still answers ordinary calls
        assert call(ws, "eth_chainId", [], 12)["result"] == "0x539"


def test_too_many_connections_are_refused_and_a_freed_slot_is_reused(small: NodeHandle) -> None:
    with connect(ws_url(small)) as second:
        with connect(ws_url(small)) as first:
            with pytest.raises(InvalidStatus) as refused:
                connect(ws_url(small))
            assert refused.value.response.status_code == 503
            assert b"too many WebSocket connections" in refused.value.response.body
            # HTTP is a separate pool: it still answers
            assert small.w3.eth.chain_id == 1337
            assert call(first, "eth_blockNumber")["result"] == "0x0"
        for _ in range(100):  # the slot is released once the server side saw the close
            try:
                with connect(ws_url(small)) as third:
                    assert call(third, "eth_chainId")["result"] == "0x539"
                break
            except InvalidStatus:
                time.sleep(0.05)
        else:
            pytest.fail("the closed connection's slot was never released")
        assert call(second, "eth_chainId")["result"] == "0x539"


def test_subscription_params_are_checked(small: NodeHandle) -> None:
    with connect(ws_url(small)) as ws:
        cases: list[tuple[list[Any], str]] = [
            (["syncing"], "unknown subscription kind"),
            ([], "expected [kind]"),
            (["logs", {"blockHash": "0x" + "11" * 32}], "blockHash is for eth_getLogs"),
            (["logs", {"fromBlock": "0x5", "toBlock": "0x1"}], "after toBlock"),
            (["logs", {"address": "0x12"}], "address"),
            (["logs", {"bogus": 1}], "unknown key"),
            (["newHeads", {"x": 1}], "no options"),
            (["newPendingTransactions", True], "hashes only"),
        ]
        for params, words in cases:
            answer = call(ws, "eth_subscribe", params)
            assert answer["error"]["code"] == -32602, answer
            assert words in answer["error"]["message"]
        assert call(ws, "eth_unsubscribe", [["x"]])["error"]["code"] == -32602


def test_browser_origins_follow_the_cors_policy(small: NodeHandle) -> None:
    with connect(ws_url(small), origin=Origin("http://localhost:5173")) as ws:
        assert call(ws, "eth_chainId")["result"] == "0x539"
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(small), origin=Origin("https://evil.example"))
    assert refused.value.response.status_code == 403


def test_over_http_eth_subscribe_says_it_needs_a_websocket(small: NodeHandle) -> None:
    answer = requests.post(small.node.url, json={"jsonrpc": "2.0", "id": 1,
                                                 "method": "eth_subscribe",
                                                 "params": ["newHeads"]}, timeout=30).json()
    assert answer["error"]["code"] == -32601
    assert "WebSocket" in answer["error"]["message"]
    plain_get = requests.get(small.node.url, timeout=30)
    assert plain_get.status_code == 405


def test_node_stop_closes_websocket_clients_cleanly(
        node_factory: Callable[..., NodeHandle]) -> None:
    handle = node_factory(allow_time_travel=True)
    with connect(ws_url(handle)) as ws:
        assert call(ws, "eth_subscribe", ["newHeads"])["result"].startswith("0x")
        handle.node.stop()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=PATIENCE)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


def test_a_client_that_answers_no_ping_is_dropped() -> None:
    """The server pings a quiet client and closes (1011) one that sends no pong; a plain
    dispatcher stands in for the node (only the transport is under test)."""

    class Echo:
        def handle_body(self, body: bytes, session: Any = None) -> Any:
            return {"jsonrpc": "2.0", "id": 1, "result": "pong"}

    hub = SubscriptionHub(lambda: None, lambda: 0)  # type: ignore[arg-type,return-value]
    server = RpcHttpServer("127.0.0.1", 0, Echo(), ServerLimits(
        ws=WsLimits(ping_interval=0.2, ping_timeout=0.5, close_timeout=0.2)), hub=hub)
    server.start()
    try:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=PATIENCE)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        stream = b""
        while (chunk := sock.recv(4096)):
            stream += chunk
        sock.close()
        head, _, frames = stream.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        opcodes, codes = [], []
        while frames:
            opcode, size = frames[0] & 0x0F, frames[1] & 0x7F
            payload, frames = frames[2:2 + size], frames[2 + size:]
            opcodes.append(opcode)
            if opcode == 0x8:
                codes.append(int.from_bytes(payload[:2], "big"))
        assert opcodes[0] == 0x9 and opcodes[-1] == 0x8  # a ping first, a close last
        assert codes == [1011]
        assert server.ws is not None
        for _ in range(int(PATIENCE / 0.05)):  # its slot is freed once both threads ended
            if len(server.ws) == 0:
                break
            time.sleep(0.05)
        assert len(server.ws) == 0
    finally:
        server.stop()


def test_subscription_methods_answer_hostile_params_in_the_nodes_words(small: NodeHandle) -> None:
    shapes = [[h] for h in HOSTILE] + [[k, h] for k in ("logs", "newHeads") for h in HOSTILE]
    with connect(ws_url(small), max_size=None) as ws:
        for method in ("eth_subscribe", "eth_unsubscribe"):
            ws.send(json.dumps([{"jsonrpc": "2.0", "id": i, "method": method, "params": p}
                                for i, p in enumerate(shapes)]))
            for answer in json.loads(ws.recv(timeout=PATIENCE)):
                error = answer.get("error")
                if error is None:  # a hostile value that is a valid subscription after all
                    if method == "eth_subscribe":
                        call(ws, "eth_unsubscribe", [answer["result"]], 99_999)
                    continue
                sent = shapes[answer["id"]]
                assert error["code"] in (-32602, -32005), (method, sent, error)
                assert not INTERNAL.search(error["message"]), (method, sent, error)
                assert len(error["message"]) < 400, (method, sent, error)
