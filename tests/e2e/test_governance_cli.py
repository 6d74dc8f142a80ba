"""`coledger consortium parameters` / `proposal N` / `propose set-parameter`, as a user runs them.

One `coledger node start` (the demo consortium: lead bank and partner A govern 2 of 3), then the
CLI as subprocesses: a mistyped name is refused in one line with the right name suggested and no
proposal is created; the README's governance block runs exactly as written (extracted from
README.md, so the two cannot drift) and changes the exposure cap; the decoded proposal and the
parameter list show the change readably, and their `--json` forms parse.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from client.cli import main
from tests.conftest import free_port
from tests.e2e.test_node_start import ROOT, RunningNode, _env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    running = RunningNode(tmp_path_factory.mktemp("governance") / "coledger-data", free_port())
    try:
        yield running
    finally:
        running.stop()


def _run(node: RunningNode, *argv: str) -> tuple[int, str, str]:
    """`coledger ARGV --data-dir DIR` in-process (the same `main`, without another interpreter
    start; the README block below runs as real subprocesses): (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    saved = os.environ.pop("COLEDGER_KEYSTORE_PASSWORD", None)  # the data dir's demo password
    try:
        with redirect_stdout(out), redirect_stderr(err):
            status = main([*argv[:2], "--data-dir", str(node.data_dir), *argv[2:]])
    finally:
        if saved is not None:
            os.environ["COLEDGER_KEYSTORE_PASSWORD"] = saved
    return status, out.getvalue(), err.getvalue()


def _ok(node: RunningNode, *argv: str) -> str:
    status, out, err = _run(node, *argv)
    assert status == 0, f"coledger {' '.join(argv)}: {err}"
    return out


def _readme_block() -> str:
    """The README's bash block that sets the exposure cap (the one with `set-parameter`)."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    found = [b for b in blocks if "set-parameter lending.borrowerExposureCap" in b]
    assert len(found) == 1, "the README should have exactly one exposure-cap governance block"
    return found[0]


def test_a_mistyped_name_is_refused_in_one_line_and_nothing_is_proposed(node: RunningNode) -> None:
    status, _, err = _run(node, "consortium", "propose", "--as", "lead-bank",
                          "set-parameter", "lending.borowerExposureCap", "20000000")
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "unknown parameter 'lending.borowerExposureCap'" in lines[0]
    assert "did you mean lending.borrowerExposureCap" in lines[0]
    status, _, err = _run(node, "consortium", "proposal", "1")
    assert status == 2
    assert err.strip() == ("coledger: error: the chain refused: ConsortiumUnknownProposal(proposalId=1) "
                           "(proposals on this chain: none yet)")


def test_the_readme_block_changes_the_cap_and_every_view_shows_it_readably(node: RunningNode) -> None:
    before = json.loads(_ok(node, "consortium", "parameters", "--json"))
    assert len(before) == 13
    cap = next(r for r in before if r["name"] == "lending.borrowerExposureCap")
    assert (cap["value"], cap["in_force"], cap["read_by"], cap["unit"]) == (0, 30_000_000, "CreditLines", "fen")

    script = "coledger() { \"$PY\" -m client.cli \"$@\"; }\nset -euo pipefail\n" + _readme_block()
    env = {**_env(), "PY": sys.executable, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["bash", "-c", script], cwd=node.data_dir.parent, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "proposal 1 approved: executed" in out
    assert "proposal 1: set-parameter — set lending.borrowerExposureCap" in out
    assert "-> 20,000,000 fen (200,000.00 RMB)" in out
    assert re.search(r"approvals:\s+2 of 2: #2 Lead Bank, #3 Partner Bank A", out), out
    assert re.search(r"executed:\s+block \d+ at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+\)", out), out
    assert "set to 20,000,000; in force: 20,000,000 fen (200,000.00 RMB)" in out

    view = json.loads(_ok(node, "consortium", "proposal", "1", "--json"))
    assert (view["kind"], view["status"], view["executed"]) == ("set_parameter", "executed", True)
    assert view["proposer"] == {"id": 2, "name": "Lead Bank"}
    assert [a["name"] for a in view["approved_by"]] == ["Lead Bank", "Partner Bank A"]
    assert (view["action"]["parameter"], view["action"]["old"], view["action"]["new"]) == (
        "lending.borrowerExposureCap", 0, 20_000_000)
    after = json.loads(_ok(node, "consortium", "parameters", "--json"))
    cap = next(r for r in after if r["name"] == "lending.borrowerExposureCap")
    assert (cap["value"], cap["in_force"], cap["set"]) == (20_000_000, 20_000_000, True)


@pytest.mark.parametrize("bad, words", [("-5", "not a positive integer"), ("x", "'x' is not an integer"),
                                        (str(2**256), "not a positive integer below 2^256")])
def test_a_malformed_proposal_id_is_a_usage_line_naming_it(tmp_path: Path, bad: str, words: str) -> None:
    for verb in (["proposal"], ["approve", "--as", "lead-bank"]):
        err = io.StringIO()
        with redirect_stderr(err), pytest.raises(SystemExit) as exit_:
            main(["consortium", *verb, "--data-dir", str(tmp_path), "--", bad])
        assert exit_.value.code == 2
        last = err.getvalue().strip().splitlines()[-1]
        assert last.startswith("coledger consortium") and words in last, err.getvalue()
