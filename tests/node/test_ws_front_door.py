"""Hostile WebSocket clients against the node as a process (issue 12): a nesting bomb, a frame
larger than the message cap, and a client that subscribes to everything and never reads while
blocks are produced. The process must stay alive, cut the slow client off (bounded memory), and
keep serving fresh clients.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from eth_account import Account
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Frame, Opcode
from websockets.sync.client import ClientConnection, connect

from tests.conftest import free_port, start_embedded_node, wait_for_rpc

PATIENCE = 60


@dataclass
class WsNode:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def assert_alive(self) -> None:
        assert self.proc.poll() is None, "the node process died"
        answer = requests.post(self.http, json={"jsonrpc": "2.0", "id": 1,
                                                "method": "eth_chainId"}, timeout=30).json()
        assert answer["result"] == "0x539"

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    def serves_peer(self, client_port: int) -> bool:
        """Whether the node still holds the socket of the connection from ``client_port``."""
        inodes = set()
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                local, remote = parts[1].split(":")[1], parts[2].split(":")[1]
                if int(local, 16) == self.port and int(remote, 16) == client_port:
                    inodes.add(f"socket:[{parts[9]}]")
        fd_dir = f"/proc/{self.proc.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(f"{fd_dir}/{fd}") in inodes:
                    return True
            except OSError:
                continue
        return False

    def stderr_so_far(self) -> str:
        assert self.proc.stderr is not None
        os.set_blocking(self.proc.stderr.fileno(), False)
        return (self.proc.stderr.read() or b"").decode(errors="replace")


@pytest.fixture(scope="module")
def ws_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WsNode]:
    data_dir = tmp_path_factory.mktemp("ws-front-door") / "chain"
    port = free_port()
    proc = start_embedded_node(data_dir, Account.create().address, bytes.fromhex("44" * 32), port,
                               "--allow-time-travel")
    try:
        wait_for_rpc(f"http://127.0.0.1:{port}", proc)
        yield WsNode(proc, port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def call(ws: ClientConnection, method: str, params: list[Any] | None = None) -> Any:
    ws.send(json.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": params or []}))
    while True:
        msg = json.loads(ws.recv(timeout=PATIENCE))
        if msg.get("id") == 7:
            return msg


@pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 100_000,
                                  '{"jsonrpc":"2.0","id":1,"method":"eth_call","params":'
                                  + "[" * 100_000])
def test_a_nesting_bomb_over_websocket_is_a_parse_error_and_the_node_lives(
        ws_node: WsNode, body: str) -> None:
    with connect(ws_node.ws, max_size=None) as ws:
        ws.send(body)
        answer = json.loads(ws.recv(timeout=PATIENCE))
        assert answer["error"] == {"code": -32700, "message":
                                   "parse error: JSON nesting deeper than 128 levels"}
        assert call(ws, "eth_chainId")["result"] == "0x539"  # the connection lives on too
    ws_node.assert_alive()


def test_a_frame_over_the_message_cap_closes_the_connection_with_1009(ws_node: WsNode) -> None:
    with connect(ws_node.ws) as ws:
        # a text frame announcing 1 TiB: refused from its header, before any payload is kept
        ws.socket.sendall(bytes([0x81, 0xFF]) + (2**40).to_bytes(8, "big") + b"mask" + b"x" * 64)
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=PATIENCE)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    ws_node.assert_alive()


def _raw_ws(port: int) -> socket.socket:
    """A client that completes the handshake and then reads nothing (tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "no handshake answer"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_a_client_that_never_reads_is_cut_off_and_memory_stays_bounded(ws_node: WsNode) -> None:
    http = requests.Session()

    def mine(n: int) -> None:
        batch: list[dict[str, Any]] = [{"jsonrpc": "2.0", "id": i, "method": "evm_mine"}
                                       for i in range(n)]
        answers = http.post(ws_node.http, json=batch, timeout=PATIENCE).json()
        assert all("result" in a for a in answers), answers[:1]

    mine(20)  # warm the node's caches before measuring
    rss_before = ws_node.rss_kib()
    slow = _raw_ws(ws_node.port)
    client_port = slow.getsockname()[1]
    # every subscription it may hold: each block is 128 notifications (~100 KB) for it
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_subscribe", "params": ["newHeads"]}
             for i in range(128)]
    slow.sendall(Frame(Opcode.TEXT, json.dumps(batch).encode()).serialize(mask=True))
    blocks = 0
    while blocks < 800:  # ~80 MB of notifications if they were all kept
        mine(50)
        blocks += 50
    for _ in range(int(PATIENCE / 0.1)):  # the cut-off finishes a moment after the overflow
        if not ws_node.serves_peer(client_port):
            break
        time.sleep(0.1)
    assert not ws_node.serves_peer(client_port), "the slow client was not cut off"
    growth_mib = (ws_node.rss_kib() - rss_before) / 1024
    assert growth_mib < 40, f"node RSS grew {growth_mib:.0f} MiB for one slow client"
    assert "fell behind" in ws_node.stderr_so_far()
    # what reached the client is a fraction of what was produced, and then the stream ends
    slow.settimeout(PATIENCE)
    received = 0
    try:
        while chunk := slow.recv(1 << 20):
            received += len(chunk)
    except ConnectionResetError:
        pass
    slow.close()
    assert received < blocks * 128 * 500
    # a fresh client is served as usual
    with connect(ws_node.ws) as ws:
        sub = call(ws, "eth_subscribe", ["newHeads"])["result"]
        mine(1)
        note = json.loads(ws.recv(timeout=PATIENCE))
        assert note["params"]["subscription"] == sub
        assert int(note["params"]["result"]["number"], 16) == 20 + blocks + 1
    ws_node.assert_alive()
