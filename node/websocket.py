"""JSON-RPC over WebSocket on the HTTP port: the same dispatcher, plus eth_subscribe.

Why here and how: wallets' and libraries' WebSocket providers (web3.py, ethers, viem, cast)
connect to the JSON-RPC URL with ``ws://``. The HTTP server (:mod:`node.server`) checks the
Origin, reserves one of :attr:`WsLimits.max_connections` slots (separate from its own worker
pool), answers the upgrade and hands the socket over here; its HTTP worker is free again at
once. The framing is websockets' sans-I/O :class:`~websockets.server.ServerProtocol`, so this
module only moves bytes.

Each connection has two threads: a reader that feeds frames to the protocol and answers
messages in order (through :meth:`Dispatcher.handle_body`, so the same depth, size and batch
limits as HTTP apply), and a writer that drains a bounded outgoing queue. Notifications never
wait: a client that does not read what it subscribed to fills its queue
(:attr:`WsLimits.send_queue_messages` / :attr:`WsLimits.send_queue_bytes`), is sent close code
1008 and is cut off, with a log line; memory stays bounded whatever the client does. The
server pings an idle client every :attr:`WsLimits.ping_interval` seconds and drops one that
has sent nothing (not even the pong) for :attr:`WsLimits.ping_timeout` more.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from .subscriptions import Session, SubscriptionHub

__all__ = ["WsLimits", "WsManager", "WsDispatcher", "CLOSE_TOO_SLOW"]

log = logging.getLogger("coledger.node.websocket")

#: close code for a client that fell behind its notifications (policy violation)
CLOSE_TOO_SLOW = 1008
#: how often blocked socket reads/writes wake up to check deadlines
_TICK = 0.5
_EOF = b""


class WsDispatcher(Protocol):
    """node.rpc.Dispatcher as this module uses it: a body, and the connection's own methods."""

    def handle_body(self, body: bytes, session: Any = None) -> Any: ...


@dataclass(frozen=True)
class WsLimits:
    """Resource bounds of the WebSocket side of the JSON-RPC port."""

    max_connections: int = 128
    max_subscriptions: int = 128
    #: frames queued for the client (answers and notifications) before it counts as too slow
    send_queue_messages: int = 4096
    send_queue_bytes: int = 32 * 1024 * 1024
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    #: a write that makes no progress this long drops the connection
    write_timeout: float = 60.0
    #: after our close frame, how long the client has to close the TCP connection
    close_timeout: float = 2.0


class WsManager:
    """Owns the WebSocket connections: their slots, and closing them all on stop."""

    def __init__(self, dispatcher: WsDispatcher, hub: SubscriptionHub, limits: WsLimits,
                 max_message: int) -> None:
        self.dispatcher = dispatcher
        self.hub = hub
        self.limits = limits
        self.max_message = max_message
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._conns: set[_Connection] = set()
        self._lock = threading.Lock()
        self._stopping = False

    def __len__(self) -> int:
        return len(self._conns)

    def reserve(self) -> bool:
        """Take a connection slot for an upgrade about to be answered; False when full."""
        return not self._stopping and self._slots.acquire(blocking=False)

    def release(self) -> None:
        self._slots.release()

    def protocol(self) -> ServerProtocol:
        return ServerProtocol(max_size=self.max_message, logger=log)

    def handshake(self, proto: ServerProtocol, request_head: bytes) -> tuple[bool, bytes]:
        """Answer the upgrade request (already read by the HTTP server): (accepted, bytes)."""
        proto.receive_data(request_head)
        events = proto.events_received()
        if not events or not isinstance(events[0], Request):
            response = proto.reject(400, "Failed to open a WebSocket connection: "
                                         "malformed upgrade request.\n")
        else:
            response = proto.accept(events[0])
        proto.send_response(response)
        return response.status_code == 101, b"".join(proto.data_to_send())

    def adopt(self, sock: socket.socket, proto: ServerProtocol, leftover: bytes,
              peer: Any) -> None:
        """Serve an upgraded socket (its slot is already taken) until either side closes."""
        conn = _Connection(self, sock, proto, peer)
        with self._lock:
            self._conns.add(conn)
        conn.start(leftover)

    def _gone(self, conn: _Connection) -> None:
        with self._lock:
            self._conns.discard(conn)
        self._slots.release()

    def stop(self, timeout: float = 3.0) -> None:
        """Close every connection (1001 going away), forcibly after ``timeout``."""
        self._stopping = True
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c.close(1001, "node stopping")
        deadline = time.monotonic() + timeout
        for c in conns:
            c.join(max(0.0, deadline - time.monotonic()))
        for c in conns:
            c.abort()
            c.join(1.0)


class _Connection:
    """One WebSocket client: a reader thread, a writer thread and a bounded outgoing queue."""

    def __init__(self, manager: WsManager, sock: socket.socket, proto: ServerProtocol,
                 peer: Any) -> None:
        self._m = manager
        self._limits = manager.limits
        self._sock = sock
        self._proto = proto
        self._peer = peer
        self._cond = threading.Condition()
        self._out: deque[bytes] = deque()
        self._out_bytes = 0
        #: notifications raised while a message is being answered go out after its answer
        self._held: list[bytes] | None = None
        self._held_bytes = 0
        self._closed = False
        self._abort_at: float | None = None
        self._last_rx = time.monotonic()
        self._ping_at: float | None = None
        self._parts: list[bytes] = []
        self._leftover = b""
        self.session: Session = manager.hub.session(self._notify, self._limits.max_subscriptions)
        name = f"coledger-ws-{peer[1] if isinstance(peer, tuple) else peer}"
        self._reader = threading.Thread(target=self._read_loop, name=f"{name}-r", daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name=f"{name}-w", daemon=True)

    def start(self, leftover: bytes) -> None:
        self._leftover = leftover
        self._sock.settimeout(_TICK)
        self._writer.start()
        self._reader.start()

    def join(self, timeout: float) -> None:
        self._reader.join(timeout)

    # ---- outgoing -------------------------------------------------------------------------
    def _emit(self) -> None:
        """Queue what the protocol wants sent (caller holds ``_cond``)."""
        for chunk in self._proto.data_to_send():
            self._out.append(chunk)
            self._out_bytes += len(chunk)
        self._cond.notify_all()

    def _over(self, extra: int) -> bool:
        lim = self._limits
        held = len(self._held) if self._held is not None else 0
        return (len(self._out) + held >= lim.send_queue_messages
                or self._out_bytes + self._held_bytes + extra > lim.send_queue_bytes)

    def _notify(self, payload: bytes) -> None:
        """A notification (the hub's thread): queued, or the client is too slow and cut off."""
        with self._cond:
            if self._closed or self._proto.state is not State.OPEN:
                return
            if self._over(len(payload)):
                self._too_slow()
                return
            if self._held is not None:
                self._held.append(payload)
                self._held_bytes += len(payload)
                return
            self._proto.send_text(payload)
            self._emit()

    def _too_slow(self) -> None:
        log.warning("WebSocket client %s fell behind (%d frames, %d bytes queued for it): "
                    "closed with %d", self._peer, len(self._out), self._out_bytes,
                    CLOSE_TOO_SLOW)
        self._out.clear()
        self._out_bytes = 0
        self._held, self._held_bytes = None, 0
        self._proto.send_close(CLOSE_TOO_SLOW, "client too slow: its outgoing queue is full")
        self._emit()
        self._abort_at = time.monotonic() + self._limits.close_timeout

    def _answer(self, data: bytes | None) -> None:
        """Queue an answer (waits while the queue is full: a client that sends requests but
        does not read their answers stops being read), then the held notifications."""
        with self._cond:
            while (not self._closed and self._proto.state is State.OPEN
                   and self._out_bytes > self._limits.send_queue_bytes):
                self._cond.wait(_TICK)
            held, self._held, self._held_bytes = self._held or [], None, 0
            if self._closed or self._proto.state is not State.OPEN:
                return
            if data is not None:
                self._proto.send_text(data)
            for payload in held:
                self._proto.send_text(payload)
            self._emit()

    def _write_loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._out and not self._closed:
                        self._cond.wait(_TICK)
                        self._check_abort()
                    if not self._out:
                        return
                    chunk = self._out[0]
                if chunk == _EOF:
                    try:
                        self._sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                elif not self._send_all(chunk):
                    self.abort()
                    return
                with self._cond:
                    if self._out and self._out[0] is chunk:
                        self._out.popleft()
                        self._out_bytes -= len(chunk)
                    self._cond.notify_all()
        except Exception:
            log.exception("WebSocket writer for %s failed", self._peer)
            self.abort()

    def _send_all(self, chunk: bytes) -> bool:
        view = memoryview(chunk)
        stalled_since = time.monotonic()
        while view:
            try:
                sent = self._sock.send(view)
            except TimeoutError:
                with self._cond:
                    self._check_abort()
                    if self._closed:
                        return False
                if time.monotonic() - stalled_since > self._limits.write_timeout:
                    log.warning("WebSocket client %s read nothing for %.0f s: dropped",
                                self._peer, self._limits.write_timeout)
                    return False
                continue
            except OSError:
                return False
            view = view[sent:]
            stalled_since = time.monotonic()
        return True

    # ---- incoming -------------------------------------------------------------------------
    def _read_loop(self) -> None:
        try:
            if self._leftover and not self._receive(self._leftover):
                return
            while True:
                try:
                    data = self._sock.recv(65536)
                except TimeoutError:
                    if not self._tick():
                        return
                    continue
                except OSError:
                    data = b""
                if not self._receive(data):
                    return
        except Exception:
            log.exception("WebSocket reader for %s failed", self._peer)
        finally:
            self._finish()

    def _receive(self, data: bytes) -> bool:
        """Feed bytes (b"": end of stream) and answer complete messages; False when done."""
        with self._cond:
            if data:
                self._proto.receive_data(data)
            else:
                self._proto.receive_eof()
            events = self._proto.events_received()
            self._emit()
            if self._proto.close_expected() and self._abort_at is None:
                self._abort_at = time.monotonic() + self._limits.close_timeout
        self._last_rx, self._ping_at = time.monotonic(), None
        for frame in events:
            if not isinstance(frame, Frame):
                continue
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                self._parts = [bytes(frame.data)]
            elif frame.opcode is Opcode.CONT:
                self._parts.append(bytes(frame.data))
            else:
                continue
            if frame.fin:
                message, self._parts = b"".join(self._parts), []
                self._handle(message)
        return bool(data) and self._proto.state is not State.CLOSED and not self._closed

    def _handle(self, message: bytes) -> None:
        with self._cond:
            self._held = []
        answer = None
        try:
            answer = self._m.dispatcher.handle_body(message, self.session.methods)
        finally:
            if answer is not None and not isinstance(answer, bytes):
                answer = json.dumps(answer, separators=(",", ":")).encode()
            self._answer(answer)

    def _tick(self) -> bool:
        """Deadlines while the client is quiet; False when the connection is over."""
        now = time.monotonic()
        with self._cond:
            self._check_abort()
            if self._closed:
                return False
            if self._proto.state is not State.OPEN:
                return True
            lim = self._limits
            if self._ping_at is None and now - self._last_rx >= lim.ping_interval:
                self._proto.send_ping(b"coledger")
                self._emit()
                self._ping_at = now
            elif self._ping_at is not None and now - self._ping_at >= lim.ping_timeout:
                log.info("WebSocket client %s did not answer a ping: closed", self._peer)
                self._proto.send_close(1011, "keepalive ping timeout")
                self._emit()
                self._abort_at = now + lim.close_timeout
        return True

    # ---- closing -----------------------------------------------------------------------
    def _check_abort(self) -> None:
        """Caller holds ``_cond``: past the close deadline, the socket is shut."""
        if self._abort_at is not None and time.monotonic() >= self._abort_at:
            self._abort_locked()

    def _abort_locked(self) -> None:
        if not self._closed:
            self._closed = True
            self._out.clear()
            self._out_bytes = 0
            self._held = None
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._cond.notify_all()

    def abort(self) -> None:
        with self._cond:
            self._abort_locked()

    def close(self, code: int, reason: str) -> None:
        """Start a clean close: a close frame, then the socket after ``close_timeout``."""
        with self._cond:
            if self._closed:
                return
            if self._proto.state is State.OPEN:
                self._proto.send_close(code, reason)
                self._emit()
            self._abort_at = time.monotonic() + self._limits.close_timeout

    def _finish(self) -> None:
        self.session.close()
        with self._cond:  # let the writer flush a close frame that is already queued
            deadline = time.monotonic() + self._limits.close_timeout
            while self._out and not self._closed and time.monotonic() < deadline:
                self._cond.wait(_TICK)
        self.abort()
        self._writer.join(self._limits.close_timeout + 1)
        try:
            self._sock.close()
        except OSError:
            pass
        self._m._gone(self)
