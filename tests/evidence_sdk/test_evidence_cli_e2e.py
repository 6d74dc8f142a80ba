"""End to end on `coledger node start`: a loan defaults, its evidence goes to arbitration, all by CLI.

The node runs the demo consortium with time travel enabled (a loan defaults only 90 days past
due); everything else goes through the `coledger` command as separate processes, so the
`coledger.commands` entry point of the evidence plugin is exercised as installed.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from client.borrower import national_id_check_char
from client.connection import connect
from tests.conftest import free_port
from tests.e2e.test_node_start import COLEDGER, ROOT, RunningNode, _env, cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DAY = 86_400


class TimeTravelNode(RunningNode):
    """`RunningNode` started with --allow-time-travel."""

    def __init__(self, data_dir: Path, port: int) -> None:
        super().__init__(data_dir, port, "--allow-time-travel")


def fails(*args: str) -> tuple[int, str]:
    done = subprocess.run([*COLEDGER, *args], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    return done.returncode, done.stderr


def test_a_defaulted_loans_evidence_reaches_the_arbitrator_and_the_award_is_recorded(tmp_path: Path) -> None:
    data = tmp_path / "coledger-data"
    node = TimeTravelNode(data, free_port())
    d = ["--data-dir", str(data)]
    try:
        assert "EvidenceRegistry 0x" in node.text() and "ArbitrationCases 0x" in node.text()
        out = cli("product", "create", *d, "--as", "lead-bank", "--partners", "3,4", "--governance")
        proposal = re.search(r"governance proposal (\d+) ", out)
        assert proposal, out
        cli("consortium", "approve", *d, "--as", "partner-b", proposal.group(1))
        first17 = "11010519491231002"
        cli("line", "open", *d, "--as", "lead-bank", "--product", "1", "--national-id",
            first17 + national_id_check_char(first17), "--limit", "10000000", "--score-band", "2",
            "--model-hash", "0x" + "ab" * 32)
        assert "disbursed loan 1" in cli("loan", "draw", *d, "--as", "lead-bank", "--line", "1", "--amount",
                                         "1000000", "--installments", "5", "--partners", "partner-a,partner-b")
        agreement = tmp_path / "agreement.pdf"
        agreement.write_bytes(b"%PDF loan agreement signed by the borrower")
        out = cli("evidence", "submit", *d, "--as", "lead-bank", "--loan", "1", "--kind", "loan_agreement",
                  "--collected", "e-signature platform export", str(agreement))
        assert "(application/pdf)" in out
        frozen = re.search(r"evidence (0x[0-9a-f]{64}) anchored", out)
        assert frozen, out

        w3 = connect(node.url)
        w3.provider.make_request("evm_increaseTime", [150 * DAY])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        logs = []
        for i in range(2):
            f = tmp_path / f"collection-{i}.txt"
            f.write_text(f"collection call {i}: borrower unreachable")
            logs.append(str(f))
        out = cli("evidence", "anchor-batch", *d, "--as", "lead-bank", "--loan", "1", "--kind", "collection_log",
                  *logs)
        root = re.search(r"root (0x[0-9a-f]{64}), 2 items", out)
        assert root, out
        cli("loan", "collect", *d, "--as", "lead-bank", "1", "arbitration", "--evidence-hash", root.group(1))

        code, err = fails("evidence", "open-case", *d, "--as", "lead-bank", "--loan", "1", "--arbitrator",
                          "Arbitration Commission")
        assert code == 2 and "has no reader key registered on chain" in err and err.count("\n") == 1
        assert "registered" in cli("evidence", "register-key", *d, "--as", "arbitrator")
        out = cli("evidence", "open-case", *d, "--as", "lead-bank", "--loan", "1", "--arbitrator",
                  "Arbitration Commission")
        assert re.search(r"case 1 opened on loan 1: .*\n  frozen head 0x[0-9a-f]{64}, 3 items", out), out

        later = tmp_path / "later.txt"
        later.write_text("letter from the borrower's employer, received after the case opened")
        added = re.search(r"evidence (0x[0-9a-f]{64}) anchored",
                          cli("evidence", "submit", *d, "--as", "lead-bank", "--loan", "1", "--kind", "other",
                              str(later)))
        assert added
        for eid, source in ((frozen.group(1), agreement), (added.group(1), later)):
            plain = tmp_path / f"opened-{eid}"
            cli("evidence", "open", eid, *d, "--as", "arbitrator", "--out", str(plain))
            assert plain.read_bytes() == source.read_bytes()
        code, err = fails("evidence", "open", frozen.group(1), *d, "--as", "auditor", "--out",
                          str(tmp_path / "no"))
        assert code == 2 and "no key wrapped for reader" in err

        award = tmp_path / "award.pdf"
        award.write_bytes(b"%PDF award")
        out = cli("evidence", "award", *d, "--as", "arbitrator", "--case", "1", "--award-file", str(award))
        assert f"award hash 0x{hashlib.sha256(award.read_bytes()).hexdigest()}" in out
        code, err = fails("evidence", "award", *d, "--as", "arbitrator", "--case", "1", "--award-file", str(award))
        assert code == 2 and "ArbitrationCaseNotOpen" in err
        arbitrator_works_through_the_api(data, tmp_path, node.url, frozen.group(1), agreement.read_bytes())
    finally:
        node.stop()


def arbitrator_works_through_the_api(data: Path, tmp_path: Path, rpc: str, eid: str, content: bytes) -> None:
    """`coledger api start --data-dir` serves the data dir's deployment; the arbitrator signs in
    with its local key, downloads the case zip and verifies it against the node, and fetches one
    item sealed, decrypting and verifying it locally; the auditor may not read content."""
    port = free_port()
    env = {**_env(), "COLEDGER_API_TOKEN_SECRET": secrets.token_urlsafe(48)}
    proc = subprocess.Popen([*COLEDGER, "api", "start", "--data-dir", str(data), "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    health = json.loads(r.read())
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"api start did not serve: {proc.communicate()[0]}") from None
                time.sleep(0.2)
        assert health["chain_id"] == 1337 and health["status"] in ("ok", "degraded")
        assert (data / "evidence" / "index.sqlite3").exists()
        api = ("--data-dir", str(data), "--url", f"http://127.0.0.1:{port}")
        shown = cli("api", "get", "/cases", *api, "--as", "arbitrator")
        cases = json.loads(shown)
        assert [c["case_id"] for c in cases["cases"]] == [1], cases
        assert shown.startswith("{\n  ") and shown.count("\n") > 3  # indented for a person
        zipped = tmp_path / "case-1.zip"
        cli("api", "get", "/cases/1/bundle", *api, "--as", "arbitrator", "--out", str(zipped))
        out = cli("evidence", "verify", str(zipped), "--rpc", rpc)
        assert "bundle OK" in out and "found on the chain" in out, out
        plain = tmp_path / "via-api"
        out = cli("api", "content", eid, *api, "--as", "arbitrator", "--out", str(plain), "--rpc", rpc)
        assert plain.read_bytes() == content and "anchor found on" in out, out
        code, err = fails("api", "content", eid, *api, "--as", "auditor", "--out", str(tmp_path / "no"))
        assert code == 2 and "HTTP 403" in err, err
    finally:
        proc.terminate()
        proc.wait(timeout=30)
