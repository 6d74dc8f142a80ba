"""`coledger node check`: the full store check, on a real data dir that served transactions.

Issue 13: every block, receipt and log row is verified against the hashes in the headers, and the
state trie nodes against their hashes, with a JSON report and exit 0/1. The data dir comes from a
real `coledger node start` (deployment, transfers, a governance proposal with logs); each test
damages a copy the way a disk (random pages) or an operator (one row or node changed, a block row
deleted) would, and the check must name the first bad block and never write to the store.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from client.cli import main

pytestmark = pytest.mark.e2e
PAGE = 4096


@pytest.fixture()
def data_dir(served_with_txs: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "coledger-data"
    shutil.copytree(served_with_txs, copy)
    return copy


def _store(data_dir: Path) -> Path:
    return data_dir / "chain" / "chain.sqlite"


def _check(data_dir: Path, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    report = tmp_path / "check.json"
    before = hashlib.sha256(_store(data_dir).read_bytes()).hexdigest()
    rc = main(["node", "check", "--data-dir", str(data_dir), "--json", str(report), "--quiet", *extra])
    assert hashlib.sha256(_store(data_dir).read_bytes()).hexdigest() == before, "the check wrote to the store"
    return rc, json.loads(report.read_text())


def _sql(data_dir: Path, sql: str, *args: object) -> None:
    db = sqlite3.connect(_store(data_dir))
    with db:
        assert db.execute(sql, args).rowcount >= 1, sql
    db.close()


def _one(data_dir: Path, sql: str, *args: object) -> Any:
    db = sqlite3.connect(_store(data_dir))
    try:
        return db.execute(sql, args).fetchone()
    finally:
        db.close()


def _flip_kv(data_dir: Path, key: bytes) -> None:
    """One bit of the stored node ``key`` flipped (its value no longer hashes to its key)."""
    (value,) = _one(data_dir, "SELECT value FROM kv WHERE key=?", key)
    changed = bytearray(value)
    changed[len(changed) // 2] ^= 0x01
    _sql(data_dir, "UPDATE kv SET value=? WHERE key=?", bytes(changed), key)


def _header(data_dir: Path, number: int) -> dict[str, Any]:
    return json.loads(_one(data_dir, "SELECT json FROM blocks WHERE number=?", number)[0])


def test_a_healthy_chain_passes_with_a_report_of_what_was_proven(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, report = _check(data_dir, tmp_path)
    assert rc == 0, report
    head = int(_one(data_dir, "SELECT max(number) FROM blocks")[0])
    transactions = int(_one(data_dir, "SELECT count(*) FROM txs")[0])
    logs = int(_one(data_dir, "SELECT count(*) FROM logs")[0])
    assert report["ok"] is True and report["first_failure"] is None and report["sqlite_integrity"] == []
    assert (report["head"], report["blocks"], report["blocks_total"]) == (head, head + 1, head + 1)
    assert report["head_hash"] == _header(data_dir, head)["hash"]
    assert report["transactions"] == report["receipts"] == transactions >= 7 + 4 + 1 + 3
    assert report["logs"] == logs > 0 and report["seals"] == head
    assert report["state_roots"] == 1 and report["state"]["accounts"] > 0 and report["state"]["codes"] > 0
    out = capsys.readouterr().out
    assert f"node check: ok: {_store(data_dir)}: blocks 0..{head} ({head + 1} blocks" in out

    rc, every = _check(data_dir, tmp_path, "--all-states")
    assert rc == 0 and every["state_roots"] == head + 1
    assert every["state"]["nodes"] > report["state"]["nodes"]  # older roots' own nodes too


def _proposal_block(data_dir: Path) -> tuple[int, bytes]:
    """The block and hash of the transaction with the most logs (the governance proposal)."""
    number, tx_hash = _one(data_dir, "SELECT t.block_number, t.hash FROM txs t WHERE "
                           "json_array_length(json_extract(t.receipt_json, '$.logs')) > 0 "
                           "ORDER BY t.block_number DESC LIMIT 1")
    return int(number), bytes(tx_hash)


def _tamper(kind: str, data_dir: Path) -> tuple[int, str]:
    """Damage ``data_dir`` as ``kind``; (the block that must be named, what must be named)."""
    head = int(_one(data_dir, "SELECT max(number) FROM blocks")[0])
    if kind == "receipt row changed":
        number, tx_hash = _proposal_block(data_dir)
        _sql(data_dir, "UPDATE txs SET receipt_json=replace(receipt_json, '\"status\": \"0x1\"', "
             "'\"status\": \"0x0\"') WHERE hash=?", tx_hash)
        return number, "receipt row"
    if kind == "log row changed":
        number, _ = _proposal_block(data_dir)
        _sql(data_dir, "UPDATE logs SET json=replace(json, '\"removed\": false', '\"removed\": true') "
             "WHERE block_number=? AND log_index=0", number)
        return number, "log rows"
    if kind == "log index row changed":
        number, _ = _proposal_block(data_dir)
        _sql(data_dir, "UPDATE logs SET topic0=? WHERE block_number=? AND log_index=0", b"\x01" * 32, number)
        return number, "log rows"
    if kind == "state trie node changed":
        _flip_kv(data_dir, bytes.fromhex(_header(data_dir, head)["stateRoot"][2:]))
        return head, "state trie"
    if kind == "transactions trie node changed":
        number = head - 1  # a block of transfers
        _flip_kv(data_dir, bytes.fromhex(_header(data_dir, number)["transactionsRoot"][2:]))
        return number, "transactions root"
    assert kind == "block row deleted"
    _sql(data_dir, "DELETE FROM blocks WHERE number=?", 3)
    return 3, "block row"


@pytest.mark.parametrize("kind", ["receipt row changed", "log row changed", "log index row changed",
                                  "state trie node changed", "transactions trie node changed",
                                  "block row deleted"])
def test_targeted_tampering_is_named_with_its_block(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    bad_block, what = _tamper(kind, data_dir)
    rc, report = _check(data_dir, tmp_path)
    assert rc == 1
    assert report["ok"] is False
    failure = report["first_failure"]
    assert (failure["block"], failure["what"]) == (bad_block, what), failure
    # every block before it passed (a state trie is walked after every block's rows passed)
    assert report["blocks"] == (report["blocks_total"] if what == "state trie" else bad_block)
    err = capsys.readouterr().err
    assert f"node check: DAMAGED: {_store(data_dir)}" in err
    assert f"first bad block: block {bad_block}: {what}: " in err
    assert "`coledger node restore --from BACKUP --data-dir NEWDIR`" in err


def test_a_changed_receipt_names_the_field_and_both_values(data_dir: Path, tmp_path: Path) -> None:
    _tamper("receipt row changed", data_dir)
    _, report = _check(data_dir, tmp_path)
    assert 'status stored "0x0", the receipts trie says "0x1"' in report["first_failure"]["detail"]


@pytest.mark.parametrize("seed", [1, 2])
def test_ten_random_pages_overwritten_are_found_and_the_first_bad_block_named(
        data_dir: Path, tmp_path: Path, seed: int) -> None:
    store = _store(data_dir)
    rng = random.Random(seed)
    with store.open("r+b") as f:
        for page in rng.sample(range(1, store.stat().st_size // PAGE), 10):
            f.seek(page * PAGE)
            f.write(rng.randbytes(PAGE))
    rc, report = _check(data_dir, tmp_path)
    assert rc == 1 and report["ok"] is False
    assert report["sqlite_integrity"], "SQLite's integrity_check saw nothing"
    failure = report["first_failure"]
    assert failure is not None and isinstance(failure["block"], int), report
    assert report["blocks"] == failure["block"]


def test_a_dir_without_a_chain_store_is_an_error_not_a_finding(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node", "check", "--data-dir", str(tmp_path / "none")]) == 2
    assert f"coledger: error: no chain store in {tmp_path / 'none'}" in capsys.readouterr().err
