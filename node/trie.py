"""Fast builder of Ethereum's ordered index tries (transactions, receipts, withdrawals).

Why: py-evm inserts items one by one into a HexaryTrie, re-encoding and re-hashing
nodes on every insert; for blocks with hundreds of transactions that was ~45% of the
sealing time.  The trie of a block's list is fully known up front, so it can be built
bottom-up in one pass.  The result (root and node map) is byte-identical to
``eth.db.trie.make_trie_root_and_nodes`` — a test pins that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rlp
from eth.constants import BLANK_ROOT_HASH
from eth_utils import keccak
from trie.constants import BLANK_NODE, BLANK_NODE_HASH
from trie.hexary import HexaryTrie
from trie.utils.nodes import decode_node

__all__ = ["ordered_trie_root_and_nodes", "install_fast_trie", "install_node_cache"]

_Node = list[object]


def _nibbles(key: bytes) -> bytes:
    out = bytearray()
    for b in key:
        out.append(b >> 4)
        out.append(b & 0x0F)
    return bytes(out)


def _hex_prefix(path: bytes, leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    if len(path) % 2:
        path = bytes([flag + 1]) + path
    else:
        path = bytes([flag, 0]) + path
    return bytes((path[i] << 4) | path[i + 1] for i in range(0, len(path), 2))


class _Builder:
    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}

    def ref(self, node: _Node) -> object:
        encoded = rlp.encode(node)
        if len(encoded) < 32:
            return node
        digest = keccak(encoded)
        self.nodes[digest] = encoded
        return digest

    def build(self, pairs: Sequence[tuple[bytes, bytes]], depth: int) -> _Node:
        if len(pairs) == 1:
            key, value = pairs[0]
            return [_hex_prefix(key[depth:], True), value]
        first, last = pairs[0][0], pairs[-1][0]
        limit = min(len(first), len(last))
        cp = depth
        while cp < limit and first[cp] == last[cp]:
            cp += 1
        if cp > depth:
            child = self.build(pairs, cp)
            return [_hex_prefix(first[depth:cp], False), self.ref(child)]
        branch: list[object] = [b""] * 17
        start = 0
        if len(pairs[0][0]) == depth:
            branch[16] = pairs[0][1]
            start = 1
        i = start
        while i < len(pairs):
            nib = pairs[i][0][depth]
            j = i
            while j < len(pairs) and pairs[j][0][depth] == nib:
                j += 1
            branch[nib] = self.ref(self.build(pairs[i:j], depth + 1))
            i = j
        return branch


def ordered_trie_root_and_nodes(items: Sequence[bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """Root hash and hash->node map of the trie {rlp(index): item}."""
    if not items:
        return BLANK_ROOT_HASH, {}
    pairs = sorted((_nibbles(rlp.encode(i)), bytes(v)) for i, v in enumerate(items))
    builder = _Builder()
    root = builder.build(pairs, 0)
    encoded = rlp.encode(root)
    digest = keccak(encoded)
    builder.nodes[digest] = encoded
    return digest, builder.nodes


def _make_trie_root_and_nodes(items: Sequence[object]) -> tuple[bytes, dict[bytes, bytes]]:
    return ordered_trie_root_and_nodes([item.encode() for item in items])  # type: ignore[attr-defined]


def install_fast_trie() -> None:
    """Let py-evm's block validation (which re-derives the transaction root) use this builder.

    Safe because the output is byte-identical to py-evm's own function; it only changes
    speed.  Called by the node's chain core (and usable by the auditor's replay).
    """
    import eth.vm.base

    eth.vm.base.make_trie_root_and_nodes = _make_trie_root_and_nodes  # type: ignore[assignment]


# ---------------------------------------------------------------------------- decoded nodes

#: decoded trie nodes by hash (content-addressed, so an entry never goes stale); private
#: copies, never handed out
_DECODED: dict[bytes, Any] = {}
_DECODED_LIMIT = 20_000
#: py-trie's own method (kept for tests that compare against it)
PY_TRIE_GET_NODE = HexaryTrie.get_node


def _copy_node(node: Any) -> Any:
    """A fresh node: py-trie changes branch nodes (and inline children) in place."""
    return [item if item.__class__ is bytes else _copy_node(item) for item in node]


def _cached_get_node(self: Any, node_hash: Any) -> Any:
    """``HexaryTrie.get_node`` that decodes each stored node once per process.

    Same result as py-trie's: a node read by hash is the RLP decoding of the stored bytes; the
    hash fixes those bytes, so the decoding is kept and a copy returned.
    """
    if node_hash == BLANK_NODE or node_hash == BLANK_NODE_HASH:
        return BLANK_NODE
    if len(node_hash) < 32:  # an inline node: nothing stored to read
        return decode_node(node_hash)
    node = _DECODED.get(node_hash)
    if node is None:
        node = decode_node(self.db[node_hash])
        if node.__class__ is not list:  # pragma: no cover - every stored node is a list
            return node
        if len(_DECODED) >= _DECODED_LIMIT:
            _DECODED.clear()
        _DECODED[node_hash] = node
    return _copy_node(node)


def install_node_cache() -> None:
    """Let every HexaryTrie in this process decode a stored node once (node process only).

    Why: SLOADs that miss the block's caches, and the state-root computation at sealing,
    walk storage tries; each step re-read and RLP-decoded a node (~70 µs per cold storage
    read). The auditor's replay refuses to run in a process with this installed (it checks
    that ``HexaryTrie.get_node`` is py-trie's).
    """
    HexaryTrie.get_node = _cached_get_node  # type: ignore[method-assign]
