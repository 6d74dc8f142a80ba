"""HTTP/1.1 transport for the JSON-RPC dispatcher (127.0.0.1, keep-alive, threaded).

Why the standard library: the node must start in-process and as a subprocess with no
extra services; ThreadingHTTPServer with HTTP/1.1 gives concurrent keep-alive clients,
and all chain access is serialized behind the core's lock anyway.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .rpc import Dispatcher

__all__ = ["RpcHttpServer"]

log = logging.getLogger("coledger.node.server")

MAX_BODY = 64 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms per request on Linux). TCP_NODELAY sends both at once.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        self._send(405, b'{"error": "use POST with a JSON-RPC 2.0 body"}')

    def do_POST(self) -> None:  # noqa: N802
        try:
            length = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._send(411 if length < 0 else 413,
                       b'{"error": "Content-Length required, at most 64 MiB"}')
            self.close_connection = True
            return
        body = self.rfile.read(length)
        response = self.server.dispatcher.handle_body(body)
        if response is None:
            self._send(200, b"")
            return
        self._send(200, json.dumps(response, separators=(",", ":")).encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        super().__init__(addr, _Handler)


class RpcHttpServer:
    """Owns the listening socket and its serving thread."""

    def __init__(self, host: str, port: int, dispatcher: Dispatcher) -> None:
        if host == "localhost":
            host = "127.0.0.1"
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the node only listens on loopback (127.0.0.0/8), not {host}")
        self.host = host
        self._server = _Server((host, port), dispatcher)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
            name="coledger-rpc", daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting; in-flight handlers finish on their daemon threads."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
