"""The access log alone: hash chaining, per-case heads, verification, anchoring bookkeeping."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

from eth_account import Account

from arbitration.api.access_log import GENESIS, AccessAction, AccessLog, Anchorer, encode_entry

ACTOR = Account.create().address


def test_entries_chain_per_case_and_the_head_is_the_last_hash(tmp_path: Path) -> None:
    log = AccessLog(tmp_path / "log.sqlite3", clock=lambda: 1_700_000_000)
    assert log.head(7) == (GENESIS, 0)
    a = log.append(7, ACTOR, AccessAction.CONTENT, b"\x01" * 32)
    b = log.append(7, ACTOR.lower(), AccessAction.BUNDLE, (7).to_bytes(32, "big"))
    other = log.append(0, ACTOR, AccessAction.CONTENT, b"\x02" * 32)
    assert (a.seq, a.prev, b.seq, b.prev, other.seq, other.prev) == (1, GENESIS, 2, a.hash, 1, GENESIS)
    expected = hashlib.sha256(b"coledger/access-log/v1\x00" + encode_entry(
        7, 2, 1_700_000_000, ACTOR, AccessAction.BUNDLE, (7).to_bytes(32, "big"), a.hash)).digest()
    assert b.hash == expected and b.actor == ACTOR
    assert len(encode_entry(7, 2, 0, ACTOR, AccessAction.BUNDLE, bytes(32), bytes(32))) == 134
    assert log.head(7) == (b.hash, 2) and log.head(0) == (other.hash, 1)
    assert log.verify(7) and log.verify(0) and log.verify(99)


def test_a_rewritten_entry_breaks_verification(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    log = AccessLog(path)
    for i in range(3):
        log.append(1, ACTOR, AccessAction.CONTENT, bytes([i]) * 32)
    log.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE access_entries SET target = ? WHERE seq = 2", (b"\xff" * 32,))
    db.commit()
    db.close()
    assert not AccessLog(path).verify(1)


class FakeCases:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[int, bytes, int]] = []
        self.fail = fail

    def anchor_access_log(self, case_id: int, head: bytes, entries: int) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError("node down")
        self.calls.append((case_id, head, entries))
        return {"transactionHash": b"\xab" * 32, "blockNumber": 10 + len(self.calls)}


def test_the_anchorer_anchors_each_grown_log_once_and_retries_failures(tmp_path: Path) -> None:
    log = AccessLog(tmp_path / "log.sqlite3")
    log.append(1, ACTOR, AccessAction.CONTENT, b"\x01" * 32)
    log.append(1, ACTOR, AccessAction.CONTENT, b"\x02" * 32)
    log.append(2, ACTOR, AccessAction.BUNDLE, (2).to_bytes(32, "big"))
    failing = Anchorer(log, FakeCases(fail=True), 60)
    assert failing.anchor_pending() == 0 and failing.failures == 2
    cases = FakeCases()
    anchorer = Anchorer(log, cases, 60)
    assert anchorer.anchor_pending() == 2
    assert cases.calls == [(1, log.head(1)[0], 2), (2, log.head(2)[0], 1)]
    assert anchorer.anchor_pending() == 0  # nothing grew
    log.append(1, ACTOR, AccessAction.CONTENT, b"\x03" * 32)
    assert anchorer.anchor_pending() == 1 and cases.calls[-1] == (1, log.head(1)[0], 3)
    last = log.last_anchor(1)
    assert last is not None and (last.entries, last.head, last.tx_hash) == (3, log.head(1)[0], "0x" + "ab" * 32)
