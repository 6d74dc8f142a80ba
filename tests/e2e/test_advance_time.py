"""`coledger node advance-time`: moves a dev node's clock; a node without time travel refuses.

Both against real `python -m node` processes; the README walkthrough covers the verb on the
`coledger node start --allow-time-travel` node the README names.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from tests.conftest import free_port, start_embedded_node, wait_for_rpc

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _node(tmp_path: Path, *extra: str) -> Iterator[str]:
    port = free_port()
    proc = start_embedded_node(tmp_path / "chain", Account.create().address, b"\x11" * 32, port, *extra)
    try:
        wait_for_rpc(f"http://127.0.0.1:{port}", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _advance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "client.cli", "node", "advance-time", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def dev_node(tmp_path: Path) -> Iterator[str]:
    yield from _node(tmp_path, "--allow-time-travel")


@pytest.fixture()
def plain_node(tmp_path: Path) -> Iterator[str]:
    yield from _node(tmp_path)


def test_advance_time_moves_a_dev_nodes_clock_and_seals_a_block(dev_node: str) -> None:
    from client.connection import connect

    w3 = connect(dev_node)
    before = w3.eth.get_block("latest")
    done = _advance("--rpc", dev_node, "--days", "91")
    assert done.returncode == 0, done.stderr
    after = w3.eth.get_block("latest")
    assert after["number"] == before["number"] + 1
    assert after["timestamp"] >= before["timestamp"] + 91 * 86_400
    assert f"chain time moved {91 * 86_400} s forward: block {after['number']}" in done.stdout


def test_a_node_without_time_travel_refuses_in_one_line_naming_the_flag(plain_node: str) -> None:
    from client.connection import connect

    head = connect(plain_node).eth.block_number
    done = _advance("--rpc", plain_node, "--seconds", "60")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "does not allow time travel" in done.stderr and "--allow-time-travel" in done.stderr
    assert connect(plain_node).eth.block_number == head


@pytest.mark.parametrize("bad", [["--days", "0"], ["--days", "-3"], ["--seconds", "soon"], []])
def test_advance_time_refuses_a_missing_or_non_positive_amount(bad: list[str]) -> None:
    done = _advance("--rpc", "http://127.0.0.1:9", *bad)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--days" in done.stderr or "positive whole number" in done.stderr
