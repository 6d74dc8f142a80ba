"""`coledger audit replay` against real embedded nodes: clean, lying, broken and resumed."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from client.audit import ReplayReport
from client.cli import main
from tests.audit._chainbuilder import start_node
from tests.audit.conftest import BuiltChain
from tests.conftest import ROOT, free_port


def replay(node_url: str, out: Path, *extra: str) -> tuple[int, ReplayReport | None]:
    rc = main(["audit", "replay", "--rpc", node_url, "--out", str(out), "--quiet", *extra])
    path = out / "replay.json"
    return rc, (ReplayReport(**json.loads(path.read_text())) if path.exists() else None)


def _block_json(conn: sqlite3.Connection, number: int) -> dict[str, Any]:
    return json.loads(conn.execute("SELECT json FROM blocks WHERE number=?",
                                   (number,)).fetchone()[0])


def _set_block_json(conn: sqlite3.Connection, number: int, block: dict[str, Any]) -> None:
    conn.execute("UPDATE blocks SET json=? WHERE number=?", (json.dumps(block), number))


def _block_with_logs(built: BuiltChain) -> int:
    return sorted(built.tx_blocks.values())[1]


# ---- clean ---------------------------------------------------------------------------------

def test_clean_replay_of_varied_chain_is_ok_and_head_state_root_matches_node(
        built_chain: BuiltChain, serve_copy: Any, tmp_path: Path) -> None:
    with serve_copy() as node:
        rc, report = replay(node.url, tmp_path / "out")
        latest = node.rpc("eth_getBlockByNumber", ["latest", False])
    assert rc == 0 and report is not None
    assert report.result == "ok", report.divergence
    assert report.head["state_root"] == latest["stateRoot"]
    assert report.head["hash"] == latest["hash"]
    assert report.blocks == int(latest["number"], 16) >= 8
    assert report.transactions >= 12
    assert report.seals["checked"] == report.blocks
    assert report.divergence is None


def test_clean_replay_of_session_chain_with_admission_is_ok(chain: Any, make_account: Any,
                                                            tmp_path: Path) -> None:
    if chain.kind != "embedded":
        pytest.skip("replay needs a coledger embedded-node genesis")
    make_account("auditor-sees-me")
    rc, report = replay(chain.url, tmp_path / "out")
    latest = chain.w3.provider.make_request("eth_getBlockByNumber", ["latest", False])["result"]
    assert rc == 0 and report is not None and report.result == "ok"
    assert report.head["state_root"] == latest["stateRoot"]


# ---- a node that lies ------------------------------------------------------------------------

def test_tampered_log_data_in_receipt_is_named_with_block_and_field(
        built_chain: BuiltChain, serve_copy: Any, tmp_path: Path) -> None:
    k = _block_with_logs(built_chain)

    def mutate(conn: sqlite3.Connection) -> None:
        tx_hash, rj = conn.execute(
            "SELECT hash, receipt_json FROM txs WHERE block_number=? ORDER BY idx", (k,)).fetchone()
        receipt = json.loads(rj)
        receipt["logs"][0]["data"] = "0x" + "ff" * 32
        conn.execute("UPDATE txs SET receipt_json=? WHERE hash=?", (json.dumps(receipt), tx_hash))

    with serve_copy(mutate) as node:
        rc, report = replay(node.url, tmp_path / "out")
    assert rc == 1 and report is not None and report.result == "diverged"
    d = report.divergence
    assert d is not None
    assert (d["block"], d["field"], d["tx_index"]) == (k, "receipt.logs[0].data", 0)
    assert d["served"] == "0x" + "ff" * 32 and d["expected"] != d["served"]
    assert report.verified_through == k - 1


def test_tampered_state_root_in_block_is_named_with_block_and_field(
        built_chain: BuiltChain, serve_copy: Any, tmp_path: Path) -> None:
    k = _block_with_logs(built_chain)
    fake = "0x" + "ab" * 32

    def mutate(conn: sqlite3.Connection) -> None:
        block = _block_json(conn, k)
        block["stateRoot"] = fake
        _set_block_json(conn, k, block)

    with serve_copy(mutate) as node:
        rc, report = replay(node.url, tmp_path / "out")
    assert rc == 1 and report is not None and report.divergence is not None
    d = report.divergence
    assert (d["block"], d["field"], d["served"]) == (k, "stateRoot", fake)
    assert d["expected"].startswith("0x") and d["expected"] != fake


def test_tampered_gas_used_in_block_is_named_with_block_and_field(
        built_chain: BuiltChain, serve_copy: Any, tmp_path: Path) -> None:
    k = _block_with_logs(built_chain)

    def mutate(conn: sqlite3.Connection) -> None:
        block = _block_json(conn, k)
        block["gasUsed"] = hex(int(block["gasUsed"], 16) + 1)
        _set_block_json(conn, k, block)

    with serve_copy(mutate) as node:
        rc, report = replay(node.url, tmp_path / "out")
    assert rc == 1 and report is not None and report.divergence is not None
    assert (report.divergence["block"], report.divergence["field"]) == (k, "gasUsed")


def test_altered_transaction_field_is_named_as_hash_mismatch(
        built_chain: BuiltChain, serve_copy: Any, tmp_path: Path) -> None:
    k = _block_with_logs(built_chain)
    holder: dict[str, str] = {}

    def mutate(conn: sqlite3.Connection) -> None:
        tx_hash, tj = conn.execute(
            "SELECT hash, tx_json FROM txs WHERE block_number=? ORDER BY idx", (k,)).fetchone()
        tx = json.loads(tj)
        tx["value"] = hex(int(tx["value"], 16) + 1)
        holder["hash"] = tx["hash"]
        conn.execute("UPDATE txs SET tx_json=? WHERE hash=?", (json.dumps(tx), tx_hash))

    with serve_copy(mutate) as node:
        rc, report = replay(node.url, tmp_path / "out")
    assert rc == 1 and report is not None and report.divergence is not None
    d = report.divergence
    assert (d["block"], d["field"], d["tx_index"], d["tx_hash"]) == (
        k, "transaction.hash", 0, holder["hash"])
    assert "does not hash to its served hash" in d["message"]


def test_forged_seal_is_named(built_chain: BuiltChain, serve_copy: Any, tmp_path: Path) -> None:
    k = _block_with_logs(built_chain)

    def mutate(conn: sqlite3.Connection) -> None:
        (sig,) = conn.execute("SELECT signature FROM seals WHERE number=?", (k,)).fetchone()
        forged = bytes(sig[:64]) + bytes([sig[64] ^ 1])  # other recovery id: another signer
        conn.execute("UPDATE seals SET signature=? WHERE number=?", (forged, k))

    with serve_copy(mutate) as node:
        rc, report = replay(node.url, tmp_path / "out")
    assert rc == 1 and report is not None and report.divergence is not None
    assert (report.divergence["block"], report.divergence["field"]) == (k, "seal")


def test_lying_node_through_the_command_exits_1_without_traceback(
        built_chain: BuiltChain, serve_copy: Any, tmp_path: Path) -> None:
    k = _block_with_logs(built_chain)

    def mutate(conn: sqlite3.Connection) -> None:
        block = _block_json(conn, k)
        block["receiptsRoot"] = "0x" + "cd" * 32
        _set_block_json(conn, k, block)

    with serve_copy(mutate) as node:
        proc = subprocess.run(
            [sys.executable, "-m", "client.cli", "audit", "replay", "--rpc", node.url,
             "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True,
            timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"DIVERGENCE at block {k}, field receiptsRoot" in proc.stderr


# ---- missing data and bad endpoints ---------------------------------------------------------

def test_missing_block_is_a_clear_error_exit_2(built_chain: BuiltChain, serve_copy: Any,
                                               tmp_path: Path, capsys: Any) -> None:
    k = _block_with_logs(built_chain)
    with serve_copy(lambda c: c.execute("DELETE FROM blocks WHERE number=?", (k,))) as node:
        rc, report = replay(node.url, tmp_path / "out")
    assert rc == 2
    assert f"block {k} is missing" in capsys.readouterr().err
    assert report is not None and report.result == "error"


def test_rpc_pointing_at_nothing_is_a_clear_error_exit_2(tmp_path: Path, capsys: Any) -> None:
    rc, report = replay(f"http://127.0.0.1:{free_port()}", tmp_path / "out")
    assert rc == 2
    err = capsys.readouterr().err
    assert "cannot reach the chain at http://127.0.0.1:" in err and "Traceback" not in err


# ---- checkpoints ---------------------------------------------------------------------------

def test_resume_from_checkpoint_gives_same_result_and_executes_only_remaining_blocks(
        built_chain: BuiltChain, serve_copy: Any, tmp_path: Path) -> None:
    with serve_copy() as node:
        head = int(node.rpc("eth_blockNumber", []), 16)
        mid = head // 2
        rc_full, full = replay(node.url, tmp_path / "full")
        rc1, first = replay(node.url, tmp_path / "part", "--to-block", str(mid),
                            "--checkpoint-every", "2")
        rc2, resumed = replay(node.url, tmp_path / "part", "--from-checkpoint")
    assert (rc_full, rc1, rc2) == (0, 0, 0)
    assert full is not None and first is not None and resumed is not None
    assert first.head["number"] == mid and first.checkpoint["last_block"] == mid
    assert resumed.resumed_from == mid
    assert resumed.executed_blocks == head - mid
    assert resumed.head == full.head
    assert (resumed.blocks, resumed.transactions, resumed.gas_used) == (
        full.blocks, full.transactions, full.gas_used)


def test_checkpoint_of_another_genesis_is_a_clear_error(
        built_chain: BuiltChain, serve_copy: Any, tmp_path: Path, capsys: Any) -> None:
    with serve_copy() as node:
        rc, _ = replay(node.url, tmp_path / "out", "--to-block", "3")
    assert rc == 0
    capsys.readouterr()
    other = start_node(tmp_path / "other", None, None, "--chain-id", "1338")
    try:
        rc, report = replay(other.url, tmp_path / "out", "--from-checkpoint")
    finally:
        other.stop()
    assert rc == 2
    err = capsys.readouterr().err
    assert "different genesis" in err and "chain id 1337" in err and "chain id 1338" in err


def test_from_checkpoint_without_one_is_a_clear_error(tmp_path: Path, built_chain: BuiltChain,
                                                      serve_copy: Any, capsys: Any) -> None:
    with serve_copy() as node:
        rc, _ = replay(node.url, tmp_path / "empty", "--from-checkpoint")
    assert rc == 2 and "no checkpoint in" in capsys.readouterr().err


# ---- genesis ---------------------------------------------------------------------------------

def test_served_genesis_hash_that_does_not_rebuild_is_different_genesis_error(
        built_chain: BuiltChain, serve_copy: Any, tmp_path: Path, capsys: Any) -> None:
    fake = "0x" + "0e" * 32

    def mutate(conn: sqlite3.Connection) -> None:
        block = _block_json(conn, 0)
        block["hash"] = fake
        _set_block_json(conn, 0, block)

    with serve_copy(mutate) as node:
        rc, report = replay(node.url, tmp_path / "out")
    assert rc == 2
    err = capsys.readouterr().err
    assert f"different genesis: expected {fake}, rebuilt 0x" in err
    assert report is not None and report.result == "error"


def test_anvil_is_reported_as_unsupported_chain(tmp_path: Path, capsys: Any) -> None:
    anvil = ROOT / "node_modules" / ".bin" / "anvil"
    if not anvil.exists():
        pytest.skip("anvil is not installed (npm ci)")
    from tests.conftest import wait_for_rpc

    port = free_port()
    proc = subprocess.Popen([str(anvil), "--port", str(port), "--base-fee", "0", "--hardfork",
                             "prague", "--silent"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_rpc(f"http://127.0.0.1:{port}", proc)
        rc, _ = replay(f"http://127.0.0.1:{port}", tmp_path / "out")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert rc == 2
    err = capsys.readouterr().err
    assert "unsupported chain: genesis does not match a coledger embedded-node genesis" in err
    assert "Traceback" not in err


# ---- keep going ------------------------------------------------------------------------------

def test_keep_going_reports_every_tampered_receipt_and_reaches_the_head(
        built_chain: BuiltChain, serve_copy: Any, tmp_path: Path) -> None:
    blocks = sorted(built_chain.tx_blocks.values())[1:3]

    def mutate(conn: sqlite3.Connection) -> None:
        for k in blocks:
            tx_hash, rj = conn.execute("SELECT hash, receipt_json FROM txs WHERE block_number=?",
                                       (k,)).fetchone()
            receipt = json.loads(rj)
            receipt["status"] = "0x0"
            conn.execute("UPDATE txs SET receipt_json=? WHERE hash=?",
                         (json.dumps(receipt), tx_hash))

    with serve_copy(mutate) as node:
        head = int(node.rpc("eth_blockNumber", []), 16)
        rc, report = replay(node.url, tmp_path / "out", "--keep-going")
    assert rc == 1 and report is not None
    assert [(d["block"], d["field"]) for d in report.divergences] == [
        (k, "receipt.status") for k in blocks]
    assert report.head["number"] == head
    assert report.verified_through == blocks[0] - 1
