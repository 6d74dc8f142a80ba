"""A node restart drops its mempool; the pipeline resubmits the same bytes, applied exactly once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from eth_abi import encode
from eth_account import Account

from client.consortium import (
    ActionKind,
    CharterMember,
    ConsortiumClient,
    Role,
    deploy_consortium,
    parameter_key,
)
from client.tx import Call, TransactionPipeline
from tests.conftest import free_port, start_embedded_node, wait_for_rpc

pytestmark = pytest.mark.e2e


def test_transactions_lost_in_a_crash_are_resubmitted_once_with_the_same_nonce(tmp_path: Path) -> None:
    bootstrap = Account.create()
    validator = os.urandom(32)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp_path / "node"
    proc = start_embedded_node(data, bootstrap.address, validator, port, "--block-period", "5")
    try:
        w3 = wait_for_rpc(url, proc)
        pipeline = TransactionPipeline(w3, bootstrap, resend_after=0.5)
        charter = [CharterMember("Operator", bootstrap.address, frozenset({Role.OPERATOR, Role.GOVERNOR}))]
        address, _ = deploy_consortium(pipeline, charter, threshold=1, proposal_lifetime=3600)
        consortium = ConsortiumClient(w3, address, pipeline)
        calls = []
        for value in range(1, 6):
            args = encode(["bytes32", "uint256"], [parameter_key("resubmit.test"), value])
            data_hex = consortium.contract.encode_abi("propose", args=[int(ActionKind.SET_PARAMETER), args])
            calls.append(Call(to=address, data=bytes.fromhex(data_hex[2:]), gas=300_000))
        sent = pipeline.send_many(calls)  # right after a seal: the next one is ~5 s away
        pending_before_crash = [w3.eth.get_transaction(s.tx_hash)["blockNumber"] for s in sent]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()

    proc = start_embedded_node(data, bootstrap.address, validator, port, "--block-period", "0")
    try:
        w3 = wait_for_rpc(url, proc)
        assert all(b is None for b in pending_before_crash), "sealed before the crash: race lost"
        assert w3.eth.get_transaction_count(bootstrap.address) == 1  # only the deployment survived
        pipeline.w3 = w3
        receipts = pipeline.wait_many(sent, timeout=60)
        assert [r["transactionHash"].hex().removeprefix("0x") for r in receipts] == [
            s.tx_hash.removeprefix("0x") for s in sent
        ]
        assert w3.eth.get_transaction_count(bootstrap.address) == 6
        assert ConsortiumClient(w3, address).parameter("resubmit.test") == 5
    finally:
        proc.terminate()
        proc.wait(timeout=15)
