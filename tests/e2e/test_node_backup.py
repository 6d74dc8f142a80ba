"""`coledger node backup` while the node serves, `coledger node restore` into a new data dir.

Issue 13: a consistent online snapshot (SQLite backup API) that restores into a working data dir;
tested by restore + replay. Run as a user would: the real `coledger node start` as a process, the
backup taken as another process while transactions are being sealed, the restored data dir
started as a node that must serve the snapshot's head and the same receipts (and none sealed
after the snapshot), and `coledger audit replay` clean on it. File modes of the archive and of
the restored dir are checked; a restore into a non-empty directory or from an altered archive
is refused and changes nothing.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from client.backup import backup_data_dir
from client.cli import main
from client.connection import connect
from tests._file_modes import mode
from tests.conftest import free_port
from tests.e2e.conftest import send_transfers
from tests.e2e.test_node_start import COLEDGER, ROOT, RunningNode, _env
from tests.e2e.test_node_start_integrity import _snapshot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def archive(served_with_txs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup of the (stopped) served data dir."""
    out = tmp_path_factory.mktemp("archive") / "backup.tar.gz"
    backup_data_dir(served_with_txs, out)
    return out


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): mode(p) for p in [root, *root.rglob("*")]}


def test_backup_while_serving_restores_a_node_with_the_same_head_receipts_and_a_clean_replay(
        served_with_txs: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "coledger-data"
    subprocess.run(["cp", "-a", str(served_with_txs), str(data_dir)], check=True)
    out = tmp_path / "backups" / "live.tar.gz"
    out.parent.mkdir()
    receipts: list[Any] = []
    node = RunningNode(data_dir, free_port())
    try:
        stop = threading.Event()

        def keep_sending() -> None:  # batches of transfers until the backup and the check are done
            while len(receipts) < 6 or not stop.is_set() and len(receipts) < 300:
                receipts.extend(send_transfers(node.url, data_dir, 3))

        sender = threading.Thread(target=keep_sending)
        sender.start()
        try:
            done = subprocess.run([*COLEDGER, "node", "backup", "--data-dir", str(data_dir), "--out", str(out)],
                                  cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
            # the full check reads one snapshot of the live store too
            checked = main(["node", "check", "--data-dir", str(data_dir), "--quiet"])
        finally:
            stop.set()
            sender.join(timeout=120)
        assert done.returncode == 0, done.stderr
        assert checked == 0
        served_head = connect(node.url).eth.block_number
    finally:
        node.stop()
    line = re.search(r"node backup: .*: (\d+) files, [\d,]+ bytes, chain head (\d+) (0x[0-9a-f]{64}) \(checked\)",
                     done.stdout)
    assert line, done.stdout
    head, head_hash = int(line.group(2)), line.group(3)
    assert len(receipts) >= 6 and served_head >= head
    assert mode(out) == 0o600

    restored = tmp_path / "restored" / "coledger-data"
    assert main(["node", "restore", "--from", str(out), "--data-dir", str(restored)]) == 0
    modes = _modes(restored)
    assert {k: v for k, v in modes.items() if (restored / k).is_dir() or k == "."} == \
        {k: 0o700 for k in modes if (restored / k).is_dir() or k == "."}
    assert {k: v for k, v in modes.items() if (restored / k).is_file()} == \
        {k: 0o600 for k in modes if (restored / k).is_file()}
    assert {"keystore/password", "keystore/lead-bank.json", "deployment.json", "consortium.json",
            "chain/chain.sqlite", "chain/genesis.json"} <= set(modes)
    assert main(["node", "check", "--data-dir", str(restored), "--quiet"]) == 0

    again = RunningNode(restored, free_port())
    try:
        w3 = connect(again.url)
        assert "Consortium found at" in again.text()
        assert w3.eth.block_number == head
        assert w3.eth.get_block(head)["hash"].to_0x_hex() == head_hash
        for receipt in receipts:  # acknowledged before the snapshot: identical; after it: absent
            served = w3.provider.make_request("eth_getTransactionReceipt", [receipt["transactionHash"].to_0x_hex()])
            if receipt["blockNumber"] <= head:
                assert served["result"]["blockHash"] == receipt["blockHash"].to_0x_hex()
                assert int(served["result"]["status"], 16) == receipt["status"] == 1
            else:
                assert served["result"] is None
        assert any(r["blockNumber"] <= head for r in receipts)
        # the auditor in a process of its own: it refuses a process whose py-evm trie is patched,
        # as this one is once any test here has hosted a node in-process
        rc = subprocess.run([sys.executable, "-m", "client.cli", "audit", "replay", "--rpc", again.url,
                             "--out", str(tmp_path / "replay"), "--quiet"], timeout=300).returncode
        report = json.loads((tmp_path / "replay" / "replay.json").read_text())
        assert rc == 0 and report["result"] == "ok", report
        assert report["head"]["hash"] == head_hash
    finally:
        again.stop()


def test_restore_into_a_non_empty_dir_is_refused_and_changes_nothing(
        served_with_txs: Path, archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(served_with_txs)
    assert main(["node", "restore", "--from", str(archive), "--data-dir", str(served_with_txs)]) == 2
    err = capsys.readouterr().err
    assert f"coledger: error: {served_with_txs} is not empty (it holds a chain): it has chain/, " in err
    assert "a restore never writes over an existing data dir" in err
    assert _snapshot(served_with_txs) == before

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["node", "restore", "--from", str(archive), "--data-dir", str(other)]) == 2
    assert f"{other} is not empty: it has notes.txt;" in capsys.readouterr().err
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other"]  # no staging left behind

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["node", "restore", "--from", str(archive), "--data-dir", str(empty)]) == 0
    assert (empty / "chain" / "chain.sqlite").is_file() and mode(empty) == 0o700


def test_a_backup_never_overwrites_a_file(served_with_txs: Path, archive: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    before = archive.read_bytes()
    assert main(["node", "backup", "--data-dir", str(served_with_txs), "--out", str(archive)]) == 2
    assert f"coledger: error: {archive} exists; a backup never overwrites a file" in capsys.readouterr().err
    assert archive.read_bytes() == before


def _rewrite(archive: Path, out: Path, change: dict[str, bytes], extra: dict[str, bytes] | None = None) -> None:
    """Copy ``archive`` to ``out`` with the named members' contents replaced and ``extra`` members
    appended (the manifest untouched)."""
    with tarfile.open(archive, "r:gz") as src, gzip.open(out, "wb") as raw, \
            tarfile.open(fileobj=raw, mode="w") as dst:
        for member in src:
            data = change.get(member.name, src.extractfile(member).read())  # type: ignore[union-attr]
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("what", ["altered keystore", "extra member"])
def test_an_altered_archive_is_refused_and_nothing_is_restored(
        archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str) -> None:
    altered = tmp_path / "altered.tar.gz"
    if what == "altered keystore":
        name = "coledger-backup/data/keystore/lead-bank.json"
        with tarfile.open(archive, "r:gz") as tar:
            text = tar.extractfile(name).read()  # type: ignore[union-attr]
        _rewrite(archive, altered, {name: text.replace(b'"crypto"', b'"cryptO"')})
        expected = "keystore/lead-bank.json does not match its manifest (size or SHA-256)"
    else:
        _rewrite(archive, altered, {}, {"coledger-backup/data/../../escape.txt": b"hi"})
        expected = "holds 'coledger-backup/data/../../escape.txt', which its manifest does not list"
    target = tmp_path / "restored"
    assert main(["node", "restore", "--from", str(altered), "--data-dir", str(target)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "nothing was restored" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["altered.tar.gz"]
    assert not (tmp_path.parent / "escape.txt").exists()
