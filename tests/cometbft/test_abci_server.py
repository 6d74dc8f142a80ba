"""AbciServer with a raw-socket client: ordering, flushing, failures, isolation of connections."""

from __future__ import annotations

import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.cometbft.abci_server import (
    AbciServer,
    AddressInUseError,
    ConnectionLost,
    InvalidAddressError,
    SocketDirectoryMissingError,
)
from node.cometbft.application import Application
from node.cometbft.proto import abci
from node.cometbft.wire import (
    MalformedVarintError,
    MessageTooLargeError,
    UndecodableMessageError,
    encode_frame,
    encode_uvarint,
    parse_response,
    read_frame,
)

FLUSH = abci.Request(flush=abci.RequestFlush())


class Client:
    """A blocking ABCI client: what CometBFT does, one request batch then Flush."""

    def __init__(self, address: str) -> None:
        if address.startswith("tcp://"):
            host, _, port = address.removeprefix("tcp://").rpartition(":")
            self.sock = socket.create_connection((host, int(port)), timeout=10)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(10)
            self.sock.connect(address.removeprefix("unix://"))
        self.stream = self.sock.makefile("rb")

    def send(self, *requests: abci.Request) -> None:
        self.sock.sendall(b"".join(encode_frame(r) for r in requests))

    def receive(self, count: int) -> list[abci.Response]:
        out = []
        for _ in range(count):
            body = read_frame(self.stream)
            assert body is not None, "server closed the connection"
            out.append(parse_response(body))
        return out

    def call(self, request: abci.Request) -> abci.Response:
        self.send(request, FLUSH)
        response, flushed = self.receive(2)
        assert flushed.WhichOneof("value") == "flush"
        return response

    def closed_by_server(self) -> bool:
        return self.stream.read(1) == b""

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


class Gate(Application):
    """FinalizeBlock blocks until released; fails loudly on demand."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        self.entered.set()
        assert self.release.wait(10)
        return super().finalize_block(req)

    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        if req.path == "/boom":
            raise RuntimeError("state is corrupt")
        if req.path == "/wrong-type":
            return abci.ResponseInfo()  # type: ignore[return-value]
        return super().query(req)


@pytest.fixture
def lost() -> list[ConnectionLost]:
    return []


@pytest.fixture
def server(tmp_path: Path, lost: list[ConnectionLost]) -> Iterator[AbciServer]:
    srv = AbciServer(Gate(), f"unix://{tmp_path}/abci.sock", max_message_size=4096, on_connection_lost=lost.append)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def wait_until(predicate: object, timeout: float = 5.0) -> None:
    done = threading.Event()
    deadline = timeout
    while deadline > 0 and not predicate():  # type: ignore[operator]
        done.wait(0.01)
        deadline -= 0.01
    assert predicate(), "condition not reached"  # type: ignore[operator]


def echo(message: str) -> abci.Request:
    return abci.Request(echo=abci.RequestEcho(message=message))


def test_echo_and_flush_round_trip_on_a_0600_unix_socket(server: AbciServer, tmp_path: Path) -> None:
    assert server.address == f"unix://{tmp_path}/abci.sock"
    mode = (tmp_path / "abci.sock").stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    client = Client(server.address)
    try:
        assert client.call(echo("ping")).echo.message == "ping"
        wait_until(lambda: server.connection_count == 1)
    finally:
        client.close()
    wait_until(lambda: server.connection_count == 0)


def test_pipelined_requests_are_answered_in_order(server: AbciServer) -> None:
    client = Client(server.address)
    try:
        client.send(*(echo(str(i)) for i in range(300)), FLUSH)
        responses = client.receive(301)
        assert [r.echo.message for r in responses[:300]] == [str(i) for i in range(300)]
        assert responses[300].WhichOneof("value") == "flush"
    finally:
        client.close()


def test_app_exception_becomes_response_exception_and_connection_survives(server: AbciServer) -> None:
    client = Client(server.address)
    try:
        response = client.call(abci.Request(query=abci.RequestQuery(path="/boom")))
        assert response.WhichOneof("value") == "exception"
        assert "RuntimeError: state is corrupt" in response.exception.error
        wrong = client.call(abci.Request(query=abci.RequestQuery(path="/wrong-type")))
        assert wrong.WhichOneof("value") == "exception"
        assert client.call(abci.Request(query=abci.RequestQuery(path="/ok"))).query.code == 0
        empty = client.call(abci.Request())
        assert "unknown ABCI request" in empty.exception.error
    finally:
        client.close()


@pytest.mark.parametrize(
    ("garbage", "error"),
    [
        (b"\xff" * 10 + b"\x01", MalformedVarintError),
        (encode_uvarint(4097), MessageTooLargeError),
        (b"\x03\x0a\x05a", UndecodableMessageError),
    ],
)
def test_bad_frame_closes_only_its_connection(
    server: AbciServer, lost: list[ConnectionLost], garbage: bytes, error: type[Exception]
) -> None:
    good, bad = Client(server.address), Client(server.address)
    try:
        assert good.call(echo("before")).echo.message == "before"
        bad.sock.sendall(garbage)
        assert bad.closed_by_server()
        wait_until(lambda: len(lost) == 1)
        assert isinstance(lost[0].error, error) and lost[0].number == 2
        assert good.call(echo("after")).echo.message == "after"
        fresh = Client(server.address)
        assert fresh.call(echo("new")).echo.message == "new"
        fresh.close()
    finally:
        good.close()
        bad.close()


def test_connections_are_not_serialized_against_each_other(tmp_path: Path) -> None:
    app = Gate()
    with AbciServer(app, str(tmp_path / "abci.sock")) as srv:
        consensus, mempool = Client(srv.address), Client(srv.address)
        try:
            consensus.send(abci.Request(finalize_block=abci.RequestFinalizeBlock(txs=[b"x"])), FLUSH)
            assert app.entered.wait(5)
            # CheckTx must be answered while FinalizeBlock is still running on the other connection
            assert mempool.call(abci.Request(check_tx=abci.RequestCheckTx(tx=b"y"))).check_tx.code == 0
            app.release.set()
            finalized, _ = consensus.receive(2)
            assert len(finalized.finalize_block.tx_results) == 1
        finally:
            app.release.set()
            consensus.close()
            mempool.close()


def test_connection_kind_is_learned_from_requests(server: AbciServer, lost: list[ConnectionLost]) -> None:
    query, mempool = Client(server.address), Client(server.address)
    query.call(abci.Request(info=abci.RequestInfo()))
    mempool.call(abci.Request(check_tx=abci.RequestCheckTx(tx=b"t")))
    query.close()
    wait_until(lambda: len(lost) == 1)
    mempool.close()
    wait_until(lambda: len(lost) == 2)
    assert [(c.number, c.kind, c.error) for c in lost] == [(1, "query", None), (2, "mempool", None)]


def test_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "abci.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens
    with AbciServer(Application(), f"unix://{path}") as srv:
        client = Client(srv.address)
        assert client.call(echo("fresh")).echo.message == "fresh"
        client.close()
    assert not path.exists()


def test_live_socket_or_regular_file_at_the_path_is_refused(server: AbciServer, tmp_path: Path) -> None:
    with pytest.raises(AddressInUseError, match="another process"):
        AbciServer(Application(), server.address).start()
    regular = tmp_path / "data.db"
    regular.write_bytes(b"precious")
    with pytest.raises(AddressInUseError, match="not a socket"):
        AbciServer(Application(), str(regular)).start()
    assert regular.read_bytes() == b"precious"


def test_missing_socket_directory_and_bad_addresses_are_named_errors(tmp_path: Path) -> None:
    with pytest.raises(SocketDirectoryMissingError):
        AbciServer(Application(), f"unix://{tmp_path}/nope/abci.sock").start()
    for address in ("http://x:1", "tcp://127.0.0.1", "tcp://host:port", "unix://"):
        with pytest.raises(InvalidAddressError):
            AbciServer(Application(), address)


def test_tcp_port_zero_reports_the_bound_port() -> None:
    with AbciServer(Application(), "tcp://127.0.0.1:0") as srv:
        port = int(srv.address.rpartition(":")[2])
        assert port > 0
        client = Client(srv.address)
        assert client.call(echo("tcp")).echo.message == "tcp"
        client.close()


def test_stop_closes_live_connections_without_reporting_them_lost(tmp_path: Path) -> None:
    lost: list[ConnectionLost] = []
    srv = AbciServer(Application(), str(tmp_path / "abci.sock"), on_connection_lost=lost.append)
    srv.start()
    client = Client(srv.address)
    client.call(echo("x"))
    srv.stop()
    assert client.closed_by_server()
    assert srv.connection_count == 0 and lost == []
    assert not os.path.exists(tmp_path / "abci.sock")
    client.close()
