"""HTTP/1.1 transport for the JSON-RPC dispatcher (127.0.0.1, keep-alive, bounded).

Why the standard library: the node must start in-process and as a subprocess with no
extra services, and all chain access is serialized behind the core's lock anyway. What the
stdlib server lacks is bounds, so they are added here (issue 12, defect 3):

- at most ``max_connections`` open connections, served by a pool of as many reusable worker
  threads; one more gets an immediate 503 and is closed (never an unbounded thread per client);
- a connection idle between requests for ``idle_timeout`` is closed (keep-alive timeout);
- a request (line, headers and body) must arrive within ``request_timeout`` of its first byte,
  so a client that trickles bytes (slowloris) is dropped; a watchdog thread enforces both
  deadlines by shutting the socket down, which wakes the blocked read;
- bodies over ``max_body`` are refused with 413 before they are read.

A GET asking to upgrade to WebSocket (same host and port) is answered here and the socket is
handed to :mod:`node.websocket`, which serves it with its own bounded set of connections; the
Origin rules of :mod:`node.cors` apply to the upgrade as to any browser request.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Protocol, cast

from ._guard import sane_recursion_limit
from .cors import CorsPolicy
from .subscriptions import SubscriptionHub
from .websocket import WsDispatcher, WsLimits, WsManager

__all__ = ["RpcHttpServer", "ServerLimits", "MAX_BODY"]

log = logging.getLogger("coledger.node.server")

MAX_BODY = 64 * 1024 * 1024


class _Dispatcher(Protocol):
    def handle_body(self, body: bytes) -> Any: ...


@dataclass(frozen=True)
class ServerLimits:
    """Resource bounds of the JSON-RPC front door."""

    max_connections: int = 512
    idle_timeout: float = 60.0
    request_timeout: float = 15.0
    max_body: int = MAX_BODY
    #: a response write (sendall) that takes longer than this drops the connection
    write_timeout: float = 60.0
    #: which browser pages may read the answers (see node.cors)
    cors: CorsPolicy = field(default_factory=CorsPolicy)
    #: bounds of the WebSocket connections upgraded on the same port (node.websocket)
    ws: WsLimits = field(default_factory=WsLimits)


class _BadBody(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms per request on Linux). TCP_NODELAY sends both at once.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        self.timeout = self.server.limits.write_timeout  # backstop on every socket operation
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)

    def handle_one_request(self) -> None:
        watchdog, limits = self.server.watchdog, self.server.limits
        watchdog.watch(self.connection, limits.idle_timeout, idle=True)
        try:
            first = self.rfile.peek(1)  # wait for the next request's first byte
        except OSError:
            first = b""
        if not first:
            self.close_connection = True
            return
        watchdog.watch(self.connection, limits.request_timeout, idle=False)
        super().handle_one_request()

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              extra: dict[str, str] | None = None) -> None:
        self.server.watchdog.unwatch(self.connection)  # the request is in; now answer it
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _cors_headers(self) -> dict[str, str]:
        origin = self.headers.get("Origin")
        if origin is None or not self.server.limits.cors.allows(origin):
            return {"Vary": "Origin"} if origin is not None else {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def do_OPTIONS(self) -> None:  # noqa: N802
        """A browser's CORS preflight: allowed origins may POST JSON; others get no grant."""
        headers = self._cors_headers()
        if "Access-Control-Allow-Origin" not in headers:
            self._send(403, b'{"error": "this origin may not call the node (see --cors-origin)"}',
                       extra=headers)
            return
        asked = self.headers.get("Access-Control-Request-Headers", "content-type")
        self._send(204, b"", extra={**headers, "Access-Control-Allow-Methods": "POST, OPTIONS",
                                    "Access-Control-Allow-Headers": asked[:200],
                                    "Access-Control-Max-Age": "600"})

    def _read_chunked(self, max_body: int) -> bytes:
        """A ``Transfer-Encoding: chunked`` body, bounded by ``max_body``; raises
        :class:`_BadBody` (status, message) when malformed, cut off or too large."""
        body = bytearray()
        while True:
            line = self.rfile.readline(64)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadBody(400, "malformed chunked request body") from None
            if size < 0:
                raise _BadBody(400, "malformed chunked request body")
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields: ignored
                return bytes(body)
            if len(body) + size > max_body:
                raise _BadBody(413, f"chunked request body exceeds the limit of {max_body} bytes")
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(8) not in (b"\r\n", b"\n"):
                raise _BadBody(400, "chunked request body cut off or malformed")
            body += chunk

    def do_GET(self) -> None:  # noqa: N802
        """A WebSocket upgrade; any other GET is told how to call the node."""
        ws = self.server.ws
        if ws is None or "websocket" not in self.headers.get("Upgrade", "").lower():
            self.close_connection = True
            self._send(405, b'{"error": "JSON-RPC is POST (HTTP) or a WebSocket upgrade (ws://)"}',
                       extra={"Allow": "POST, OPTIONS"})
            return
        origin = self.headers.get("Origin")
        if origin is not None and not self.server.limits.cors.allows(origin):
            self.close_connection = True
            self._send(403, b'{"error": "this origin may not call the node (see --cors-origin)"}',
                       extra={"Vary": "Origin"})
            return
        if not ws.reserve():
            self.close_connection = True
            log.warning("WebSocket upgrade from %s refused: %d connections open (the limit)",
                        self.client_address, self.server.limits.ws.max_connections)
            self._send(503, _BUSY_WS, extra={"Retry-After": "1"})
            return
        adopted = False
        try:
            proto = ws.protocol()
            head = "".join([f"{self.requestline}\r\n",
                            *(f"{k}: {v}\r\n" for k, v in self.headers.items()), "\r\n"])
            accepted, answer = ws.handshake(proto, head.encode("latin-1"))
            self.server.watchdog.unwatch(self.connection)
            self.close_connection = True
            self.wfile.write(answer)
            if not accepted:
                return
            self.connection.setblocking(False)  # what the client sent after the upgrade
            try:
                leftover = self.rfile.read1(65536) or b""
            except OSError:
                leftover = b""
            self.server.detach(self.connection)
            adopted = True
            ws.adopt(self.connection, proto, leftover, self.client_address)
        finally:
            if not adopted:
                ws.release()

    def do_POST(self) -> None:  # noqa: N802
        max_body = self.server.limits.max_body
        cors = self._cors_headers()
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            try:
                body = self._read_chunked(max_body)
            except _BadBody as bad:
                self.close_connection = True
                self._send(bad.status, json.dumps({"error": bad.message}).encode(), extra=cors)
                return
        else:
            try:
                length = int(self.headers.get("Content-Length", "-1"))
            except ValueError:
                length = -1
            if length < 0:
                self.close_connection = True
                self._send(411, b'{"error": "Content-Length (or chunked encoding) required"}',
                           extra=cors)
                return
            if length > max_body:
                self.close_connection = True
                self._send(413, json.dumps({"error": f"request body of {length} bytes exceeds "
                                            f"the limit of {max_body} bytes"}).encode(), extra=cors)
                return
            body = self.rfile.read(length)
            if len(body) < length:  # the client went away, or the watchdog cut it off
                self.close_connection = True
                return
        self.server.watchdog.unwatch(self.connection)
        response = self.server.dispatcher.handle_body(body)
        if response is None:
            self._send(200, b"", extra=cors)
            return
        if not isinstance(response, bytes):  # a batch's answer comes encoded already
            response = json.dumps(response, separators=(",", ":")).encode()
        self._send(200, response, extra=cors)


class _Watchdog:
    """Shuts down connections whose deadline passed (idle keep-alive, or a slow request)."""

    def __init__(self, tick: float = 0.25) -> None:
        self._deadlines: dict[socket.socket, tuple[float, bool]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._tick = tick
        self._thread = threading.Thread(target=self._run, name="coledger-rpc-watchdog",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def watch(self, conn: socket.socket, seconds: float, idle: bool) -> None:
        with self._lock:
            self._deadlines[conn] = (time.monotonic() + seconds, idle)

    def unwatch(self, conn: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(conn, None)

    def _run(self) -> None:
        while not self._stopped.wait(self._tick):
            now = time.monotonic()
            with self._lock:
                expired = [c for c, (t, _) in self._deadlines.items() if t <= now]
                for conn in expired:
                    del self._deadlines[conn]
            for conn in expired:
                _shut(conn)

    def stop(self) -> None:
        """Stop watching; connections idle between requests are closed now."""
        self._stopped.set()
        with self._lock:
            idle = [c for c, (_, is_idle) in self._deadlines.items() if is_idle]
            self._deadlines.clear()
        for conn in idle:
            _shut(conn)
        self._thread.join(timeout=5)


def _shut(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Workers:
    """A pool of reusable daemon threads, started on demand; the caller bounds the jobs in flight
    (the server's connection slots), so the threads never outnumber ``max_connections``."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads = 0
        self._name = name

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1
            else:
                self._threads += 1
                threading.Thread(target=self._run, name=f"{self._name}-{self._threads}",
                                 daemon=True).start()
        self._jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except Exception:  # a job never takes its worker down
                log.exception("connection handler failed")
            with self._lock:
                self._idle += 1

    def stop(self) -> None:
        """Idle workers exit now, busy ones after their current connection."""
        with self._lock:
            count = self._threads
        for _ in range(count):
            self._jobs.put(None)


_BUSY = json.dumps({"jsonrpc": "2.0", "id": None, "error": {
    "code": -32005, "message": "server busy: too many open connections; retry shortly"}}).encode()


_BUSY_WS = json.dumps({"error": "server busy: too many WebSocket connections; retry shortly"}
                      ).encode()


class _Server(HTTPServer):
    allow_reuse_address = True
    request_queue_size = 1024  # a burst of connects waits in the backlog, not in SYN retries

    def __init__(self, addr: tuple[str, int], dispatcher: _Dispatcher,
                 limits: ServerLimits, ws: WsManager | None = None) -> None:
        self.dispatcher = dispatcher
        self.limits = limits
        self.ws = ws
        self._detached: set[int] = set()
        self._detached_lock = threading.Lock()
        self.watchdog = _Watchdog()
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        super().__init__(addr, _Handler)
        self.workers = _Workers(f"coledger-rpc-{self.server_address[1]}")

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return

        def serve() -> None:
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.watchdog.unwatch(request)
                with self._detached_lock:
                    detached = id(request) in self._detached
                    self._detached.discard(id(request))
                if not detached:
                    self.shutdown_request(request)
                self._slots.release()

        self.workers.submit(serve)

    def detach(self, request: socket.socket) -> None:
        """The socket now belongs to a WebSocket connection: serve() must not close it."""
        with self._detached_lock:
            self._detached.add(id(request))

    def _refuse(self, request: socket.socket) -> None:
        """503 and close, from the accepting thread, without waiting on the client."""
        try:
            request.setblocking(False)
            request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json"
                            b"\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: "
                            + str(len(_BUSY)).encode() + b"\r\n\r\n" + _BUSY)
            request.shutdown(socket.SHUT_WR)
            request.recv(65536)  # what already arrived, so that close sends FIN rather than RST
        except OSError:
            pass
        request.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s failed", client_address, exc_info=True)


class RpcHttpServer:
    """Owns the listening socket and its serving thread."""

    def __init__(self, host: str, port: int, dispatcher: _Dispatcher,
                 limits: ServerLimits | None = None,
                 hub: SubscriptionHub | None = None) -> None:
        """``hub``: with one, GET upgrades to WebSocket are served (node.websocket)."""
        if host == "localhost":
            host = "127.0.0.1"
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the node only listens on loopback (127.0.0.0/8), not {host}")
        sane_recursion_limit()  # serving threads never run with py_ecc's 100,000
        self.host = host
        self.limits = limits or ServerLimits()
        # with a hub the dispatcher is node.rpc's, which also takes a connection's methods
        self.ws = None if hub is None else WsManager(cast(WsDispatcher, dispatcher), hub,
                                                     self.limits.ws, self.limits.max_body)
        self._server = _Server((host, port), dispatcher, self.limits, self.ws)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
            name="coledger-rpc", daemon=True,
        )

    def start(self) -> None:
        self._server.watchdog.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and close idle keep-alive connections; in-flight requests finish."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self.ws is not None:
            self.ws.stop()
        self._server.watchdog.stop()
        self._server.workers.stop()
