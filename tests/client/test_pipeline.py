"""The transaction pipeline on the session's backend (embedded node or anvil)."""

from __future__ import annotations

import pytest
from eth_abi import encode

from client.consortium import ActionKind, ConsortiumClient, Role, parameter_key
from client.errors import AdmissionRejected, ContractRevert
from client.tx import Call, TransactionPipeline
from tests.conftest import ChainHandle


def _set_parameter_call(c: ConsortiumClient, name: str, value: int, gas: int | None = None) -> Call:
    args = encode(["bytes32", "uint256"], [parameter_key(name), value])
    data = c.contract.encode_abi("propose", args=[int(ActionKind.SET_PARAMETER), args])
    return Call(to=c.address, data=bytes.fromhex(data[2:]), gas=gas, label="Consortium.propose")


def test_many_in_flight_transactions_get_consecutive_local_nonces(chain: ChainHandle, make_account) -> None:  # type: ignore[no-untyped-def]
    governor = make_account("pipeline-governor", roles=(Role.OPERATOR, Role.GOVERNOR))
    pipeline = TransactionPipeline(chain.w3, governor)
    c = ConsortiumClient(chain.w3, chain.admission.address, pipeline)
    gas = pipeline.estimate_gas(_set_parameter_call(c, "pipeline.test", 1))
    start = chain.w3.eth.get_transaction_count(governor.address)
    sent = pipeline.send_many([_set_parameter_call(c, "pipeline.test", v, gas) for v in range(1, 41)])
    receipts = pipeline.wait_many(sent)
    assert [s.nonce for s in sent] == list(range(start, start + 40))
    assert all(r["status"] == 1 for r in receipts)
    assert c.parameter("pipeline.test") == 40
    assert chain.w3.eth.get_transaction_count(governor.address) == start + 40


def test_revert_is_decoded_before_sending_and_consumes_no_nonce(chain: ChainHandle, make_account) -> None:  # type: ignore[no-untyped-def]
    member = make_account("not-a-governor")
    pipeline = TransactionPipeline(chain.w3, member)
    c = ConsortiumClient(chain.w3, chain.admission.address, pipeline)
    nonce_before = chain.w3.eth.get_transaction_count(member.address, "pending")
    with pytest.raises(ContractRevert) as info:
        c.propose_set_threshold(1)
    assert info.value.name == "ConsortiumUnauthorized"
    assert info.value.args_by_name["account"] == member.address
    assert info.value.args_by_name["role"] == int(Role.GOVERNOR)
    assert chain.w3.eth.get_transaction_count(member.address, "pending") == nonce_before


def test_non_member_transaction_is_refused_by_node_admission(chain: ChainHandle, make_account) -> None:  # type: ignore[no-untyped-def]
    if chain.kind != "embedded":
        pytest.skip("admission is the embedded node's (anvil admits everyone)")
    outsider = make_account("outsider", admit=False)
    pipeline = TransactionPipeline(chain.w3, outsider)
    call = _set_parameter_call(chain.admission, "x", 1, gas=200_000)
    with pytest.raises(AdmissionRejected) as info:
        pipeline.send(call)
    assert outsider.address.lower() in str(info.value).lower()
    assert info.value.code == -32003


def test_raw_receipts_match_the_formatted_ones_and_a_mined_revert_is_decoded(chain: ChainHandle, make_account) -> None:  # type: ignore[no-untyped-def]
    governor = make_account("raw-governor", roles=(Role.OPERATOR, Role.GOVERNOR))
    pipeline = TransactionPipeline(chain.w3, governor)
    c = ConsortiumClient(chain.w3, chain.admission.address, pipeline)
    gas = pipeline.estimate_gas(_set_parameter_call(c, "raw.test", 1))
    sent = pipeline.send_many([_set_parameter_call(c, "raw.test", v, gas) for v in (1, 2, 3)])
    raw = pipeline.wait_many_raw(sent)
    for r, f in zip(raw, pipeline.wait_many(sent), strict=True):
        assert (r.tx_hash, r.status, r.gas_used, r.block_number) == (
            f["transactionHash"].to_0x_hex(), 1, f["gasUsed"], f["blockNumber"])
        assert r.logs and [(log["topics"], log["data"]) for log in r.logs] == [
            ([t.to_0x_hex() for t in log["topics"]], log["data"].to_0x_hex()) for log in f["logs"]]
    # Mined with status 0 (explicit gas: no estimate stops it): the revert is decoded all the same.
    member = make_account("raw-not-governor")
    other = TransactionPipeline(chain.w3, member)
    failing = other.send(_set_parameter_call(ConsortiumClient(chain.w3, c.address, other), "raw.test", 9, gas))
    with pytest.raises(ContractRevert) as info:
        other.wait_many_raw([failing])
    assert info.value.name == "ConsortiumUnauthorized"
