"""Fund flows end to end through the CLI on `coledger node start` (the demo consortium)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from client.borrower import national_id_check_char
from tests.conftest import free_port
from tests.e2e.test_node_start import COLEDGER, ROOT, RunningNode, _env, cli

pytestmark = pytest.mark.e2e


def _approve_all(out: str, d: list[str]) -> None:
    for proposal in re.findall(r"proposal (\d+)", out):
        assert "executed" in cli("consortium", "approve", *d, "--as", "partner-a", proposal)


def test_spend_verify_hold_release_watch_alerts_resumably_and_close(tmp_path: Path) -> None:
    data = tmp_path / "coledger-data"
    node = RunningNode(data, free_port())
    d = ["--data-dir", str(data)]
    nid = "44010619900101005"
    nid += national_id_check_char(nid)
    try:
        assert "FundFlows 0x" in node.text()
        _approve_all(cli("product", "create", *d, "--as", "lead-bank", "--partners", "3,4",
                         "--governance"), d)
        _approve_all(cli("flows", "rules", *d, "--as", "lead-bank", "--product", "1"), d)
        cli("line", "open", *d, "--as", "lead-bank", "--product", "1", "--national-id", nid,
            "--limit", "10000000", "--score-band", "2", "--model-hash", "0x" + "ab" * 32)
        cli("loan", "draw", *d, "--as", "lead-bank", "--line", "1", "--amount", "3000000",
            "--installments", "10", "--partners", "partner-a,partner-b")
        assert "loan 1 synced" in cli("flows", "sync", *d, "--as", "lead-bank", "1")

        def record(*extra: str) -> str:
            return cli("flows", "record", *d, "--as", "lead-bank", "--national-id", nid, *extra)

        assert ": ALLOW from loan 1:100000" in record("--kind", "merchant", "--amount", "100000",
                                                     "--mcc", "5411")
        out = record("--kind", "p2p", "--amount", "600000")
        verify = re.search(r"flow (\d+) p2p_transfer 600000 fen: VERIFY \(p2p_single\)", out)
        assert verify, out
        cursor = tmp_path / "alerts.cursor"
        first = cli("flows", "watch", *d, "--once", "--cursor-file", str(cursor))
        assert f"flow {verify.group(1)}" in first and "VERIFY (p2p_single)" in first
        assert "approved" in cli("flows", "verify", *d, "--as", "lead-bank", verify.group(1),
                                 "--attestation", "0x" + "cd" * 32)

        assert "HOLD (prohibited_category)" in record("--kind", "merchant", "--amount", "1000",
                                                      "--mcc", "7995")
        assert "REJECTED" in record("--kind", "merchant", "--amount", "1000", "--mcc", "5411")
        shown = json.loads(cli("flows", "account", *d, "--national-id", nid))
        assert shown["held"] is True and shown["balance"] == 3_000_000 - 100_000 - 600_000
        assert [h["verdict"] for h in shown["history"]] == ["ALLOW", "VERIFY", "HOLD", "REJECTED"]
        history = shown["history"]
        assert history[0]["lineage"] == [{"loan": 1, "amount": 100_000}]
        # the Verify flow settled (approved): its money left the loan when it settled
        assert history[1]["status"] == "approved"
        assert history[1]["lineage"] == [{"loan": 1, "amount": 600_000}]
        assert history[2]["lineage"] == [] and history[3]["lineage"] == []
        cli("flows", "release", *d, "--as", "lead-bank", "--national-id", nid,
            "--reason", "0x" + "ef" * 32)
        assert ": ALLOW" in record("--kind", "merchant", "--amount", "1000", "--mcc", "5411")

        second = cli("flows", "watch", *d, "--once", "--cursor-file", str(cursor))
        assert f"flow {verify.group(1)} " not in second  # resumed after it: no repeats
        assert "HOLD (prohibited_category)" in second and "REJECTED" not in second

        # Spend the rest (velocity flags it, it settles), close the account: it refuses flows.
        rest = 3_000_000 - 100_000 - 600_000 - 1_000
        assert ": FLAG (velocity)" in record("--kind", "repayment", "--amount", str(rest))
        reason = "0x" + "77" * 32
        assert "closed" in cli("flows", "close", *d, "--as", "lead-bank", "--national-id", nid,
                               "--reason", reason)
        assert json.loads(cli("flows", "account", *d, "--national-id", nid))["closed"] is True
        refused = subprocess.run(
            [*COLEDGER, "flows", "record", *d, "--as", "lead-bank", "--national-id", nid,
             "--kind", "merchant", "--amount", "1", "--mcc", "5411"],
            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2 and "FundFlowsAccountClosed" in refused.stderr, refused.stderr
        assert "reopened" in cli("flows", "reopen", *d, "--as", "lead-bank", "--national-id", nid,
                                 "--reason", reason)
    finally:
        node.stop()
