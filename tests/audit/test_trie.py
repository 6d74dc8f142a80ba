"""The auditor's own trie builder is byte-identical to py-evm's ``HexaryTrie`` (root and nodes)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH
from eth.db.trie import _make_trie_root_and_nodes, make_trie_root_and_nodes
from eth_typing import Hash32
from hypothesis import given, settings
from hypothesis import strategies as st
from trie.hexary import HexaryTrie

from client.audit import ReplayOptions, run_replay
from client.audit._trie import BLANK_ROOT, index_key, ordered_trie_root, trie_root
from client.audit.checkpoint import CheckpointStore
from node.evm import chain_class
from tests.audit.conftest import BuiltChain


def pyevm_trie(pairs: dict[bytes, bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """py-evm's way (``eth.db.trie._make_trie_root_and_nodes``), for arbitrary keys."""
    kv: dict[bytes, bytes] = {}
    trie = HexaryTrie(kv, BLANK_ROOT_HASH)
    with trie.squash_changes() as memory_trie:
        for key, value in pairs.items():
            memory_trie[key] = value
    return trie.root_hash, kv


values = st.binary(min_size=1, max_size=80)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.binary(min_size=0, max_size=4), values, max_size=40))
def test_any_key_set_matches_hexary_trie(pairs: dict[bytes, bytes]) -> None:
    # short keys make prefixes of one another (values in branch slots), shared paths
    # (extensions) and tiny nodes embedded in their parents
    assert trie_root(pairs.items()) == pyevm_trie(pairs)


@settings(max_examples=200, deadline=None)
@given(st.lists(values, max_size=300))
def test_ordered_lists_match_pyevm_make_trie_root_and_nodes(items: list[bytes]) -> None:
    assert ordered_trie_root(items) == _make_trie_root_and_nodes(tuple(items))


@pytest.mark.parametrize("n", [0, 1, 2, 15, 16, 17, 127, 128, 129, 255, 256, 257, 1_050, 4_097])
@pytest.mark.parametrize("size", [1, 31, 110])
def test_block_sized_lists_around_key_length_boundaries(n: int, size: int) -> None:
    rng = random.Random(n * 1_000 + size)
    items = tuple(rng.randbytes(size) for _ in range(n))
    assert ordered_trie_root(items) == _make_trie_root_and_nodes(items)


def test_empty_trie_and_index_keys() -> None:
    assert ordered_trie_root([]) == (BLANK_ROOT, {}) == (BLANK_ROOT_HASH, {})
    for i in (0, 1, 127, 128, 255, 256, 65_535, 65_536, 2**40):
        assert index_key(i) == rlp.encode(i)


def test_empty_values_are_absent_and_duplicate_keys_are_refused() -> None:
    assert trie_root([(b"a", b"x"), (b"b", b"")]) == trie_root([(b"a", b"x")])
    with pytest.raises(ValueError, match="duplicate"):
        trie_root([(b"a", b"x"), (b"a", b"y")])


def test_real_replayed_blocks_match_pyevm_and_the_served_roots(
        built_chain: BuiltChain, serve_copy: Any, tmp_path: Path) -> None:
    """Every block of the varied chain (types 0/1/2, logs, reverts, out of gas): the tries the
    replay stored hold exactly the nodes py-evm would have built, under the served roots."""
    with serve_copy() as node:
        out = tmp_path / "out"
        report = run_replay(ReplayOptions(rpc=node.url, out=out, progress=False))
        assert report.result == "ok", report.divergence
        served = [node.rpc("eth_getBlockByNumber", [hex(n), False])
                  for n in range(1, report.blocks + 1)]
    store = CheckpointStore(out, fresh=False)
    try:
        chain = chain_class(report.chain_id)(store.db)
        checked = 0
        for sb in served:
            header = chain.chaindb.get_block_header_by_hash(Hash32(bytes.fromhex(sb["hash"][2:])))
            block = chain.get_vm(header).get_block_class().from_header(header, chain.chaindb)
            receipts = block.get_receipts(chain.chaindb)
            assert len(block.transactions) == len(receipts) == len(sb["transactions"])
            for items, root, key in ((block.transactions, header.transaction_root,
                                      "transactionsRoot"),
                                     (receipts, header.receipt_root, "receiptsRoot")):
                ours = ordered_trie_root([x.encode() for x in items])
                _make_trie_root_and_nodes.cache_clear()
                assert ours == make_trie_root_and_nodes(items)
                assert ours[0] == root == bytes.fromhex(sb[key][2:])
            checked += len(receipts)
        assert checked >= 12
    finally:
        store.close()
