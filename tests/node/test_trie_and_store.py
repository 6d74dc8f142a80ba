"""The fast trie builder is byte-identical to py-evm's; the store's overlay is atomic."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from eth.db.trie import _make_trie_root_and_nodes

from node.errors import StoreError
from node.store import SqliteStore
from node.trie import ordered_trie_root_and_nodes


@pytest.mark.parametrize("count", [0, 1, 2, 15, 16, 17, 127, 128, 129, 300])
def test_ordered_trie_matches_py_evm_root_and_nodes(count: int) -> None:
    rng = random.Random(count)
    items = tuple(rng.randbytes(rng.choice([1, 7, 31, 32, 33, 120])) for _ in range(count))
    assert ordered_trie_root_and_nodes(items) == _make_trie_root_and_nodes(items)


def test_discarded_overlay_leaves_committed_data_and_commit_is_durable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    store[b"a"] = b"1"
    store.commit_block([SqliteStore.meta_write({"head": "1"})])
    store[b"b"] = b"2"
    del store[b"a"]
    assert b"b" in store and b"a" not in store
    store.discard()
    assert store[b"a"] == b"1" and b"b" not in store
    store.close()
    reopened = SqliteStore(tmp_path / "s.sqlite")
    assert reopened[b"a"] == b"1"
    assert reopened.get_meta("head") == "1"
    reopened.close()


def test_failed_commit_rolls_back_everything(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    store[b"k"] = b"v"
    with pytest.raises(StoreError, match="no_such_table"):
        store.commit_block([("INSERT INTO no_such_table VALUES (?)", [(1,)])])
    assert b"k" not in store
    store.close()
