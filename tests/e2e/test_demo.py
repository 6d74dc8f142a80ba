"""`coledger demo` as a user runs it: a real process that starts the node and the API as its own
children, plays the story, and leaves nothing running when it ends (or is stopped).

One played demo dir per module (the story takes ~20 s): the `--no-serve` run makes it, the serve
test resumes serving it, the refusals use it too.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from arbitration.chain_check import check_award
from arbitration.demo.errors import DemoDirError
from arbitration.demo.look import where_to_look
from arbitration.demo.state import check_data_dir
from arbitration.demo.story import ACTS, TOTAL_STEPS, DemoOptions, run_demo
from arbitration.proofs import read_case_zip
from client.keys import Keystore, demo_password
from tests.conftest import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
COLEDGER = [sys.executable, "-m", "client.cli"]
STEP = re.compile(r"^\[\s*(\d+)/(\d+)\s+[\d.]+s\] (\S+)\s+(.*)$")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COLEDGER_KEYSTORE_PASSWORD", None)  # the demo's generated keystore password
    return env


def _demo(data_dir: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COLEDGER, "demo", "--data-dir", str(data_dir), "--port", str(free_port()),
                           "--api-port", str(free_port()), *extra],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout)


def _running_with(data_dir: Path) -> list[str]:
    """Command lines of live processes that name `data_dir` (the demo, its node, its API)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if str(data_dir).encode() in raw and state != "Z":
            found.append(raw.replace(b"\0", b" ").decode(errors="replace"))
    return found


@dataclass
class Played:
    data_dir: Path
    stdout: str
    seconds: float


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    data_dir = tmp_path_factory.mktemp("demo") / "demo-data"
    t0 = time.monotonic()
    done = _demo(data_dir, "--no-serve")
    seconds = time.monotonic() - t0
    assert done.returncode == 0, f"demo failed: {done.stderr[-2000:]}\n{done.stdout[-3000:]}"
    yield Played(data_dir, done.stdout, seconds)
    assert not _running_with(data_dir)


def test_no_serve_plays_every_act_in_order_and_leaves_nothing_running(played: Played) -> None:
    steps = [m.groups() for m in map(STEP.match, played.stdout.splitlines()) if m]
    assert [int(n) for n, *_ in steps] == list(range(1, TOTAL_STEPS + 1))
    assert {int(total) for _, total, *_ in steps} == {TOTAL_STEPS}
    acts = [act for _, _, act, _ in steps]
    for name in [a.ACT for a in ACTS] + ["evidence"]:
        assert name in acts, f"act {name} not reported"
    text = "\n".join(line for *_, line in steps)
    for verdict in ("ALLOW:", "VERIFY:", "FLAG:", "HOLD:", "REJECTED"):
        assert verdict in text
    assert "loan DEFAULTED" in text and "paid off" in text
    assert not _running_with(played.data_dir), "a process of the demo outlived it"
    print(f"demo --no-serve wall time: {played.seconds:.1f} s")


def test_the_auditor_found_the_chain_clean_and_wrote_the_report(played: Played) -> None:
    audit = played.data_dir / "audit"
    replay = json.loads((audit / "replay.json").read_text())
    assert replay["result"] == "ok" and replay["divergence"] is None and replay["transactions"] > 40
    report = json.loads((audit / "audit.json").read_text())
    assert report["invariants"] and all(r["passed"] for r in report["invariants"])
    html = (audit / "audit.html").read_text()
    assert "<html" in html[:500].lower() and "invariant" in html.lower()
    assert f"report {audit / 'audit.html'}" in played.stdout


def test_the_case_has_an_award_signed_by_its_arbitrator(played: Played) -> None:
    summary = json.loads((played.data_dir / "demo.json").read_text())["summary"]
    case = read_case_zip(Path(summary["case"]["zip"]).read_bytes()).case
    keystore = Keystore(played.data_dir / "keystore", demo_password(played.data_dir / "keystore"))
    assert case["award"]["award_hash"] == summary["case"]["award_hash"]
    assert check_award(case) == keystore.address("arbitrator")  # EIP-712 signer recovered offline
    assert Path(summary["case"]["award_file"]).stat().st_mode & 0o077 == 0


def test_serve_mode_serves_the_case_page_until_sigint_then_both_children_exit(played: Played) -> None:
    proc = subprocess.Popen([*COLEDGER, "demo", "--data-dir", str(played.data_dir), "--port", str(free_port()),
                             "--api-port", str(free_port())],
                            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("demo ready:"):
                break
        else:
            raise AssertionError(f"no ready line: {''.join(lines)}")
        page = next(m.group(0) for m in map(re.compile(r"http://127\.0\.0\.1:\d+/cases/\d+/page").search, lines)
                    if m)
        children = [c for c in _running_with(played.data_dir) if " node start " in c or " api start " in c]
        assert len(children) == 2, children
        second = _demo(played.data_dir)  # a second demo on the same dir would run a second node on its store
        assert second.returncode == 2 and "in use by another" in second.stderr
        assert httpx.get(page).status_code == 401  # the page wants the arbitrator signed in
        base = page.split("/cases/")[0]
        keystore = Keystore(played.data_dir / "keystore", demo_password(played.data_dir / "keystore"))
        arbitrator = keystore.load("arbitrator")
        c = httpx.post(f"{base}/auth/challenge", json={"address": arbitrator.address}).json()
        signature = Account.sign_message(encode_defunct(text=c["message"]), arbitrator.key).signature
        token = httpx.post(f"{base}/auth/token", json={
            "address": arbitrator.address, "nonce": c["nonce"], "signature": "0x" + bytes(signature).hex(),
            "set_cookie": True})
        assert token.status_code == 200
        shown = httpx.get(page, cookies=token.cookies)
        assert shown.status_code == 200 and "text/html" in shown.headers["content-type"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not _running_with(played.data_dir)


def test_a_sigterm_mid_story_stops_both_children_and_the_dir_is_then_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "interrupted"
    proc = subprocess.Popen([*COLEDGER, "demo", "--data-dir", str(data_dir), "--no-serve", "--port",
                             str(free_port()), "--api-port", str(free_port())],
                            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("[") and " lending " in line:
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not _running_with(data_dir)
    with pytest.raises(DemoDirError, match=r"did not finish \(stopped during: step \d+/"):
        check_data_dir(data_dir)  # the CLI prints this as its one line (see the refusals below)


def test_refusals_are_one_line_and_touch_nothing(played: Played, tmp_path: Path) -> None:
    other = tmp_path / "someone-elses"
    other.mkdir()
    (other / "keep.txt").write_text("not a demo")
    done = _demo(other, "--no-serve")
    assert done.returncode == 2 and "is not a coledger demo's data dir" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
    assert sorted(p.name for p in other.iterdir()) == ["keep.txt"]
    with pytest.raises(DemoDirError, match="already played"):
        run_demo(DemoOptions(played.data_dir, serve=False), io.StringIO())


def test_the_printed_commands_paste_as_they_are_even_with_a_space_in_the_dir(played: Played) -> None:
    summary = json.loads((played.data_dir / "demo.json").read_text())["summary"]
    root = Path("/tmp/my demo data")
    text = where_to_look(root, summary, "http://127.0.0.1:8545", "http://127.0.0.1:8600", serving=True)
    commands = [shlex.split(line) for line in text.splitlines() if line.strip().startswith("coledger ")]
    assert len(commands) >= 5
    for argv in commands:
        assert argv[0] == "coledger"
        if "--data-dir" in argv:
            assert argv[argv.index("--data-dir") + 1] == str(root)
    loan = summary["case"]["loan"]
    assert ["coledger", "loan", "show", "--data-dir", str(root), str(loan), "--history"] in commands
