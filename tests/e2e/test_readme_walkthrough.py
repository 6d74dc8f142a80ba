"""The README's walkthrough, run exactly as written: extracted from README.md, so it cannot drift.

A new user pastes the `## For each user` blocks into one shell, in order, against a fresh dev
node. This test does the same: it reads the node's start command from the block marked
`<!-- walkthrough: node -->` and every block marked `<!-- walkthrough -->`, starts that node in
an empty directory (the README's `./coledger-data`, on the README's port 8545), and runs the
blocks in one `bash` with `set -euo pipefail`, `coledger` resolved from this virtualenv's `bin`.
It then checks what could fail: the VERIFY verdict (the rules were approved), the HOLD, the
audit replay and check, the default reaching a case, the verified download and the award.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK_MARK = "<!-- walkthrough -->"
NODE_MARK = "<!-- walkthrough: node -->"
#: The ports the README's commands name: the node's JSON-RPC and the arbitration API.
README_PORTS = {8545: "the node's JSON-RPC", 8600: "the arbitration API"}
#: The sections the walkthrough must cover, in this order (a lost marker fails here).
SECTIONS = ("governors", "governors", "co-lending", "closed-loop fund flows", "Auditor", "Auditor",
            "default evidence and arbitration")


@dataclass(frozen=True)
class Block:
    section: str
    line: int
    text: str


def _fenced_after(lines: list[str], i: int, mark: str) -> str:
    """The ```bash block right after the marker on line i (a marker anywhere else is an error)."""
    if i + 1 >= len(lines) or lines[i + 1].strip() != "```bash":
        raise AssertionError(f"README.md:{i + 1}: {mark} must be followed by a ```bash fence")
    body: list[str] = []
    for line in lines[i + 2:]:
        if line.strip() == "```":
            return "\n".join(body) + "\n"
        body.append(line)
    raise AssertionError(f"README.md:{i + 1}: the block after {mark} is never closed")


def unmarked_blocks(readme: str) -> list[str]:
    """The ```bash blocks of `## For each user` that carry no walkthrough marker."""
    lines = readme.splitlines()
    start = lines.index("## For each user")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    return [_fenced_after(lines, i - 1, "a block") for i in range(start, end)
            if lines[i].strip() == "```bash" and lines[i - 1].strip() not in (BLOCK_MARK, NODE_MARK)]


def extract(readme: str) -> tuple[str, list[Block]]:
    """(the node start command, the walkthrough blocks in order) from the README's text."""
    lines = readme.splitlines()
    section = ""
    node: list[str] = []
    blocks: list[Block] = []
    for i, line in enumerate(lines):
        if line.startswith("### "):
            section = line[4:]
        if line.strip() == NODE_MARK:
            node.append(_fenced_after(lines, i, NODE_MARK).strip())
        elif line.strip() == BLOCK_MARK:
            blocks.append(Block(section, i + 1, _fenced_after(lines, i, BLOCK_MARK)))
    assert len(node) == 1, f"README.md needs exactly one {NODE_MARK} block, found {len(node)}"
    return node[0], blocks


def test_the_readme_marks_a_node_command_and_one_block_per_section() -> None:
    node, blocks = extract(README.read_text(encoding="utf-8"))
    assert shlex.split(node)[:3] == ["coledger", "node", "start"] and "\n" not in node, node
    assert "--allow-time-travel" in node
    found = [b.section for b in blocks]
    assert len(found) == len(SECTIONS), found
    for section, want in zip(found, SECTIONS, strict=True):
        assert want in section, (section, want)
    # a block left out of the walkthrough is one that needs a consortium network, and says so
    for block in unmarked_blocks(README.read_text(encoding="utf-8")):
        assert "coledger-network" in block, f"a For-each-user block without a walkthrough marker:\n{block}"


def _port_busy(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _env() -> dict[str, str]:
    """A new user's shell: this virtualenv's `coledger` first on PATH, no secrets preset."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "coledger").is_file():
        pytest.fail(f"{bin_dir}/coledger is missing: install the project (`bash scripts/install.sh`)")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COLEDGER_") and k not in ("VIRTUAL_ENV",)}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, and whatever it left in that session."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture()
def dev_node(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The README's dev node, started as the README says, in an empty directory."""
    busy = [f"{port} ({what})" for port, what in README_PORTS.items() if _port_busy(port)]
    if busy:
        pytest.fail(f"port {', '.join(busy)} on 127.0.0.1 is in use: the README walkthrough runs on "
                    "the README's ports; stop what listens there and run this test again")
    command, _ = extract(README.read_text(encoding="utf-8"))
    log = tmp_path / "node.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(shlex.split(command), cwd=tmp_path, env=_env(), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while "stop with Ctrl-C" not in log.read_text(errors="replace"):
            if proc.poll() is not None:
                pytest.fail(f"`{command}` exited with {proc.returncode}: {log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"`{command}` did not finish starting in 180 s: {log.read_text()}")
            time.sleep(0.2)
        yield tmp_path, log
    finally:
        _stop_group(proc)


def test_the_readme_walkthrough_runs_as_written_on_a_fresh_dev_node(
        dev_node: tuple[Path, Path]) -> None:
    cwd, node_log = dev_node
    _, blocks = extract(README.read_text(encoding="utf-8"))
    script = "set -euo pipefail\n" + "".join(
        f"echo '>>> README.md:{b.line} ({b.section})'\n{b.text}" for b in blocks)
    shell = subprocess.Popen(["bash", "-c", script], cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out_bytes, _ = shell.communicate(timeout=600)
    finally:
        _stop_group(shell)  # the API the last block started in the background, if still there
    out = out_bytes.decode(errors="replace")
    tail = out[-6000:]
    assert shell.returncode == 0, f"the walkthrough failed (exit {shell.returncode}):\n{tail}"

    # governance: the proposal ids were captured, not guessed
    assert re.search(r"proposal 1 approved: executed", out), tail
    # co-lending: the drawdown's split and one repaid installment
    assert re.search(r"repaid 209090 fen on loan 1: penalty 0, interest 15000", out), tail
    # fund flows: the rules were approved, so the large P2P transfer is VERIFY (not ALLOW),
    # verified and settled; the gambling merchant holds the account; the feed shows all three
    assert re.search(r'"amount": 600000,\s*"verdict": "VERIFY",\s*"status": "pending"', out), tail
    assert re.search(r'"amount": 600000,\s*"verdict": "VERIFY",\s*"status": "approved"', out), tail
    assert "merchant_payment 5000 fen: HOLD (prohibited_category)" in out, tail
    assert re.search(r"product 1: VERIFY \(p2p_single\)", out), tail
    assert re.search(r"product 1: FLAG \(velocity\)", out), tail
    # the auditor: replay clean (and resumable), every invariant passes, no view mismatch
    assert re.search(r"^replay ok: \d+ blocks", out, re.M), tail
    assert "resumed after block" in out, tail
    assert re.search(r"; 0 view mismatches; report in audit/audit\.html", out), tail
    assert not re.search(r"^FAIL ", out, re.M), tail
    assert (cwd / "audit" / "audit.html").is_file()
    # the default: time travelled, the ladder reached arbitration, a case opened on the loan
    assert "chain time moved 13046400 s forward" in out, tail
    assert "loan 1: arbitration recorded" in out, tail
    assert re.search(r'"case_id": 1,\s*"loan_id": 1,', out), tail
    # the arbitrator: a verified bundle and item, then the signed award
    assert "bundle OK: 4 item(s) in 2 batch(es), case 1" in out, tail
    assert "plaintext sha256 + sm3 and ciphertext sha256 match the anchored record" in out, tail
    assert (cwd / "item.pdf").read_bytes() == (cwd / "agreement.pdf").read_bytes()
    assert re.search(r"award recorded on case 1 \(loan 1\): award hash 0x[0-9a-f]{64}", out), tail
    assert "Traceback" not in out and "Traceback" not in node_log.read_text(errors="replace")
