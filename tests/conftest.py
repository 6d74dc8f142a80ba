"""Shared chain fixtures: one backend per test session, chosen by `COLEDGER_TEST_CHAIN`.

- ``embedded`` (default): the real embedded node as a subprocess (`python -m node`), block period
  0, time travel enabled, admission ON. An "admission" Consortium is deployed from the bootstrap
  key at nonce 0 (sole governor, threshold 1), and `make_account` admits each test key as a member
  with the Operator role, so tests may deploy their own contracts — exactly as on a real chain.
- ``anvil``: anvil from `@foundry-rs/anvil`, zero base fee; `make_account` funds keys instead.
- ``network``: a 4-validator consortium network (CometBFT + the node as ABCI app, one process per
  validator, on its own loopback addresses); admission as on the embedded node. Time travel does
  not exist there: tests that need it are skipped with that reason.

Transactions are always signed locally and sent raw: neither backend has unlocked accounts in use.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from client.consortium import CharterMember, ConsortiumClient, Role, deploy_consortium
from client.tx import TransactionPipeline

ROOT = Path(__file__).resolve().parents[1]
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
BACKEND = os.environ.get("COLEDGER_TEST_CHAIN", "embedded")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_rpc(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> Web3:
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    deadline = time.monotonic() + timeout
    while True:
        try:
            if w3.is_connected():
                return w3
        except Exception:  # noqa: BLE001 - not up yet
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"chain process exited with {proc.returncode} before serving {url}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"chain at {url} did not answer within {timeout} s")
        time.sleep(0.05)


def start_embedded_node(
    data_dir: Path, bootstrap: str, validator_key: bytes, port: int, *extra: str
) -> subprocess.Popen[bytes]:
    """Start `python -m node` as a process (what the crash and e2e tests kill and restart)."""
    key_file = data_dir.parent / f"{data_dir.name}-validator.key"
    key_file.write_text(validator_key.hex())
    cmd = [
        sys.executable, "-m", "node", "--data-dir", str(data_dir), "--port", str(port),
        "--chain-id", "1337", "--block-period", "0", "--bootstrap-address", bootstrap,
        "--validator-key-file", str(key_file), *extra,
    ]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@dataclass
class ChainHandle:
    kind: str
    url: str
    w3: Web3
    bootstrap: LocalAccount
    admission: ConsortiumClient

    def pipeline(self, account: LocalAccount) -> TransactionPipeline:
        return TransactionPipeline(self.w3, account)

    def increase_time(self, seconds: int) -> None:
        if self.kind == "network":
            pytest.skip("needs time travel, which does not exist on a consortium network "
                        "(block time is CometBFT's BFT time)")
        self.w3.provider.make_request("evm_increaseTime", [seconds])
        self.w3.provider.make_request("evm_mine", [])


@pytest.fixture(scope="session")
def chain() -> Iterator[ChainHandle]:
    workdir = Path(tempfile.mkdtemp(prefix="coledger-test-chain-"))
    bootstrap: LocalAccount = Account.create()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if BACKEND == "embedded":
        proc = start_embedded_node(
            workdir / "node", bootstrap.address, os.urandom(32), port, "--allow-time-travel"
        )
    elif BACKEND == "anvil":
        if not ANVIL.exists():
            pytest.fail("COLEDGER_TEST_CHAIN=anvil but node_modules/.bin/anvil is missing (npm ci)")
        proc = subprocess.Popen(
            [str(ANVIL), "--port", str(port), "--base-fee", "0", "--gas-price", "0",
             "--hardfork", "prague", "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
    elif BACKEND == "network":
        from tests.network.harness import start_test_network

        network = start_test_network(workdir / "net", bootstrap.address, validators=4)
        proc = network.validators[0].proc
        url = network.urls[0]
    else:
        pytest.fail(f"unknown COLEDGER_TEST_CHAIN={BACKEND!r} (embedded, anvil or network)")
    try:
        w3 = wait_for_rpc(url, proc)
        if BACKEND == "anvil":
            w3.provider.make_request("anvil_setBalance", [bootstrap.address, hex(10**24)])
        pipeline = TransactionPipeline(w3, bootstrap)
        charter = [CharterMember("Test Operator", bootstrap.address,
                                 frozenset({Role.OPERATOR, Role.GOVERNOR}))]
        address, _ = deploy_consortium(pipeline, charter, threshold=1, proposal_lifetime=86_400)
        yield ChainHandle(BACKEND, url, w3, bootstrap, ConsortiumClient(w3, address, pipeline))
    finally:
        if BACKEND == "network":
            network.stop()
        else:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def w3(chain: ChainHandle) -> Web3:
    return chain.w3


@pytest.fixture(scope="session")
def make_account(chain: ChainHandle) -> Callable[..., LocalAccount]:
    """`make_account(label, admit=True)`: a fresh local key able to transact on the backend.

    "Able to transact" means admitted: a member of the session's admission Consortium with
    `roles` (Operator by default, so it may also deploy) — on anvil also funded, so tests see
    the same membership on both backends. `admit=False` gives a key the embedded node refuses.
    """
    salt = os.urandom(8).hex()

    def make(label: str, admit: bool = True, roles: tuple[Role, ...] = (Role.OPERATOR,)) -> LocalAccount:
        account: LocalAccount = Account.from_key(keccak(text=f"coledger-test:{salt}:{label}"))
        if not admit:
            return account
        if chain.kind == "anvil":
            chain.w3.provider.make_request("anvil_setBalance", [account.address, hex(10**24)])
        chain.admission.propose_add_member(f"test {label}", account.address, roles)
        return account

    return make


@pytest.fixture(scope="session")
def scenario(chain, make_account):  # type: ignore[no-untyped-def]
    """The demo-like domain scenario (tests/audit/_domain_scenario.py), built once per session on
    the session chain and shared by every package that needs it (its member keys can be admitted
    only once)."""
    from tests.audit._domain_scenario import build

    return build(chain, make_account)
