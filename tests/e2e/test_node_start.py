"""End to end, as a user runs it: `coledger node start`, the CLI, kill -9, restart.

These start the real `coledger` command as processes on 127.0.0.1 and talk to them only through
JSON-RPC and the CLI, like a bank's engineer would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from client.config import DataDir
from client.connection import connect
from client.consortium import ConsortiumClient, Role
from client.errors import AdmissionRejected
from client.keys import Keystore, demo_password
from client.tx import Call, TransactionPipeline
from tests.conftest import free_port

pytestmark = pytest.mark.e2e
COLEDGER = [sys.executable, "-m", "client.cli"]
ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COLEDGER_KEYSTORE_PASSWORD", None)
    return env


class RunningNode:
    def __init__(self, data_dir: Path, port: int, *extra_args: str) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [*COLEDGER, "node", "start", "--data-dir", str(data_dir), "--port", str(port),
             "--block-period", "0.2", *extra_args],
            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.banner: list[str] = []
        deadline = time.monotonic() + 120
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"node start exited early: {''.join(self.banner)}")
            self.banner.append(line)
            if "stop with Ctrl-C" in line:
                return
        raise AssertionError("node start did not finish within 120 s")

    def text(self) -> str:
        return "".join(self.banner)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)


def cli(*args: str) -> str:
    done = subprocess.run([*COLEDGER, *args], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"coledger {' '.join(args)} failed: {done.stderr}"
    return done.stdout


@pytest.fixture()
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "coledger-data"


def test_first_start_deploys_demo_consortium_with_encrypted_keys_and_restart_finds_it(
    data_dir: Path,
) -> None:
    port = free_port()
    node = RunningNode(data_dir, port)
    try:
        first = re.search(r"Consortium deployed at (0x[0-9a-fA-F]{40}); 6 active members", node.text())
        assert first, node.text()
        for role_line in ("Lead Bank", "Partner Bank A", "Partner Bank B",
                          "Arbitration Commission", "Auditor"):
            assert role_line in node.text()
        keystore = DataDir(data_dir).keystore
        names = sorted(p.stem for p in keystore.glob("*.json"))
        assert names == ["arbitrator", "auditor", "lead-bank", "operator", "partner-a",
                         "partner-b", "validator"]
        assert '"crypto"' in (keystore / "lead-bank.json").read_text()
    finally:
        node.stop()
    again = RunningNode(data_dir, port)
    try:
        assert f"Consortium found at {first.group(1)}" in again.text()
    finally:
        again.stop()


def test_governance_through_cli_admits_a_new_member_whom_the_node_then_accepts(
    data_dir: Path,
) -> None:
    node = RunningNode(data_dir, free_port())
    try:
        w3 = connect(node.url)
        newcomer = Account.create()
        consortium = ConsortiumClient(w3, DataDir(data_dir).read_deployment()["contracts"]["Consortium"])
        probe = Call(to=newcomer.address, data=b"", gas=21_000, label="self-transfer")
        with pytest.raises(AdmissionRejected, match=newcomer.address):
            TransactionPipeline(w3, newcomer).send(probe)

        out = cli("consortium", "propose", "--data-dir", str(data_dir), "--as", "lead-bank",
                  "add-member", "Partner Bank C", newcomer.address, "--roles", "partner")
        proposal_id = re.search(r"proposal (\d+) proposed: 1 of 2 approvals", out)
        assert proposal_id, out
        assert not consortium.has_role(Role.PARTNER, newcomer.address)
        out = cli("consortium", "approve", "--data-dir", str(data_dir), "--as", "partner-a",
                  proposal_id.group(1))
        assert f"proposal {proposal_id.group(1)} approved: executed" in out
        assert consortium.has_role(Role.PARTNER, newcomer.address)
        assert "Partner Bank C" in cli("consortium", "members", "--data-dir", str(data_dir))

        # Admission follows the Consortium at once: the same kind of transaction now goes in.
        receipt = TransactionPipeline(w3, newcomer).transact(probe)
        assert receipt["status"] == 1 and receipt["from"] == newcomer.address
    finally:
        node.stop()


def test_kill_9_after_governance_then_restart_keeps_every_acknowledged_change(
    data_dir: Path,
) -> None:
    port = free_port()
    node = RunningNode(data_dir, port)
    w3 = connect(node.url)
    address = DataDir(data_dir).read_deployment()["contracts"]["Consortium"]
    keys = Keystore(DataDir(data_dir).keystore, demo_password(DataDir(data_dir).keystore))
    lead = ConsortiumClient(w3, address, TransactionPipeline(w3, keys.load("lead-bank")))
    partner = ConsortiumClient(w3, address, TransactionPipeline(w3, keys.load("partner-b")))
    outcome = lead.propose_set_parameter("lending.borrowerExposureCap", 30_000_000)
    executed = partner.approve(outcome.proposal_id)
    assert executed.executed
    head = w3.eth.get_block("latest")
    receipt = executed.receipt
    node.stop(signal.SIGKILL)

    again = RunningNode(data_dir, port)
    try:
        w3 = connect(again.url)
        assert w3.eth.get_block(head["number"])["stateRoot"] == head["stateRoot"]
        assert w3.eth.get_transaction_receipt(receipt["transactionHash"])["blockHash"] == receipt["blockHash"]
        assert ConsortiumClient(w3, address).parameter("lending.borrowerExposureCap") == 30_000_000
    finally:
        again.stop()


def test_the_public_port_answers_only_once_the_consortium_is_deployed(data_dir: Path) -> None:
    """A script that waits for eth_blockNumber and then uses the contracts must never race the
    first start's deployment: the first answer on the public port already sees them."""
    import json
    import urllib.request

    port = free_port()
    proc = subprocess.Popen([*COLEDGER, "node", "start", "--data-dir", str(data_dir), "--port",
                             str(port), "--block-period", "0.2"], cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "node never answered"
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}", body.encode(),
                                             {"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=2) as answer:
                    json.loads(answer.read())["result"]
                break
            except OSError:
                time.sleep(0.02)
        recorded = DataDir(data_dir).read_deployment()["contracts"]  # written before the port
        w3 = connect(f"http://127.0.0.1:{port}")
        assert all(w3.eth.get_code(address) for address in recorded.values()), recorded
    finally:
        proc.terminate()
        proc.wait(timeout=30)
