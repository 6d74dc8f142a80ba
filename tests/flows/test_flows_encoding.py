"""The SDK's hot path: `encode_record_flows` gives the ABI's bytes, and the raw-receipt results
(`wait_many_raw` + hand-sliced logs) equal web3's decoding of the same receipt."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from client.errors import CoLedgerValueError
from client.flow_rules import Action, FlowInput, FlowKind, RuleSet
from client.flows import encode_record_flows
from client.tx import Call
from tests.conftest import ChainHandle
from tests.flows._helpers import borrower, deploy_env, make_keys

_TUPLE = "(bytes32,uint8,uint16,uint64,bytes32,bool)[]"


def test_hand_encoding_equals_the_abi_encoding_and_checks_ranges() -> None:
    flows = [FlowInput(os.urandom(32), k % 6, 2**k + k, 5411 if k % 6 == 0 else 0,
                       os.urandom(32) if k % 2 else bytes(32), bool(k % 3)) for k in range(64)]
    flows.append(FlowInput(b"\xff" * 32, 255, 2**64 - 1, 65_535, b"\xff" * 32, True))
    for batch in ([], flows[:1], flows):
        want = keccak(text=f"recordFlows({_TUPLE})")[:4] + encode([_TUPLE], [[f.as_abi() for f in batch]])
        assert encode_record_flows(batch) == want
    for bad in (FlowInput(bytes(31), 0, 1, 5411), FlowInput(bytes(32), 256, 1), FlowInput(bytes(32), 0, 2**64, 1),
                FlowInput(bytes(32), 0, 1, 65_536), FlowInput(bytes(32), 0, -1, 1)):
        with pytest.raises(CoLedgerValueError):
            encode_record_flows([bad])


def test_raw_receipt_results_equal_web3_decoding(chain: ChainHandle, make_account: Callable[..., LocalAccount]) -> None:
    env = deploy_env(chain, make_keys(chain, make_account, "enc"))
    env.set_rules(1, RuleSet(p2p_single_max=100, p2p_single_action=Action.VERIFY,
                             velocity_window=86_400, velocity_max_share_bp=5_000, velocity_action=Action.FLAG))
    a, b = borrower(1, b"enc"), borrower(2, b"enc")
    loans = [env.open_loan(a, 1_000), env.open_loan(a, 2_000), env.open_loan(b, 5_000)]
    flows = [FlowInput(a, FlowKind.MERCHANT_PAYMENT, 1_500, 5411), FlowInput(a, FlowKind.P2P_TRANSFER, 200),
             FlowInput(b, FlowKind.CASH_WITHDRAWAL, 3_000), FlowInput(a, FlowKind.REFUND, 100, 0,
                                                                         loans[0].to_bytes(32, "big")),
             FlowInput(b, FlowKind.REPAYMENT, 10, 0, b"\x05" * 32, True)]
    pipe = env.flows.pipeline
    assert pipe is not None
    sent = pipe.send(Call(env.flows.address, encode_record_flows(flows), gas=3_000_000))
    raw = env.flows.results(pipe.wait_many_raw([sent])[0])
    assert raw == env.flows.results(pipe.wait(sent))
    assert [r.lineage for r in raw] == [((loans[0], 1_000), (loans[1], 500)), (), ((loans[2], 3_000),),
                                        ((loans[0], 100),), ((loans[2], 10),)]
    assert [int(r.verdict) for r in raw] == [0, 2, 1, 0, 1]  # 1,500 of 3,000 is not above 50%
