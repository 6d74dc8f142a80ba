"""The node's front door against hostile input (issue 12): a depth bomb, internal error text,
a leak of files per connection, slow and excess clients. The node runs as a process where a
crash or a file-descriptor leak is what is being tested.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account

from tests.conftest import free_port, start_embedded_node, wait_for_rpc


@dataclass
class NodeProcess:
    proc: subprocess.Popen[bytes]
    url: str
    port: int

    def post(self, body: bytes) -> Any:
        resp = requests.post(self.url, data=body, headers={"Content-Type": "application/json"},
                             timeout=60)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        return self.post(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                                     "params": params or []}).encode())

    def assert_alive(self) -> None:
        assert self.proc.poll() is None, self.proc.stderr.read().decode()  # type: ignore[union-attr]
        assert self.call("eth_chainId")["result"] == "0x539"

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))


@pytest.fixture(scope="module")
def node_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    data_dir = tmp_path_factory.mktemp("front-door") / "chain"
    port = free_port()
    proc = start_embedded_node(data_dir, Account.create().address, bytes.fromhex("33" * 32), port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_rpc(url, proc)
        yield NodeProcess(proc, url, port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- defect 1: nesting depth ------------------------------------------------------------

@pytest.mark.parametrize("body", [b"[" * 80_000, b'{"a":' * 80_000, b"[" * 200 + b"]" * 200,
                                  b'[{"jsonrpc":"2.0","id":1,"method":"eth_call","params":'
                                  + b"[" * 80_000])
def test_deeply_nested_body_is_refused_as_parse_error_and_node_survives(
        node_proc: NodeProcess, body: bytes) -> None:
    out = node_proc.post(body)
    assert out["error"]["code"] == -32700
    assert out["error"]["message"] == "parse error: JSON nesting deeper than 128 levels"
    assert out["id"] is None
    node_proc.assert_alive()


def test_nesting_within_the_limit_is_parsed_normally(node_proc: NodeProcess) -> None:
    nested = json.loads("[" * 120 + "]" * 120)
    out = node_proc.call("eth_getBalance", [nested, "latest"])
    assert out["error"]["code"] == -32602  # parsed, then refused as params: not a parse error


def test_brackets_inside_strings_do_not_count_as_nesting(node_proc: NodeProcess) -> None:
    out = node_proc.call("eth_getBalance", ["[" * 5_000 + '\\"{' * 100, "latest"])
    assert out["error"]["code"] == -32602


def _nested_rlp(depth: int) -> bytes:
    item = b"\xc0"
    for _ in range(depth):
        n = len(item)
        if n < 56:
            item = bytes([0xC0 + n]) + item
        else:
            size = n.to_bytes((n.bit_length() + 7) // 8, "big")
            item = bytes([0xF7 + len(size)]) + size + item
    return item


@pytest.mark.parametrize("raw", [_nested_rlp(20_000), b"\x02" + _nested_rlp(20_000),
                                 _nested_rlp(17), b"\xf8\xff" + b"\xc0" * 10])
def test_deeply_nested_rlp_transaction_gets_an_encoding_error(node_proc: NodeProcess,
                                                              raw: bytes) -> None:
    out = node_proc.call("eth_sendRawTransaction", ["0x" + raw.hex()])
    message = out["error"]["message"]
    assert message.startswith("invalid transaction encoding"), message
    assert "recursion" not in message
    node_proc.assert_alive()


def test_node_package_puts_the_recursion_limit_back_to_py_evms() -> None:
    code = ("import sys, py_ecc, node; from eth import EVM_RECURSION_LIMIT; "
            "print(sys.getrecursionlimit(), EVM_RECURSION_LIMIT)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=120)
    limit, evm_limit = map(int, out.stdout.split())
    assert limit == evm_limit == 12_288


def test_raw_socket_depth_bomb_gets_an_answer(node_proc: NodeProcess) -> None:
    body = b"[" * 80_000
    with socket.create_connection(("127.0.0.1", node_proc.port), timeout=30) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        head = s.recv(65536)
    assert head.startswith(b"HTTP/1.1 200 "), head
    node_proc.assert_alive()


def test_deep_evm_call_recursion_still_executes_under_the_lowered_limit(node_handle: Any) -> None:
    # runtime: counter += 1 (slot 0); CALL(self, all gas); STOP — recurses until gas runs out
    runtime = bytes.fromhex("600054600101600055" "60006000600060006000305af100")
    init = bytes.fromhex(f"60{len(runtime):02x}600c600039" f"60{len(runtime):02x}6000f3") + runtime
    boot = node_handle.bootstrap  # its nonce-0 contract address is the Consortium's: skip it
    assert node_handle.send(boot, {"to": boot.address, "gas": 21_000})["status"] == 1
    created = node_handle.send(node_handle.bootstrap, {"data": init, "gas": 200_000})
    assert created["status"] == 1
    address = created["contractAddress"]
    receipt = node_handle.send(node_handle.bootstrap, {"to": address, "gas": 50_000_000})
    assert receipt["status"] == 1
    depth = int.from_bytes(node_handle.w3.eth.get_storage_at(address, 0), "big")
    assert depth > 300, depth  # hundreds of nested frames, far past the JSON bound


# ---- defect 2: a read connection per TCP connection --------------------------------------

def _one_request_connection(port: int, body: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_open_files_stay_flat_over_thousands_of_one_request_connections(
        node_proc: NodeProcess) -> None:
    read = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber",
                       "params": ["0x0", False]}).encode()
    assert b'"number":"0x0"' in _one_request_connection(node_proc.port, read)
    before = node_proc.open_files()
    for _ in range(2_000):
        answer = _one_request_connection(node_proc.port, read)
        assert b'"number":"0x0"' in answer, answer
    after = node_proc.open_files()
    assert after - before < 50, (before, after)
    node_proc.assert_alive()


# ---- defect 7: interpreter text in error messages ----------------------------------------

ZERO = "0x" + "00" * 20


@pytest.mark.parametrize(("method", "params", "named"), [
    ("eth_getBalance", [ZERO, "0x" + "9" * 5_000], "block"),
    ("eth_getLogs", [{"fromBlock": "0x" + "f" * 200}], "fromBlock"),
    ("eth_getStorageAt", [ZERO, "0x1" + "0" * 64, "latest"], "slot"),
    ("eth_call", [{"to": ZERO, "value": "0x1" + "0" * 64}, "latest"], "value"),
    ("eth_estimateGas", [{"to": ZERO, "gas": 2**256}], "gas"),
    ("eth_feeHistory", ["0x" + "9" * 5_000, "latest", []], "blockCount"),
])
def test_oversized_quantities_are_invalid_params_naming_the_parameter(
        node_proc: NodeProcess, method: str, params: list[Any], named: str) -> None:
    error = node_proc.call(method, params)["error"]
    assert error["code"] == -32602, error
    assert error["message"].startswith(f"{named}: "), error
    assert "limit" not in error["message"] and "9999" not in error["message"]


def test_a_5000_digit_integer_literal_is_a_parse_error_without_interpreter_text(
        node_proc: NodeProcess) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["' + ZERO.encode() \
        + b'",' + b"9" * 5_000 + b"]}"
    error = node_proc.post(body)["error"]
    assert error["code"] == -32700
    assert "4300" not in error["message"] and "sys." not in error["message"]


def test_an_internal_failure_answers_a_generic_message_and_logs_the_traceback(
        node_handle: Any, caplog: pytest.LogCaptureFixture) -> None:
    def broken(params: Any) -> Any:
        raise ValueError("secret internal detail")

    node_handle.node.dispatcher.methods["eth_chainId"] = broken
    out = node_handle.rpc("eth_chainId", [])
    assert out["error"] == {"code": -32603,
                            "message": "internal error in eth_chainId; see the node log"}
    logged = [r for r in caplog.records if r.name == "coledger.node.rpc"]
    assert logged and "secret internal detail" in str(logged[-1].exc_info[1])
