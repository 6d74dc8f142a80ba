"""Browsers and streaming clients at the front door: CORS for local (and listed) pages only,
chunked request bodies accepted and bounded — with raw HTTP and a real headless Chromium."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.cors import CorsPolicy, parse_origin
from tests.api.test_case_page_browser import browser  # noqa: F401 - the chromium fixture
from tests.node.conftest import NodeHandle


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            body += s.recv(65536)
        return int(lines[0].split()[1]), headers, body


def test_policy_allows_local_pages_and_listed_origins_only() -> None:
    policy = CorsPolicy.from_list(["https://remix.ethereum.org"])
    assert policy.allows("http://localhost:3000") and policy.allows("http://127.0.0.1")
    assert policy.allows("http://[::1]:8080") and policy.allows("https://remix.ethereum.org")
    for other in ("https://evil.example", "http://127.0.0.2:3000", "null", "", None,
                  "https://remix.ethereum.org.evil.example", "file://"):
        assert not policy.allows(other), other
    assert CorsPolicy.from_list(["*"]).allows("https://anything.example")
    with pytest.raises(ValueError, match="path"):
        parse_origin("https://remix.ethereum.org/ide")
    with pytest.raises(ValueError, match="http"):
        parse_origin("ftp://x")


@given(st.text(max_size=80))
def test_any_origin_header_is_answered_without_crashing(origin: str) -> None:
    assert CorsPolicy().allows(origin) in (True, False)


@pytest.fixture
def node(node_factory: Callable[..., NodeHandle]) -> NodeHandle:
    return node_factory(cors_origins=("https://remix.ethereum.org",))


def test_preflight_and_post_carry_the_grant_for_allowed_origins_only(node: NodeHandle) -> None:
    port = int(node.node.url.rsplit(":", 1)[1])
    ok = _raw(port, b"OPTIONS / HTTP/1.1\r\nHost: x\r\nOrigin: https://remix.ethereum.org\r\n"
                    b"Access-Control-Request-Method: POST\r\n"
                    b"Access-Control-Request-Headers: content-type\r\n\r\n")
    assert ok[0] == 204 and ok[1]["access-control-allow-origin"] == "https://remix.ethereum.org"
    assert "POST" in ok[1]["access-control-allow-methods"]
    refused = _raw(port, b"OPTIONS / HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n\r\n")
    assert refused[0] == 403 and "access-control-allow-origin" not in refused[1]
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
    post = _raw(port, b"POST / HTTP/1.1\r\nHost: x\r\nOrigin: http://localhost:5173\r\n"
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body))
    assert post[0] == 200 and post[1]["access-control-allow-origin"] == "http://localhost:5173"
    assert json.loads(post[2])["result"] == "0x539"


def test_chunked_bodies_are_read_and_bounded(node: NodeHandle) -> None:
    port = int(node.node.url.rsplit(":", 1)[1])
    body = b'{"jsonrpc":"2.0","id":7,"method":"eth_chainId","params":[]}'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 10]), body[i:i + 10])
                      for i in range(0, len(body), 10)) + b"0\r\n\r\n"
    status, _, answer = _raw(port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                   b"Content-Type: application/json\r\n\r\n" + chunks)
    assert status == 200 and json.loads(answer) == {"jsonrpc": "2.0", "id": 7, "result": "0x539"}
    status, _, answer = _raw(port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   b"zz\r\n")
    assert status == 400 and b"malformed" in answer
    huge = b"%x\r\n" % (65 * 1024 * 1024)
    status, _, answer = _raw(port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   + huge)
    assert status == 413 and b"exceeds the limit" in answer
    assert node.w3.eth.chain_id == 1337  # still serving


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        page = b"<!doctype html><title>dapp</title><p>dapp</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pages() -> Iterator[Callable[[str], str]]:
    servers: list[ThreadingHTTPServer] = []

    def serve(host: str) -> str:
        server = ThreadingHTTPServer((host, 0), _Page)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://{'localhost' if host == '127.0.0.1' else host}:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_local_dapp_page_calls_the_node_from_a_browser_and_a_foreign_one_cannot(
        browser: Any, node: NodeHandle, pages: Callable[[str], str]) -> None:  # noqa: F811
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    call = (f"fetch('{node.node.url}', {{method: 'POST', headers: {{'Content-Type': "
            f"'application/json'}}, body: '{request}'}})"
            ".then(r => r.json()).then(j => j.result, e => 'blocked')")

    def from_page(url: str) -> Any:
        browser.call("Page.navigate", url=url)
        browser.wait_event("Page.loadEventFired")
        result = browser.call("Runtime.evaluate", expression=call, returnByValue=True,
                              awaitPromise=True)
        return result["result"]["value"]

    assert from_page(pages("127.0.0.1")) == "0x539"  # served as http://localhost:PORT
    assert from_page(pages("127.0.0.9")) == "blocked"  # another origin, not listed

