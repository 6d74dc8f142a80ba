"""Small requests never buy huge answers or unbounded memory (issue 12, defect 4): eth_feeHistory's
percentile list is bounded and checked, a batch's answer has a byte budget, filters are
validated, capped in number and expire when not polled."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from node.rpc import MAX_BATCH_ANSWER_BYTES, MAX_BATCH_CALLS

ZERO = "0x" + "00" * 20


def post(url: str, body: Any) -> Any:
    resp = requests.post(url, data=json.dumps(body), timeout=60,
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def call(url: str, method: str, params: list[Any]) -> Any:
    return post(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params})


def batch(calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    return [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]


# ---- eth_feeHistory ---------------------------------------------------------------------------

@pytest.mark.parametrize(("percentiles", "named"), [
    (list(range(101)), "rewardPercentiles: 101 entries, more than the limit 100"),
    ([float(i % 100) for i in range(10_000)], "rewardPercentiles: 10000 entries"),
    ([50, 10], "rewardPercentiles[1]: 10 is below the previous 50"),
    ([101], "rewardPercentiles[0]: expected a number 0..100"),
    ([-1], "rewardPercentiles[0]: expected a number 0..100"),
    (["50"], "rewardPercentiles[0]: expected a number 0..100"),
    ([True], "rewardPercentiles[0]: expected a number 0..100"),
    ("50", "rewardPercentiles: expected an array"),
])
def test_fee_history_refuses_a_bad_or_long_percentile_list_naming_it(
        node_handle: Any, percentiles: Any, named: str) -> None:
    error = call(node_handle.node.url, "eth_feeHistory", ["0x400", "latest", percentiles])["error"]
    assert error["code"] == -32602 and error["message"].startswith(named), error


def test_fee_history_answers_a_full_percentile_list_with_zero_rewards(node_handle: Any) -> None:
    for _ in range(3):
        call(node_handle.node.url, "evm_mine", [])
    pct = [i + 0.5 for i in range(100)]
    out = call(node_handle.node.url, "eth_feeHistory", ["0x" + "f" * 12, "latest", pct])["result"]
    assert out["oldestBlock"] == "0x0" and len(out["gasUsedRatio"]) == 4
    assert out["reward"] == [["0x0"] * 100] * 4
    assert node_handle.w3.eth.fee_history(2, "latest", [10, 90])["reward"] == [[0, 0], [0, 0]]


# ---- batches -----------------------------------------------------------------------------------

def test_the_documented_batch_limits() -> None:
    assert (MAX_BATCH_CALLS, MAX_BATCH_ANSWER_BYTES) == (10_000, 25_000_000)


def test_a_batch_of_more_calls_than_the_limit_is_one_invalid_request(node_handle: Any) -> None:
    out = post(node_handle.node.url, batch([("eth_chainId", [])] * (MAX_BATCH_CALLS + 1)))
    assert out["error"]["code"] == -32600
    assert "10001 calls is more than the limit 10000" in out["error"]["message"]


def test_calls_past_the_answer_budget_get_a_limit_error_and_are_not_executed(
        node_handle: Any) -> None:
    """The 1 MB-in, 183 MB-out batch, scaled down: budget 20 KB, answers of ~1 KB each."""
    url, boot = node_handle.node.url, node_handle.bootstrap
    node_handle.node.dispatcher.max_batch_answer_bytes = 20_000
    raw = boot.sign_transaction({"chainId": 1337, "nonce": 0, "to": ZERO, "value": 0,
                                 "gas": 21_000, "gasPrice": 0}).raw_transaction.to_0x_hex()
    calls = [("eth_getBlockByNumber", ["0x0", True])] * 60 + [("eth_sendRawTransaction", [raw])]
    answers = post(url, batch(calls))
    resp = requests.post(url, json=batch(calls), timeout=30)
    assert len(resp.content) <= 20_000 + 200 * 60  # the limit errors are small
    assert [a["id"] for a in answers] == list(range(61))
    served = [a for a in answers if "result" in a]
    refused = [a for a in answers if "error" in a]
    assert served and refused and answers.index(refused[0]) == len(served)  # a prefix is served
    assert sum(len(json.dumps(a, separators=(",", ":"))) + 1 for a in served) <= 20_000
    assert {a["error"]["code"] for a in refused} == {-32005}
    assert "was not executed" in refused[-1]["error"]["message"]
    assert "20000 bytes" in refused[-1]["error"]["message"]
    assert call(url, "eth_getTransactionCount", [boot.address, "pending"])["result"] == "0x0"


def test_a_write_that_was_executed_keeps_its_answer_past_the_budget(node_handle: Any) -> None:
    url, boot = node_handle.node.url, node_handle.bootstrap
    block_answer = len(json.dumps(call(url, "eth_getBlockByNumber", ["0x0", True]),
                                  separators=(",", ":")))
    node_handle.node.dispatcher.max_batch_answer_bytes = block_answer + 40  # a raw tx answer > 40
    raw = boot.sign_transaction({"chainId": 1337, "nonce": 0, "to": ZERO, "value": 0,
                                 "gas": 21_000, "gasPrice": 0})
    answers = post(url, batch([("eth_getBlockByNumber", ["0x0", True]),
                               ("eth_sendRawTransaction", [raw.raw_transaction.to_0x_hex()]),
                               ("eth_chainId", [])]))
    assert "number" in answers[0]["result"]
    assert answers[1]["result"] == raw.hash.to_0x_hex()
    assert answers[2]["error"]["code"] == -32005


def test_a_read_whose_own_answer_passes_the_budget_gets_the_limit_error(node_handle: Any) -> None:
    url = node_handle.node.url
    node_handle.node.dispatcher.max_batch_answer_bytes = 500
    answers = post(url, batch([("eth_chainId", []), ("eth_getBlockByNumber", ["0x0", True]),
                               ("eth_chainId", [])]))
    assert answers[0]["result"] == "0x539"
    assert answers[1]["error"]["code"] == -32005 and "was dropped" in answers[1]["error"]["message"]
    assert answers[2]["error"]["code"] == -32005
    assert call(url, "eth_getBlockByNumber", ["0x0", True])["result"]["number"] == "0x0"


# ---- filters -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("crit", "named"), [
    ({"junk": 1}, "filter: unknown key 'junk'"),
    ({"address": "0x12"}, "address: expected 20 bytes"),
    ({"address": [ZERO, "0x12"]}, "address[1]: expected 20 bytes"),
    ({"topics": ["0x12"]}, "topics[0]: expected 32 bytes"),
    ({"topics": [None, [None, "0x12"]]}, "topics[1]: expected 32 bytes"),
    ({"topics": [None] * 5}, "topics: expected an array of at most 4"),
    ({"topics": "0x" + "00" * 32}, "topics: expected an array"),
    ({"fromBlock": "0x2", "toBlock": "0x1"}, "fromBlock: block 2 is after toBlock 1"),
    ({"fromBlock": "yesterday"}, "fromBlock: expected a hex quantity"),
    ({"blockHash": "0x" + "11" * 32, "fromBlock": "0x0"}, "filter: blockHash excludes"),
    ({"address": [ZERO] * 257}, "filter: more than 256 addresses and topics"),
])
@pytest.mark.parametrize("method", ["eth_newFilter", "eth_getLogs"])
def test_a_bad_filter_object_is_invalid_params_naming_what_is_wrong(
        node_handle: Any, method: str, crit: dict[str, Any], named: str) -> None:
    error = call(node_handle.node.url, method, [crit])["error"]
    assert error["code"] == -32602 and error["message"].startswith(named), error
    assert len(node_handle.node.dispatcher.filters) == 0


def test_a_reversed_get_logs_range_on_the_head_is_invalid_params(node_handle: Any) -> None:
    url = node_handle.node.url
    for _ in range(2):
        call(url, "evm_mine", [])
    error = call(url, "eth_getLogs", [{"fromBlock": "latest", "toBlock": "0x1"}])["error"]
    assert error == {"code": -32602, "message": "fromBlock: block 2 is after toBlock 1"}
    assert call(url, "eth_getLogs", [{"fromBlock": "0x1", "toBlock": "latest"}])["result"] == []


def test_live_filters_are_capped_and_an_uninstalled_one_frees_its_place(node_handle: Any) -> None:
    url = node_handle.node.url
    node_handle.node.dispatcher.filters.limit = 5
    ids = [a["result"] for a in post(url, batch([("eth_newBlockFilter", [])] * 5))]
    assert len(set(ids)) == 5 and all(len(i) == 34 for i in ids)  # random 128-bit ids
    error = call(url, "eth_newFilter", [{"address": ZERO}])["error"]
    assert error["code"] == -32005 and "too many filters: 5 are live" in error["message"]
    assert call(url, "eth_uninstallFilter", [ids[0]])["result"] is True
    assert call(url, "eth_newFilter", [{"address": ZERO}])["result"].startswith("0x")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_filter_not_polled_for_five_minutes_expires_and_frees_memory(node_handle: Any) -> None:
    url, filters = node_handle.node.url, node_handle.node.dispatcher.filters
    clock = FakeClock()
    filters.clock = clock
    polled = call(url, "eth_newBlockFilter", [])["result"]
    forgotten = call(url, "eth_newFilter", [{"address": ZERO}])["result"]
    clock.now += 200
    assert call(url, "eth_getFilterChanges", [polled])["result"] == []
    clock.now += 200  # polled 200 s ago, forgotten 400 s ago
    assert call(url, "eth_getFilterChanges", [polled])["result"] == []
    error = call(url, "eth_getFilterLogs", [forgotten])["error"]
    assert error["code"] == -32602 and "not polled for 300 s" in error["message"]
    call(url, "eth_newBlockFilter", [])  # installing sweeps the expired ones
    assert len(filters) == 2
    clock.now += 301
    call(url, "eth_newBlockFilter", [])
    assert len(filters) == 1


def test_filters_report_new_blocks_and_logs_once_through_web3(node_handle: Any) -> None:
    w3 = node_handle.w3
    blocks = w3.eth.filter("latest")
    logs = w3.eth.filter({"address": ZERO, "fromBlock": "latest"})
    call(node_handle.node.url, "evm_mine", [])
    assert len(blocks.get_new_entries()) == 1 and blocks.get_new_entries() == []
    assert logs.get_new_entries() == [] and logs.get_all_entries() == []
    assert w3.eth.uninstall_filter(blocks.filter_id) is True
    assert w3.eth.uninstall_filter(blocks.filter_id) is False


@pytest.mark.parametrize("fid", ["0x1", 5, "x" * 100, None, ["0x1"]])
def test_an_unknown_or_malformed_filter_id_is_invalid_params(node_handle: Any, fid: Any) -> None:
    error = call(node_handle.node.url, "eth_getFilterChanges", [fid])["error"]
    assert error["code"] == -32602 and error["message"].startswith(("filter not found",
                                                                     "filter id: ")), error
    assert len(error["message"]) < 200
