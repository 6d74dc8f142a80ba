"""A data dir that has served a chain with transactions, shared by the check and backup tests.

One real first start (`coledger node start`: keystores, Consortium and suite deployed) plus a few
blocks of transfers and a governance proposal (logs), then a clean stop: the tests copy it, never
change it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from client.config import DataDir
from client.connection import connect
from client.consortium import ConsortiumClient
from client.keys import Keystore, demo_password
from client.tx import Call, TransactionPipeline
from tests.conftest import free_port
from tests.e2e.test_node_start import RunningNode


def send_transfers(url: str, data_dir: Path, count: int, sender: str = "lead-bank") -> list[Any]:
    """``count`` transfers (of nothing: gas is free and accounts hold no coin) from ``sender`` to
    partner-a in one batch; their receipts."""
    keystore = Keystore(DataDir(data_dir).keystore, demo_password(DataDir(data_dir).keystore))
    w3 = connect(url)
    pipeline = TransactionPipeline(w3, keystore.load(sender))
    to = keystore.load("partner-a").address
    sent = pipeline.send_many([Call(to=to, data=b"", gas=21_000, label=f"transfer {i}")
                               for i in range(count)])
    return [pipeline.wait(s) for s in sent]


def propose(url: str, data_dir: Path) -> Any:
    """A governance proposal from lead-bank: a transaction with logs."""
    data = DataDir(data_dir)
    keystore = Keystore(data.keystore, demo_password(data.keystore))
    w3 = connect(url)
    consortium = ConsortiumClient(w3, data.read_deployment()["contracts"]["Consortium"],
                                  TransactionPipeline(w3, keystore.load("lead-bank")))
    return consortium.propose_set_parameter("lending.borrowerExposureCap", 20_000_000)


@pytest.fixture(scope="session")
def served_with_txs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stopped data dir: deployment, 2 batches of transfers and a proposal on top."""
    data_dir = tmp_path_factory.mktemp("served") / "coledger-data"
    node = RunningNode(data_dir, free_port())
    try:
        send_transfers(node.url, data_dir, 4)
        propose(node.url, data_dir)
        send_transfers(node.url, data_dir, 3)
        time.sleep(0.3)  # the banner comes just before the SIGTERM handler is installed
    finally:
        node.stop()
    assert node.proc.returncode == 0, node.text()
    return data_dir
