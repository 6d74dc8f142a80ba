"""The co-lending CLI verbs end to end on `coledger node start` (the demo consortium)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from client.borrower import national_id_check_char
from tests.conftest import free_port
from tests.e2e.test_node_start import RunningNode, cli

pytestmark = pytest.mark.e2e


def test_product_line_draw_repay_show_classify_book_through_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "coledger-data"
    node = RunningNode(data, free_port())
    d = ["--data-dir", str(data)]
    try:
        assert "CreditLines 0x" in node.text()
        out = cli("product", "create", *d, "--as", "lead-bank", "--partners", "3,4", "--governance")
        proposal = re.search(r"governance proposal (\d+) .*1 approval", out)
        assert proposal, out
        assert "executed" in cli("consortium", "approve", *d, "--as", "partner-b", proposal.group(1))
        product = json.loads(cli("product", "show", *d, "1"))
        assert product["active"] and product["lead_share_bp"] == 2_000

        first17 = "11010519491231002"
        out = cli("line", "open", *d, "--as", "lead-bank", "--product", "1", "--national-id",
                  first17 + national_id_check_char(first17), "--limit", "10000000",
                  "--score-band", "2", "--model-hash", "0x" + "ab" * 32)
        assert re.search(r"line 1 opened for borrower 0x[0-9a-f]{64}", out), out
        assert first17 not in out

        out = cli("loan", "draw", *d, "--as", "lead-bank", "--line", "1", "--amount", "1000001",
                  "--installments", "5", "--partners", "partner-a,partner-b")
        assert "member 2: 200000, member 3: 400001, member 4: 400000" in out, out
        assert "disbursed loan 1" in out

        out = cli("loan", "repay", *d, "--as", "lead-bank", "1", "300000")
        assert "repaid 300000 fen on loan 1" in out
        shown = json.loads(cli("loan", "show", *d, "1", "--history"))
        events = [e["event"] for e in shown["history"]]
        assert events[:2] == ["DrawdownProposed", "DrawdownCommitted"] and "Repaid" in events
        assert events.index("LoanOpened") < events.index("Repaid")
        assert shown["status"] == "active" and len(shown["schedule"]) == 5
        assert sum(row["principal"] for row in shown["schedule"]) == 1_000_001
        assert sum(p["principal_lent"] for p in shown["lenders"]) == 1_000_001
        assert "loan 1: normal" in cli("loan", "classify", *d, "--as", "auditor", "1")
        out = cli("book", *d, "--member", "3")
        assert "member 3:" in out and "NPL ratio 0.00%" in out
    finally:
        node.stop()
