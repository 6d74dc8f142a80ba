"""Every CLI mistake is answered in one line, never with a Python traceback.

Two kinds: every verb against a node that is not running (with junk in every required
argument), in-process; and the ordinary mistakes of the README's walkthrough — an id that does
not exist, a malformed hash, a proposal that is not there — against a running node.
"""

from __future__ import annotations

import argparse
import io
import subprocess
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from client.cli import build_parser, main
from tests.conftest import free_port
from tests.e2e.test_node_start import COLEDGER, ROOT, RunningNode, _env

pytestmark = pytest.mark.e2e

#: verbs that start a long-running server or compile: not "a mistake answered in one line"
_LONG_RUNNING = {"node start", "network start", "network init", "api start", "build",
                 "flows watch", "demo"}


def _leaves(parser: argparse.ArgumentParser, path: list[str]) -> Iterator[tuple[list[str], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for action in subs:
        for name, sub in action.choices.items():
            yield from _leaves(sub, [*path, name])


def _junk_argv(path: list[str], parser: argparse.ArgumentParser, data: Path) -> list[str]:
    argv = list(path)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            flag = action.option_strings[-1]
            if flag == "--rpc":
                argv += [flag, "http://127.0.0.1:9"]  # nothing listens there
            elif flag == "--data-dir":
                argv += [flag, str(data)]
            elif action.required:
                argv += [flag, action.choices[0] if action.choices else "1"]
        elif action.nargs in (None, 1):
            argv.append(next(iter(action.choices)) if action.choices else "1")
        elif action.nargs == "+":
            argv.append("1")
    return argv


def test_every_verb_answers_junk_without_a_node_in_one_line(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a junk "--out 1" is written here, not into the checkout
    data = tmp_path / "no-node"
    data.mkdir()
    checked = 0
    for path, parser in _leaves(build_parser(), []):
        if " ".join(path) in _LONG_RUNNING:
            continue
        argv = _junk_argv(path, parser, data)
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse refused the junk: a usage line
                code = int(exc.code or 0)
        text = err.getvalue()
        assert "Traceback" not in text + out.getvalue(), (argv, text)
        if code != 0:
            last = text.strip().splitlines()[-1] if text.strip() else ""
            assert last.startswith("coledger"), (argv, text)
            assert "error:" in last, (argv, text)
            assert "unexpected" not in last, (argv, last)  # every mistake is a foreseen one
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize("args, words", [
    (["consortium", "proposal", "99"], "ConsortiumUnknownProposal(proposalId=99)"),
    (["loan", "show", "99"], "LoanLedgerUnknownLoan(loanId=99)"),
    (["product", "show", "99"], "ProductCatalogUnknownProduct(productId=99)"),
    (["consortium", "approve", "--as", "partner-a", "99"], "ConsortiumUnknownProposal"),
    (["loan", "repay", "--as", "lead-bank", "99", "100"], "LoanLedgerUnknownLoan(loanId=99)"),
    (["loan", "collect", "--as", "lead-bank", "1", "reminder", "--evidence-hash", "0x..."],
     "is not 0x followed by 64 hex digits"),
    (["flows", "account", "--account", "0xjunk"], "account is not hex"),
    (["keys", "new", "lead-bank"], "lead-bank"),
    (["consortium", "members", "--rpc", "http://127.0.0.1:9"], "cannot reach"),
])
def test_ordinary_mistakes_on_a_running_node_are_one_line(running: Path, args: list[str],
                                                          words: str) -> None:
    done = subprocess.run([*COLEDGER, *args[:2], "--data-dir", str(running), *args[2:]],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert words in lines[-1], done.stderr
    assert lines[-1].startswith("coledger")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data = tmp_path_factory.mktemp("mistakes") / "coledger-data"
    node = RunningNode(data, free_port())
    try:
        yield data
    finally:
        node.stop()
