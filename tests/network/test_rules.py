"""The network's pure rules, without processes: CheckTx nonce sequencing, the proposal validity
rule, config patching. Property tests: for any interleaving of senders and nonces."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.cometbft.checktx import CheckTxPool
from node.cometbft.home import HomeError, patch_toml
from node.cometbft.validity import check_block_transactions
from node.errors import (
    AdmissionDeniedError,
    AlreadyKnownError,
    NonceTooHighError,
    NonceTooLowError,
    TransactionGasError,
)
from node.mempool import PendingTx


@dataclass(frozen=True)
class _Tx:
    nonce: int
    gas: int


def _ptx(sender: int, nonce: int, gas: int = 50_000, tag: int = 0) -> PendingTx:
    return PendingTx(_Tx(nonce, gas), bytes([sender]) * 20,  # type: ignore[arg-type]
                     bytes([sender, nonce % 256, nonce // 256, tag]) * 8)


txs = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 6), st.integers(21_000, 400_000)),
               max_size=40)


@settings(max_examples=300, deadline=None)
@given(txs, st.dictionaries(st.integers(0, 3), st.integers(0, 3)))
def test_checktx_admits_exactly_the_next_nonce_per_sender(items, state):
    state_nonce = {bytes([s]) * 20: n for s, n in state.items()}
    pool = CheckTxPool(lambda sender: state_nonce.get(sender, 0))
    expected = {bytes([s]) * 20: n for s, n in state.items()}
    for i, (sender, nonce, gas) in enumerate(items):
        key = bytes([sender]) * 20
        want = expected.get(key, 0)
        ptx = _ptx(sender, nonce, gas, tag=i)
        if nonce == want:
            pool.admit(ptx)
            expected[key] = want + 1
        else:
            with pytest.raises(NonceTooLowError if nonce < want else NonceTooHighError):
                pool.admit(ptx)
        assert pool.next_nonce(key) == expected.get(key, 0)
    pool.reset()
    assert len(pool) == 0
    assert all(pool.next_nonce(k) == state_nonce.get(k, 0) for k in expected)


def test_checktx_same_transaction_twice_is_already_known():
    pool = CheckTxPool(lambda sender: 0)
    pool.admit(_ptx(1, 0))
    with pytest.raises(AlreadyKnownError):
        pool.admit(_ptx(1, 0))


@settings(max_examples=300, deadline=None)
@given(txs, st.integers(100_000, 2_000_000), st.sets(st.integers(0, 3), max_size=1))
def test_validity_rule_keeps_a_sequence_that_fits_and_executes(items, gas_limit, denied):
    by_raw = {}
    raws = []
    for i, (sender, nonce, gas) in enumerate(items):
        raw = i.to_bytes(4, "big")
        by_raw[raw] = _ptx(sender, nonce, gas, tag=i % 256)
        raws.append(raw)

    def admit(ptx: PendingTx) -> None:
        if ptx.sender[0] in denied:
            raise AdmissionDeniedError("not a member")

    verdicts = check_block_transactions(raws, by_raw.__getitem__, admit, lambda s: 0, gas_limit)
    assert len(verdicts) == len(raws)
    # what passes is, per sender, exactly 0, 1, 2, ... and fits the block's gas together
    seen: dict[bytes, int] = {}
    used = 0
    for raw, v in zip(raws, verdicts, strict=True):
        ptx = by_raw[raw]
        if v.valid:
            assert ptx.sender[0] not in denied
            assert ptx.nonce == seen.get(ptx.sender, 0)
            seen[ptx.sender] = ptx.nonce + 1
            used += ptx.tx.gas
        elif ptx.sender[0] in denied:
            assert isinstance(v.error, AdmissionDeniedError)
        else:
            assert isinstance(v.error, (NonceTooLowError, NonceTooHighError, TransactionGasError))
    assert used <= gas_limit
    # the rule is a function of its inputs: the same answer every time
    again = check_block_transactions(raws, by_raw.__getitem__, admit, lambda s: 0, gas_limit)
    assert [v.valid for v in again] == [v.valid for v in verdicts]


def test_patch_toml_sets_keys_per_section_and_refuses_unknown_keys():
    text = 'proxy_app = "tcp://x"\n[rpc]\nladdr = "a"\n[p2p]\nladdr = "b"\npex = true\n'
    out = patch_toml(text, {"": {"proxy_app": '"unix:///s"'}, "p2p": {"laddr": '"c"'}})
    assert 'proxy_app = "unix:///s"' in out
    assert '[rpc]\nladdr = "a"' in out and '[p2p]\nladdr = "c"' in out
    with pytest.raises(HomeError, match="no_such_key"):
        patch_toml(text, {"rpc": {"no_such_key": "1"}})


def test_genesis_consortium_nodes_round_trip_and_malformed_ids_are_refused():
    from node.cometbft.genesis import NetworkGenesis, cometbft_chain_id, ethereum_genesis_hash
    from node.errors import GenesisMismatchError
    from node.evm import GenesisSpec

    spec = GenesisSpec(chain_id=1337, gas_limit=30_000_000, timestamp=1_800_000_000,
                       extra_data="0x", coinbase="0x" + "00" * 20, alloc={})
    ids = ("ab" * 20, "cd" * 20)
    genesis = NetworkGenesis(spec, ethereum_genesis_hash(spec), "0x" + "11" * 20,
                             cometbft_chain_id(1337), ids)
    state = genesis.app_state()
    assert NetworkGenesis.from_app_state(state, "coledger-1337").node_ids == ids
    for bad in (["AB" * 20], ["ab" * 19], "ab" * 20, [1]):
        state["coledger"]["consortium_nodes"] = bad
        with pytest.raises(GenesisMismatchError, match="consortium_nodes"):
            NetworkGenesis.from_app_state(state, "coledger-1337")
