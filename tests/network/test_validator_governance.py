"""The consortium changes its validators by vote while the ledger runs.

Under load: governance adds a 5th validator (a joining institution's own home and key, with its
proof of possession) — from two heights after the vote it signs commits — then removes one of the
genesis validators; the chain keeps committing throughout, every acknowledged receipt is on every
live validator, and the auditor's replay verifies every commit against the validator set it
derives itself from genesis plus the governance events.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from client.consortium import ConsortiumClient
from client.tx import TransactionPipeline
from client.validators import ValidatorsClient, load_validator_home
from node.cometbft.home import add_joining_home
from node.cometbft.toolchain import ensure_cometbft
from tests.network.conftest import Net
from tests.network.load import LoadGenerator, rpc, wait_height

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _engine(net: Net, i: int) -> str:
    return net.runner.validators[i].engine_url


def _cometbft(url: str, method: str, **params: Any) -> Any:
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read())["result"]


def _height(url: str) -> int:
    return int(rpc(url, "eth_blockNumber"), 16)


def _signers(engine: str, height: int) -> set[str]:
    commit = _cometbft(engine, "commit", height=str(height))["signed_header"]["commit"]
    return {s["validator_address"] for s in commit["signatures"] if s["block_id_flag"] == 2}


def _set_at(engine: str, height: int) -> set[str]:
    return {v["address"] for v in _cometbft(engine, "validators", height=str(height))["validators"]}


def _wait(predicate, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_governance_adds_a_fifth_validator_and_removes_one_under_load(net: Net,
                                                                      tmp_path: Path) -> None:
    w3 = Web3(Web3.HTTPProvider(net.urls[0], request_kwargs={"timeout": 60}))
    consortium = ConsortiumClient(w3, net.consortium, TransactionPipeline(w3, net.bootstrap))
    registry = ValidatorsClient(consortium)
    assert len(registry.validators()) == 4
    load = LoadGenerator(net.urls[:4], net.members[:3], net.contract)
    load.start()
    try:
        # a joining institution: its own home and keys; the operator (member 1) will run it
        home = net.root / "validator-4"
        spec = add_joining_home(net.root, ensure_cometbft(None), "bank-4")
        assert home == net.root / f"validator-{spec.index}"
        added = registry.propose_add_validator(1, load_validator_home(home), power=10)
        assert added.executed, added
        h_add = added.receipt["blockNumber"]
        joined = net.runner.add(home)
        new_address = spec.validator_address.upper()
        _wait(lambda: new_address in _set_at(_engine(net, 0), max(h_add + 2, _height(net.urls[0]))),
              "the new validator in CometBFT's set")
        assert new_address not in _set_at(_engine(net, 0), h_add + 1)
        assert new_address in _set_at(_engine(net, 0), h_add + 2)
        _wait(lambda: any(new_address in _signers(_engine(net, 0), h)
                          for h in range(h_add + 2, _height(net.urls[0]) + 1)),
              "a commit signed by the new validator")
        assert joined.alive()

        # then remove a genesis validator (bank-2's); four remain
        removed_key = _priv_key_pub(net.root / "validator-2")
        removed_address = net.runner.validators[2].home.joinpath("node.json")
        removed_address = json.loads(removed_address.read_text())["validator_address"].upper()
        gone = registry.propose_remove_validator(removed_key)
        assert gone.executed, gone
        h_rm = gone.receipt["blockNumber"]
        _wait(lambda: _height(net.urls[0]) >= h_rm + 4, "blocks after the removal")
        assert removed_address in _set_at(_engine(net, 0), h_rm + 1)
        assert removed_address not in _set_at(_engine(net, 0), h_rm + 2)
        assert len(_set_at(_engine(net, 0), h_rm + 2)) == 4
        before = _height(net.urls[0])
        _wait(lambda: _height(net.urls[0]) > before + 3, "the chain committing after the removal")
    finally:
        acknowledged = load.stop()
    assert len(acknowledged) > 20, f"too little load got through: {len(acknowledged)}"
    head = _height(net.urls[0])
    for url in [*net.urls]:
        wait_height(url, head)
        for tx_hash, receipt in acknowledged.items():
            assert rpc(url, "eth_getTransactionReceipt", [tx_hash]) == receipt

    # the auditor derives both changes itself and verifies every commit against them
    genesis = net.root / "validator-0" / "cometbft" / "config" / "genesis.json"
    done = subprocess.run(
        [sys.executable, "-m", "client.cli", "audit", "replay", "--rpc", net.urls[1],
         "--out", str(tmp_path / "audit"), "--quiet", "--network-genesis", str(genesis)],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "audit" / "replay.json").read_text())
    changes = report["commits"]["validator_set_changes"]
    assert [(c["block"], c["validators"]) for c in changes] == [(h_add, 5), (h_rm, 4)]
    assert report["commits"]["checked"] == report["blocks"]


def _priv_key_pub(home: Path) -> bytes:
    doc = json.loads((home / "cometbft" / "config" / "priv_validator_key.json").read_text())
    return base64.b64decode(doc["pub_key"]["value"])
