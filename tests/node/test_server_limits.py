"""The JSON-RPC front door's bounds (issue 12, defect 3), on the server alone with tight limits:
slow clients are dropped, idle keep-alive connections closed, excess connections refused with 503,
oversized bodies refused with 413, and the worker threads bounded."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from node.server import RpcHttpServer, ServerLimits

REQUEST = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":[]}'


class _Echo:
    def handle_body(self, body: bytes) -> Any:
        return {"jsonrpc": "2.0", "id": json.loads(body)["id"], "result": "pong"}


def _post(body: bytes = REQUEST, extra: bytes = b"") -> bytes:
    return (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def _read_response(s: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


def _closed_by_peer(s: socket.socket) -> bool:
    """Block until the server closes the connection (True) or 30 s pass (False)."""
    s.settimeout(30)
    try:
        return s.recv(65536) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[RpcHttpServer] = []

    def start(**limits: Any) -> RpcHttpServer:
        server = RpcHttpServer("127.0.0.1", 0, _Echo(), ServerLimits(**limits))  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _connect(server: RpcHttpServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def test_keep_alive_serves_several_requests_then_idle_connection_is_closed(serve: Any) -> None:
    server = serve(idle_timeout=0.5)
    with _connect(server) as s:
        for _ in range(3):
            s.sendall(_post())
            assert _read_response(s).endswith(b'"result":"pong"}')
        assert _closed_by_peer(s)


def test_a_client_trickling_its_headers_is_dropped(serve: Any) -> None:
    server = serve(request_timeout=0.5, idle_timeout=60)
    with _connect(server) as s:
        s.sendall(b"POST / HTTP/1.1\r\n")
        dropped = False
        for i in range(300):  # one header byte at a time, each well inside any read timeout
            try:
                s.sendall(b"X-Slow-%d: 1\r\n" % i)
            except (BrokenPipeError, ConnectionResetError):
                dropped = True
                break
            s.settimeout(0.1)
            try:
                if s.recv(1) == b"":
                    dropped = True
                    break
            except TimeoutError:
                continue
            except ConnectionResetError:
                dropped = True
                break
        assert dropped, "the server kept reading a request that never finished"


def test_a_client_that_never_finishes_its_body_is_dropped(serve: Any) -> None:
    server = serve(request_timeout=0.5, idle_timeout=60)
    with _connect(server) as s:
        s.sendall(_post(b"x" * 1000)[:-500])
        assert _closed_by_peer(s)


def test_connections_beyond_the_limit_get_503_and_a_freed_slot_is_reused(serve: Any) -> None:
    server = serve(max_connections=4)
    held = [_connect(server) for _ in range(4)]
    try:
        for s in held:  # each is being served (a worker holds it between requests)
            s.sendall(_post())
            assert b"pong" in _read_response(s)
        with _connect(server) as extra:
            answer = _read_response(extra)
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == -32005
        held.pop().close()
        for _ in range(50):  # the slot comes back once the server sees the close
            with _connect(server) as again:
                again.sendall(_post())
                answer = _read_response(again)
            if answer.startswith(b"HTTP/1.1 200 "):
                break
        assert answer.startswith(b"HTTP/1.1 200 "), answer
    finally:
        for s in held:
            s.close()


def test_an_oversized_body_is_refused_with_413_before_it_is_read(serve: Any) -> None:
    server = serve(max_body=1000)
    with _connect(server) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
        answer = _read_response(s)
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert b"request body of 5000 bytes exceeds the limit of 1000 bytes" in answer


def test_worker_threads_are_reused_and_bounded(serve: Any) -> None:
    server = serve(max_connections=8)
    for _ in range(200):
        with _connect(server) as s:
            s.sendall(_post(extra=b"Connection: close\r\n"))
            assert b"pong" in _read_response(s)
    workers = [t for t in threading.enumerate() if t.name.startswith(f"coledger-rpc-{server.port}-")]
    assert 1 <= len(workers) <= 8
