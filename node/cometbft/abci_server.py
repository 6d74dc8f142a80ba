"""ABCI socket server: serves an `Application` to CometBFT over a unix or TCP socket.

CometBFT opens four connections (query, snapshot, mempool, consensus), each a strict in-order
request/response stream. Each connection gets its own thread that answers its requests in the
order received; nothing is serialized across connections, because CometBFT runs CheckTx on the
mempool connection while FinalizeBlock runs on the consensus connection, and the application is
the only one who knows what must be locked.

Responses are buffered and written when every request already received has been answered, which
always includes a pending Flush: CometBFT ends each synchronous call with Flush and waits for it.
An exception in an application method is answered with `Response.exception` (CometBFT then stops,
the right outcome for a consensus fault); a malformed frame closes only its own connection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from node.cometbft.application import REQUEST_KINDS, Application
from node.cometbft.proto import abci
from node.cometbft.wire import (
    DEFAULT_MAX_MESSAGE_SIZE,
    FrameDecoder,
    TruncatedFrameError,
    WireError,
    encode_frame,
    parse_request,
)

__all__ = [
    "AbciServer",
    "AbciServerError",
    "AddressInUseError",
    "ConnectionLost",
    "InvalidAddressError",
    "SocketDirectoryMissingError",
]

_log = logging.getLogger(__name__)
_RECV_SIZE = 1 << 20

# The connection a request kind identifies (Echo and Flush are sent on all of them).
_KIND_OF_REQUEST = {
    "info": "query", "query": "query",
    "list_snapshots": "snapshot", "offer_snapshot": "snapshot",
    "load_snapshot_chunk": "snapshot", "apply_snapshot_chunk": "snapshot",
    "check_tx": "mempool",
    "init_chain": "consensus", "prepare_proposal": "consensus", "process_proposal": "consensus",
    "extend_vote": "consensus", "verify_vote_extension": "consensus",
    "finalize_block": "consensus", "commit": "consensus",
}  # fmt: skip


class AbciServerError(Exception):
    """Root of failures to start serving ABCI."""


class InvalidAddressError(AbciServerError, ValueError):
    """An address that is not `unix:///path`, a bare path, or `tcp://host:port`."""


class SocketDirectoryMissingError(AbciServerError, FileNotFoundError):
    """The unix socket's parent directory does not exist (it is not created: it is the operator's)."""


class AddressInUseError(AbciServerError, OSError):
    """Another process is listening on the address, or a non-socket file occupies the path."""


@dataclass(frozen=True)
class ConnectionLost:
    """What `on_connection_lost` receives: which connection dropped, and why (None = clean EOF)."""

    number: int  # 1-based accept order: CometBFT 0.38 opens query, snapshot, mempool, consensus
    kind: str  # "query" | "snapshot" | "mempool" | "consensus" | "unknown" (from requests seen)
    error: BaseException | None


@dataclass
class _Connection:
    number: int
    sock: socket.socket
    kind: str = "unknown"
    thread: threading.Thread | None = field(default=None, repr=False)


def _parse_address(address: str) -> tuple[socket.AddressFamily, str | tuple[str, int]]:
    if address.startswith("tcp://"):
        host, sep, port = address.removeprefix("tcp://").rpartition(":")
        if not sep or not port.isdigit():
            raise InvalidAddressError(f"expected tcp://host:port, got {address!r}")
        return socket.AF_INET6 if ":" in host else socket.AF_INET, (host.strip("[]"), int(port))
    if address.startswith("unix://"):
        address = address.removeprefix("unix://")
    elif "://" in address:
        raise InvalidAddressError(f"unsupported scheme in {address!r}: use unix:// or tcp://")
    if not address:
        raise InvalidAddressError("empty unix socket path")
    return socket.AF_UNIX, address


def _remove_stale_socket(path: Path) -> None:
    """Unlink a socket file left by a dead server; refuse to touch a live one or a regular file."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise AddressInUseError(f"{path} exists and is not a socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise AddressInUseError(f"another process is serving on {path}")


class AbciServer:
    """Serves `app` on `address` until `stop()`; one thread per CometBFT connection."""

    def __init__(
        self,
        app: Application,
        address: str,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        on_connection_lost: Callable[[ConnectionLost], None] | None = None,
    ) -> None:
        self._app = app
        self._family, self._bind_to = _parse_address(address)
        self._address = address
        self._max_message_size = max_message_size
        self._on_connection_lost = on_connection_lost
        self._handlers = {kind: getattr(app, kind) for kind in REQUEST_KINDS}
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._connections: dict[int, _Connection] = {}
        self._lock = threading.Lock()
        self._accepted = 0
        self._stopping = threading.Event()

    @property
    def address(self) -> str:
        """Where CometBFT should connect (`proxy_app`); for tcp port 0, the port actually bound."""
        return self._address

    @property
    def connection_count(self) -> int:
        """Connections currently open (4 once CometBFT is up)."""
        with self._lock:
            return len(self._connections)

    def start(self) -> None:
        """Bind and listen, then accept in a background thread; returns once connectable."""
        if self._listener is not None:
            raise AbciServerError("server already started")
        listener = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            if self._family == socket.AF_UNIX:
                self._bind_unix(listener, Path(str(self._bind_to)))
            else:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    listener.bind(self._bind_to)
                except OSError as e:
                    raise AddressInUseError(f"cannot bind {self._address}: {e}") from e
                host, port = listener.getsockname()[:2]
                self._address = f"tcp://{f'[{host}]' if ':' in host else host}:{port}"
            listener.listen(16)
        except BaseException:
            listener.close()
            raise
        self._stopping.clear()
        self._listener = listener
        self._accept_thread = threading.Thread(target=self._accept_loop, name="abci-accept", daemon=True)
        self._accept_thread.start()
        _log.info("ABCI server listening on %s", self._address)

    def _bind_unix(self, listener: socket.socket, path: Path) -> None:
        if not path.parent.is_dir():
            raise SocketDirectoryMissingError(f"socket directory {path.parent} does not exist")
        _remove_stale_socket(path)
        # The socket carries consensus: only our user may connect. umask makes it 0600 from birth.
        old_umask = os.umask(0o177)
        try:
            listener.bind(str(path))
        except OSError as e:
            raise (InvalidAddressError if "too long" in str(e) else AddressInUseError)(
                f"cannot bind {path}: {e}"
            ) from e
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        self._address = f"unix://{path}"

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every connection, join the threads, remove the socket file."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        listener.close()
        with self._lock:
            connections = list(self._connections.values())
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        for thread in [self._accept_thread, *(c.thread for c in connections)]:
            if thread is not None:
                thread.join(timeout)
        if self._family == socket.AF_UNIX:
            Path(str(self._bind_to)).unlink(missing_ok=True)
        _log.info("ABCI server on %s stopped", self._address)

    def __enter__(self) -> AbciServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            try:
                sock, _peer = listener.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                _log.exception("ABCI accept failed")
                continue
            if self._family != socket.AF_UNIX:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._accepted += 1
                conn = _Connection(self._accepted, sock)
                self._connections[conn.number] = conn
            name = f"abci-conn-{conn.number}"
            conn.thread = threading.Thread(target=self._serve, args=(conn,), name=name, daemon=True)
            conn.thread.start()

    def _serve(self, conn: _Connection) -> None:
        decoder = FrameDecoder(self._max_message_size)
        error: BaseException | None = None
        try:
            while True:
                data = conn.sock.recv(_RECV_SIZE)
                if not data:
                    if decoder.buffered:
                        raise TruncatedFrameError(f"connection closed inside a frame ({decoder.buffered} bytes)")
                    break
                out = bytearray()
                for body in decoder.feed(data):
                    out += encode_frame(self._answer(conn, parse_request(body)))
                if out:
                    conn.sock.sendall(out)
        except WireError as e:
            error = e
            _log.error("ABCI connection %d (%s): bad frame, closing it: %s", conn.number, conn.kind, e)
        except OSError as e:
            error = e
            if not self._stopping.is_set():
                _log.warning("ABCI connection %d (%s) failed: %s", conn.number, conn.kind, e)
        finally:
            with self._lock:
                self._connections.pop(conn.number, None)
            conn.sock.close()
        if self._on_connection_lost is not None and not self._stopping.is_set():
            try:
                self._on_connection_lost(ConnectionLost(conn.number, conn.kind, error))
            except Exception:
                _log.exception("on_connection_lost callback failed")

    def _answer(self, conn: _Connection, request: abci.Request) -> abci.Response:
        kind = request.WhichOneof("value")
        if kind is None:
            return abci.Response(exception=abci.ResponseException(error="empty or unknown ABCI request"))
        if conn.kind == "unknown" and kind in _KIND_OF_REQUEST:
            conn.kind = _KIND_OF_REQUEST[kind]
        try:
            return abci.Response(**{kind: self._handlers[kind](getattr(request, kind))})
        except Exception as e:
            _log.exception("ABCI %s on connection %d (%s) raised", kind, conn.number, conn.kind)
            return abci.Response(exception=abci.ResponseException(error=f"{kind}: {type(e).__name__}: {e}"))
