"""Fixtures of the real-clients stage: the session's embedded node (a process, admission on),
members admitted by governance after genesis, the test contract compiled once, and a runner for
the tools (Node scripts in js/, the cast binary).

Why members admitted after genesis: they hold no native coin, exactly like every member of a
real consortium — the case where tools that always add a tip used to fail.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from tests.conftest import ROOT, ChainHandle

HERE = Path(__file__).resolve().parent
JS = HERE / "js"
#: a hang guard for one tool run (each finishes in seconds)
RUN_TIMEOUT_S = 120


@pytest.fixture(autouse=True)
def _admission_backend(chain: ChainHandle) -> None:
    if chain.kind == "anvil":
        pytest.skip("the real-clients stage checks coledger's rules (free gas, admission): "
                    "embedded node or network only")


@pytest.fixture(scope="session")
def counter_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/node/contracts.sol's Counter (storage write + event), as {abi, bytecode}."""
    out = subprocess.run(["node", str(ROOT / "tests" / "node" / "compile.js")], check=True,
                         capture_output=True, timeout=RUN_TIMEOUT_S)
    path = tmp_path_factory.mktemp("clients") / "Counter.json"
    path.write_text(json.dumps(json.loads(out.stdout)["Counter"]))
    return path


@dataclass
class ToolRun:
    """What one tool run printed: its JSON report (scripts) or raw output (cast)."""

    returncode: int
    stdout: str
    stderr: str

    def report(self) -> Any:
        if self.returncode != 0:
            pytest.fail(f"tool run failed ({self.returncode}):\n{self.stderr}\n{self.stdout}")
        return json.loads(self.stdout.strip().splitlines()[-1])


def run_tool(cmd: list[str], env: dict[str, str]) -> ToolRun:
    """Run ``cmd`` in the repository with ``env`` added (keys travel in the environment)."""
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S)
    return ToolRun(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def tool_env(chain: ChainHandle, make_account: Callable[..., LocalAccount],
             counter_artifact: Path) -> Callable[[str], dict[str, str]]:
    """``tool_env(label)``: the scripts' environment with a fresh member (admitted now, by
    governance) and a stranger (never admitted)."""

    def make(label: str) -> dict[str, str]:
        member = make_account(f"clients-{label}")
        stranger = make_account(f"clients-{label}-stranger", admit=False)
        return {
            "COLEDGER_RPC_URL": chain.url,
            "COLEDGER_CHAIN_ID": str(chain.w3.eth.chain_id),
            "COLEDGER_MEMBER_KEY": member.key.to_0x_hex(),
            "COLEDGER_MEMBER_ADDRESS": member.address,
            "COLEDGER_STRANGER_KEY": stranger.key.to_0x_hex(),
            "COLEDGER_STRANGER_ADDRESS": stranger.address,
            "COLEDGER_ARTIFACT": str(counter_artifact),
        }

    return make


def run_script(script: str, env: dict[str, str], transport: str = "http") -> Any:
    """``node tests/clients/js/<script> <transport>``; its JSON report."""
    return run_tool(["node", str(JS / script), transport], env).report()
