"""node.trie.install_node_cache: tries read through the decoded-node cache behave as py-trie's.

The cache returns copies because py-trie changes branch nodes (and inline children) in place
while it updates a trie; a shared node would corrupt later reads. Random update sequences
(sets, overwrites, deletes, short values that make inline nodes) run on two tries, one with
py-trie's own ``get_node`` and one with the cache, and every root and read must agree.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trie import HexaryTrie

from node import trie as node_trie

_STOCK = node_trie.PY_TRIE_GET_NODE
_CACHED = node_trie._cached_get_node


keys = st.binary(min_size=1, max_size=4)  # short keys: shared prefixes, extension nodes
values = st.binary(min_size=0, max_size=40)  # short values: inline nodes
ops = st.lists(st.tuples(keys, values), min_size=1, max_size=60)


def _apply(trie: HexaryTrie, updates: list[tuple[bytes, bytes]]) -> list[bytes]:
    roots = []
    for key, value in updates:
        if value:
            trie[key] = value
        else:
            del trie[key]
        roots.append(trie.root_hash)
    return roots


@settings(max_examples=150, deadline=None)
@given(first=ops, second=ops)
def test_cached_reads_give_py_tries_roots_and_values(
    first: list[tuple[bytes, bytes]], second: list[tuple[bytes, bytes]]
) -> None:
    installed = HexaryTrie.get_node
    HexaryTrie.get_node = _STOCK  # type: ignore[method-assign]
    try:
        stock = HexaryTrie({})
        expected = _apply(stock, first) + _apply(stock, second)
        expected_reads = {key: stock.get(key) for key, _ in first + second}
    finally:
        HexaryTrie.get_node = installed  # type: ignore[method-assign]

    cached = HexaryTrie({})
    HexaryTrie.get_node = _CACHED  # type: ignore[method-assign]
    try:
        got = _apply(cached, first)
        # a second trie over the same nodes, from an earlier root: shares cached nodes
        again = HexaryTrie(cached.db, root_hash=got[-1])
        got += _apply(again, second)
        reads = {key: again.get(key) for key, _ in first + second}
    finally:
        HexaryTrie.get_node = installed  # type: ignore[method-assign]
    assert got == expected
    assert reads == expected_reads


def test_the_auditor_refuses_a_process_with_the_cache_installed() -> None:
    from client.audit.errors import AuditError
    from client.audit.reexecute import require_pyevm_trie

    installed = HexaryTrie.get_node
    HexaryTrie.get_node = _CACHED  # type: ignore[method-assign]
    try:
        with pytest.raises(AuditError, match="install_node_cache"):
            require_pyevm_trie()
    finally:
        HexaryTrie.get_node = installed  # type: ignore[method-assign]
