"""The README's network walkthrough as a user runs it: `coledger network init`, `network start`
(a process), the CLI against another validator, `network status`, kill one validator, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.network.harness import random_first_host
from tests.network.load import rpc, wait_height

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "client.cli", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def _cometbft_pids(root: Path) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(root) in cmd:
                pids.append(int(p.name))
    return pids


def test_network_init_start_status_kill_and_stop(tmp_path: Path) -> None:
    root = tmp_path / "net"
    too_few = _cli("network", "init", "--validators", "3", "--dir", str(root))
    assert too_few.returncode == 2 and "at least 4" in too_few.stderr
    assert not root.exists() or not any(root.glob("validator-*"))

    made = _cli("network", "init", "--dir", str(root), "--first-host", random_first_host())
    assert made.returncode == 0, made.stderr
    assert made.stdout.count("JSON-RPC http://127.") == 4
    assert (root / "validator-3" / "cometbft" / "config" / "genesis.json").is_file()
    assert oct((root / "validator-0").stat().st_mode & 0o777) == "0o700"
    again = _cli("network", "init", "--dir", str(root))
    assert again.returncode == 2 and "already holds a network" in again.stderr

    proc = subprocess.Popen([sys.executable, "-m", "client.cli", "network", "start", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "stop with Ctrl-C" in line or not line:
                break
        out = "".join(lines)
        assert "Consortium deployed at" in out, out
        urls = [ln.split()[2] for ln in lines if ln.strip().startswith("validator ") and "http" in ln]
        assert len(urls) == 4

        members = _cli("consortium", "members", "--rpc", urls[2], "--data-dir", str(root))
        assert members.returncode == 0, members.stderr
        assert "Partner Bank A" in members.stdout

        status = _cli("network", "status", str(root))
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.count(" 3 ") >= 4  # every validator has 3 peers

        # kill -9 one validator's process group: the runner restarts it, the chain goes on
        head = int(rpc(urls[0], "eth_blockNumber"), 16)
        victim = [int(p) for p in _cometbft_pids(root / "validator-1")]
        assert victim
        for pid in victim:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proposal = _cli("consortium", "propose", "--rpc", urls[3], "--data-dir", str(root),
                        "--as", "lead-bank", "set-parameter", "lending.borrowerExposureCap", "20000000")
        assert proposal.returncode == 0, proposal.stdout + proposal.stderr
        wait_height(urls[0], head + 1)
        restarted = time.monotonic() + 90
        while time.monotonic() < restarted:
            try:
                wait_height(urls[1], int(rpc(urls[0], "eth_blockNumber"), 16), timeout=5)
                break
            except AssertionError:
                continue
        assert rpc(urls[1], "eth_getBlockByNumber", ["latest", False])["hash"] in {
            rpc(u, "eth_getBlockByNumber", [rpc(urls[1], "eth_blockNumber"), False])["hash"]
            for u in urls}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
    time.sleep(1)
    assert _cometbft_pids(root) == [], "Ctrl-C stops every validator and its CometBFT"


def test_network_start_refuses_two_validators_with_one_key(tmp_path: Path) -> None:
    root = tmp_path / "net"
    made = _cli("network", "init", "--dir", str(root), "--first-host", random_first_host())
    assert made.returncode == 0, made.stderr
    key = "cometbft/config/priv_validator_key.json"
    (root / "validator-2" / key).write_bytes((root / "validator-1" / key).read_bytes())
    started = _cli("network", "start", str(root), timeout=60)
    assert started.returncode == 2, started.stdout + started.stderr
    assert "validator-1 and validator-2 have the same validator key" in started.stderr
    assert _cometbft_pids(root) == [], "nothing started"


def test_validator_refuses_a_ledger_made_from_another_genesis(tmp_path: Path) -> None:
    """A bank's validator home whose ledger belongs to another network does not start."""
    from node.cometbft.genesis import read_network_genesis

    first, second = tmp_path / "a", tmp_path / "b"
    for root in (first, second):
        made = _cli("network", "init", "--dir", str(root), "--first-host", random_first_host())
        assert made.returncode == 0, made.stderr
    other, _ = read_network_genesis(first / "validator-0" / "cometbft" / "config" / "genesis.json")
    home = second / "validator-0"
    (home / "chain").mkdir(mode=0o700, exist_ok=True)
    # what a validator of the first network writes into its ledger directory on first start
    (home / "chain" / "genesis.json").write_text(other.spec.to_json())
    refused = _cli("node", "start", "--consensus", "cometbft", "--home", str(home), timeout=60)
    assert refused.returncode != 0
    assert "created from another genesis" in refused.stderr, refused.stderr
    assert _cometbft_pids(home) == []
