"""`coledger consortium propose add-validator|remove-validator|set-validator-power` and
`coledger consortium validators`, run as subprocesses against the session chain.

Each test deploys its own Consortium (threshold 1: a proposal executes at once) with four genesis
validators and a fifth member without one, and a validator home laid out as CometBFT writes it
(priv_validator_key.json and node_key.json: base64 of seed || public key).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from eth_account import Account

from client.consortium import Role, roles_mask
from client.contracts import deploy
from client.keys import Keystore
from client.validators import GenesisValidator, load_validator_home

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "test-cli-validators"
NEEDS_PRECOMPILE = "needs the coledger ed25519 precompile (0x…0E25), which only the coledger node has"


def _raw(key: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return seed, key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key_file(path: Path, key: Ed25519PrivateKey) -> None:
    seed, public = _raw(key)
    path.write_text(json.dumps({
        "pub_key": {"type": "tendermint/PubKeyEd25519", "value": base64.b64encode(public).decode()},
        "priv_key": {"type": "tendermint/PrivKeyEd25519", "value": base64.b64encode(seed + public).decode()},
    }))


def make_home(root: Path) -> tuple[Path, bytes, bytes]:
    """A validator home; returns (home, consensus public key, node id)."""
    config = root / "cometbft" / "config"
    config.mkdir(parents=True)
    consensus, node = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    _key_file(config / "priv_validator_key.json", consensus)
    _key_file(config / "node_key.json", node)
    return root, _raw(consensus)[1], hashlib.sha256(_raw(node)[1]).digest()[:20]


@dataclass
class Env:
    chain: Any
    data_dir: Path
    address: str
    governor: str
    genesis: list[bytes]

    def run(self, *argv: str, sign: bool = False) -> subprocess.CompletedProcess[str]:
        chain = ["--data-dir", str(self.data_dir), "--rpc", self.chain.url, "--consortium", self.address]
        if argv[0] == "propose":
            cmd = ["consortium", "propose", *chain, "--as", "gov", *argv[1:]]
        else:
            cmd = ["consortium", argv[0], *chain, *argv[1:]]
        env = {**os.environ, "COLEDGER_KEYSTORE_PASSWORD": PASSWORD}
        return subprocess.run([sys.executable, "-m", "client.cli", *cmd], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    def listed(self) -> list[dict[str, Any]]:
        done = self.run("validators", "--json")
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout))

    def nonce(self) -> int:
        return int(self.chain.w3.eth.get_transaction_count(self.governor, "pending"))


@pytest.fixture
def env(chain: Any, make_account: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Env:
    gov = make_account(f"cli-validators:{request.node.name}")
    data_dir = tmp_path / "data"
    Keystore(data_dir / "keystore", PASSWORD).create("gov", bytes(gov.key))
    charter = [("Lead Bank", gov.address, roles_mask([Role.GOVERNOR, Role.LEAD_BANK]))]
    charter += [(f"Partner {c}", Account.create().address, roles_mask([Role.PARTNER])) for c in "ABCD"]
    genesis = [GenesisValidator(i, os.urandom(32), 10, os.urandom(20)) for i in range(1, 5)]
    inits = [(g.member_id, g.consensus_key, g.power, g.node_id) for g in genesis]
    address = deploy(chain.pipeline(gov), "Consortium", charter, 1, 3600, inits)
    return Env(chain, data_dir, address, gov.address, [g.consensus_key for g in genesis])


def test_validators_lists_the_genesis_set_with_keys_members_and_nodes(env: Env) -> None:
    rows = env.listed()
    assert [(r["key"], r["key_hex"], r["power"], r["member"]) for r in rows] == [
        (base64.b64encode(k).decode(), "0x" + k.hex(), 10, "Lead Bank" if i == 0 else f"Partner {'ABC'[i - 1]}")
        for i, k in enumerate(env.genesis)]
    text = env.run("validators")
    assert text.returncode == 0 and "4 validators, total power 40" in text.stdout
    assert "Partner C" in text.stdout


def test_add_validator_signs_the_proof_from_the_home_and_the_set_grows(env: Env, tmp_path: Path) -> None:
    if env.chain.kind == "anvil":
        pytest.skip(NEEDS_PRECOMPILE)
    home, public, node_id = make_home(tmp_path / "home")
    done = env.run("propose", "add-validator", "--member", "partner d", "--validator-home", str(home),
                   "--power", "10")
    assert done.returncode == 0, done.stderr
    assert "executed" in done.stdout
    added = env.listed()[-1]
    assert (added["key"], added["member_id"], added["member"], added["node_id"], added["power"]) == (
        base64.b64encode(public).decode(), 5, "Partner D", node_id.hex(), 10)
    assert added["since_block"] > 0


def test_set_validator_power_takes_the_base64_key_and_remove_the_hex_key(env: Env, tmp_path: Path) -> None:
    key = env.genesis[0]
    done = env.run("propose", "set-validator-power", base64.b64encode(key).decode(), "12")
    assert done.returncode == 0, done.stderr
    assert env.listed()[0]["power"] == 12
    done = env.run("propose", "remove-validator", "0x" + key.hex())
    assert done.returncode == 2
    assert "ConsortiumTooFewValidators" in done.stderr and "remaining=3" in done.stderr.replace(" ", "")


def test_a_validator_home_node_json_names_the_node_id(tmp_path: Path) -> None:
    home, _, derived = make_home(tmp_path / "home")
    assert load_validator_home(home).node_id == derived
    (home / "node.json").write_text(json.dumps({"node_id": "ab" * 20}))
    assert load_validator_home(home).node_id == bytes.fromhex("ab" * 20)


@pytest.mark.parametrize("argv, names", [
    (["remove-validator", "not-a-key!"], "consensus key"),
    (["remove-validator", "0x" + "11" * 31], "31 bytes"),
    (["set-validator-power", "0x" + "11" * 32, "0"], "power 0"),
    (["set-validator-power", "0x" + "11" * 32, str(2**32 + 1)], "outside"),
    (["add-validator", "--member", "Nobody", "--validator-home", "."], "Nobody"),
    (["add-validator", "--member", "9", "--validator-home", "."], "no member has id 9"),
    (["add-validator", "--member", "Partner D", "--validator-home", "/nonexistent/home"],
     "priv_validator_key.json"),
])
def test_bad_input_is_one_clear_line_exit_2_and_nothing_sent(env: Env, argv: list[str], names: str) -> None:
    before = env.nonce()
    done = env.run("propose", *argv)
    assert done.returncode == 2
    assert names in done.stderr and "Traceback" not in done.stderr
    assert env.nonce() == before
