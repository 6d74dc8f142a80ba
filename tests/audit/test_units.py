"""In-process units of the replay: the trie-patch guard, progress rate limit, tx rebuilding."""

from __future__ import annotations

import io
from typing import Any

import eth.vm.base
import pytest
from eth_account import Account

from client.audit.errors import AuditError
from client.audit.progress import Progress
from client.audit.reexecute import require_pyevm_trie
from client.audit.transactions import TransactionRebuildError, encode_served_transaction


def test_replay_refuses_a_process_with_the_node_fast_trie_patch(monkeypatch: Any) -> None:
    from node import trie

    require_pyevm_trie()  # unpatched: fine
    monkeypatch.setattr(eth.vm.base, "make_trie_root_and_nodes", trie._make_trie_root_and_nodes)
    with pytest.raises(AuditError, match="trie code is patched"):
        require_pyevm_trie()


def test_progress_redraws_at_most_twice_a_second() -> None:
    stream = io.StringIO()
    progress = Progress(1, 1000, stream=stream, interval=0.5)
    for n in range(1, 1001):
        progress.update(n, n, 10 * n)
    assert progress.lines == 1
    line = stream.getvalue().splitlines()[0]
    assert "blocks/s" in line and "tx/s" in line and "ETA" in line


@pytest.mark.parametrize("fields", [
    {"gasPrice": 7},
    {"gasPrice": 7, "accessList": [{"address": "0x" + "11" * 20,
                                    "storageKeys": ["0x" + "00" * 31 + "01"]}]},
    {"maxFeePerGas": 9, "maxPriorityFeePerGas": 2},
])
def test_served_fields_reencode_to_the_signed_raw_transaction(fields: dict[str, Any]) -> None:
    acct = Account.create()
    tx = {"chainId": 1337, "nonce": 3, "gas": 50_000, "to": "0x" + "22" * 20, "value": 5,
          "data": "0xabcd", **fields}
    signed = acct.sign_transaction(tx)
    raw = bytes(signed.raw_transaction)
    served: dict[str, Any] = {k: (hex(v) if isinstance(v, int) else v) for k, v in tx.items()}
    served["input"] = served.pop("data")
    served.update({"r": hex(signed.r), "s": hex(signed.s), "v": hex(signed.v)})
    if raw[0] < 0x80:
        served["type"] = hex(raw[0])
        served["yParity"] = hex(signed.v)
    else:
        served["type"] = "0x0"
    assert encode_served_transaction(served) == raw


def test_unknown_transaction_type_is_refused_by_name() -> None:
    with pytest.raises(TransactionRebuildError, match="transaction type 3 is not supported"):
        encode_served_transaction({"type": "0x3", "gas": "0x1", "value": "0x0", "input": "0x"})
