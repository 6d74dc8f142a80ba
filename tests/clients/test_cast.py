"""Foundry's cast with its defaults against the embedded node.

cast's own binary is run (node_modules/@foundry-rs/cast-<platform>/bin/cast), not the npm
wrapper: the wrapper exits 0 when cast fails. Members sign from their encrypted keystores
(client.keys.Keystore, the files `coledger` keeps), as an institution's operator would. cast
fills fees itself: alloy's estimate never offers a tip below 1 wei, which the node accepts and
does not charge (node.evm.ColedgerState).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from client.keys import Keystore
from client.private_files import write_private
from tests.clients.conftest import ToolRun, run_tool
from tests.conftest import ROOT

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
CAST = (ROOT / "node_modules" / "@foundry-rs"
        / f"cast-{platform.system().lower()}-{_ARCH.get(platform.machine().lower(), 'amd64')}"
        / "bin" / "cast")
#: runtime that returns SELFBALANCE (47 6000 52 6020 6000 f3): what --override-balance sets
SELF_BALANCE_CODE = "0x4760005260206000f3"
REFUSED = "not allowed by Consortium"


@dataclass
class Cast:
    env: dict[str, str]
    member: dict[str, str]
    stranger: dict[str, str]

    def __call__(self, *args: str) -> ToolRun:
        return run_tool([str(CAST), *args], self.env)

    def ok(self, *args: str) -> str:
        run = self(*args)
        assert run.returncode == 0, f"cast {' '.join(args)} failed:\n{run.stderr}"
        return run.stdout.strip()

    def send(self, signer: dict[str, str], *args: str) -> ToolRun:
        return self("send", "--keystore", signer["keystore"], "--password-file",
                    signer["password"], *args)


@pytest.fixture(scope="module")
def cast(tool_env: Callable[[str], dict[str, str]],
         tmp_path_factory: pytest.TempPathFactory) -> Cast:
    if not CAST.exists():
        pytest.fail(f"{CAST} is missing: run scripts/install.sh (npm @foundry-rs/cast)")
    env = tool_env("cast")
    keys = tmp_path_factory.mktemp("cast-keys") / "keystore"
    password = "cast-test-password"
    store = Keystore(keys, password)
    password_file = keys / "password"
    signers = {}
    for who in ("member", "stranger"):
        key = bytes.fromhex(env[f"COLEDGER_{who.upper()}_KEY"][2:])
        store.create(who, private_key=key)
        signers[who] = {"keystore": str(store.path(who)), "password": str(password_file),
                        "address": Account.from_key(key).address}
    write_private(password_file, password.encode())  # beside the keys, 0600 in their 0700 dir
    return Cast({"ETH_RPC_URL": env["COLEDGER_RPC_URL"], "NO_COLOR": "1",
                 "FOUNDRY_DISABLE_NIGHTLY_WARNING": "1"}, signers["member"], signers["stranger"])


def _raw(run: ToolRun) -> str:
    if run.returncode != 0:
        pytest.fail(f"cast failed ({run.returncode}):\n{run.stderr}")
    return run.stdout


@pytest.fixture(scope="module")
def counter(cast: Cast, counter_artifact: Path) -> str:
    """The Counter deployed by `cast send --create` with cast's default fees."""
    bytecode = json.loads(counter_artifact.read_text())["bytecode"]
    receipt = json.loads(_raw(cast.send(cast.member, "--json", "--create", bytecode)))
    assert receipt["status"] == "0x1", receipt
    return str(receipt["contractAddress"])


def test_cast_send_with_defaults_succeeds_offering_a_tip_that_is_not_charged(
        cast: Cast, counter: str) -> None:
    receipt = json.loads(_raw(cast.send(cast.member, "--json", counter, "increment()")))
    assert receipt["status"] == "0x1"
    assert receipt["effectiveGasPrice"] == "0x0"
    tx: dict[str, Any] = json.loads(cast.ok("tx", "--json", receipt["transactionHash"]))
    assert tx["type"] == "0x2"
    assert int(tx["maxPriorityFeePerGas"], 16) >= 1  # what alloy always offers
    assert cast.ok("balance", cast.member["address"]) == "0"
    again = json.loads(cast.ok("receipt", "--json", receipt["transactionHash"]))
    assert again["status"] == "0x1" and again["blockHash"] == receipt["blockHash"]
    assert cast.ok("call", counter, "count()(uint256)") == "1"


def test_cast_call_with_state_and_balance_overrides(cast: Cast, counter: str) -> None:
    assert cast.ok("call", counter, "count()(uint256)", "--override-state",
                   f"{counter}:0x0:0x2a") == "42"
    assert cast.ok("call", counter, "count()(uint256)", "--override-state-diff",
                   f"{counter}:0x0:0x7") == "7"
    probe = "0x" + "5e" * 20
    out = cast.ok("call", probe, "--override-code", f"{probe}:{SELF_BALANCE_CODE}",
                  "--override-balance", f"{probe}:12345")
    assert int(out, 16) == 12345
    assert cast.ok("balance", probe) == "0"  # the override touched nothing


def test_cast_access_list_names_the_counter_slot(cast: Cast, counter: str) -> None:
    out = json.loads(cast.ok("access-list", "--json", "--from", cast.member["address"],
                             counter, "increment()"))
    entry = out["access_list"] if "access_list" in out else out["accessList"]
    assert entry[0]["address"].lower() == counter.lower()
    assert entry[0]["storageKeys"] == ["0x" + "00" * 32]


def test_cast_send_from_a_stranger_fails_with_the_admission_reason(
        cast: Cast, counter: str) -> None:
    run = cast.send(cast.stranger, counter, "increment()")
    assert run.returncode != 0
    assert REFUSED in run.stderr and cast.stranger["address"] in run.stderr

