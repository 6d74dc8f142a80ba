"""A 4-validator network per test module (the fault tests break it on purpose)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from client.consortium import CharterMember, ConsortiumClient, Role, deploy_consortium
from client.network import NetworkRunner
from client.tx import TransactionPipeline
from tests.network.harness import genesis_validators, start_test_network
from tests.network.load import deploy_log_contract, wait_height


@dataclass
class Net:
    runner: NetworkRunner
    root: Path
    bootstrap: LocalAccount
    members: list[LocalAccount]  # members[0] is also a lead bank (it may anchor evidence)
    contract: str
    consortium: str

    @property
    def urls(self) -> list[str]:
        return self.runner.urls


def _start(prefix: str, validators: int = 4, members: int = 4,
           extra_env: dict[int, dict[str, str]] | None = None,
           before_start: Callable[[Path], None] | None = None) -> Iterator[Net]:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    bootstrap: LocalAccount = Account.create()
    runner = start_test_network(root / "net", bootstrap.address, validators, extra_env=extra_env,
                                before_start=before_start)
    try:
        w3 = Web3(Web3.HTTPProvider(runner.urls[0], request_kwargs={"timeout": 60}))
        pipeline = TransactionPipeline(w3, bootstrap)
        accounts = [Account.create() for _ in range(members)]
        charter = [CharterMember("Test Operator", bootstrap.address,
                                 frozenset({Role.OPERATOR, Role.GOVERNOR}))]
        charter += [CharterMember(f"Bank {i}", a.address, frozenset(
            {Role.OPERATOR, Role.LEAD_BANK} if i == 0 else {Role.OPERATOR}))
                    for i, a in enumerate(accounts)]
        address, _ = deploy_consortium(pipeline, charter, threshold=1, proposal_lifetime=86_400,
                                       validators=genesis_validators(root / "net", first_member=2))
        ConsortiumClient(w3, address)  # the ABI resolves at this address
        head = w3.eth.block_number
        for url in runner.urls:  # a validator commits a moment after another
            wait_height(url, head)
        contract = deploy_log_contract(runner.urls[1], accounts[0])
        yield Net(runner, root / "net", bootstrap, accounts, contract, address)
    finally:
        runner.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def net() -> Iterator[Net]:
    """Four validators; validator 3 executes with stock py-evm, the others with the node's fast
    path, each under its own PYTHONHASHSEED: every consistency test is also a determinism test."""
    yield from _start("coledger-net-", extra_env={3: {"COLEDGER_STOCK_EVM": "1"}})
