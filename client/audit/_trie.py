"""The auditor's own builder of Ethereum's ordered index tries (transactions, receipts).

Why its own: py-evm builds these roots by inserting items one by one into a ``HexaryTrie``
backed by a dict, re-encoding and re-hashing the path on every insert; for the ~1,000
transactions of a busy block that was ~0.8 s of the replay's ~2 s per block (two tries).
The auditor must not borrow the node's fast builder (it trusts nothing of the node), so it
has this one, written from the Yellow Paper's definition (Appendix D): since the keys of an
index trie are ``rlp(i)`` for ``i`` in ``0..n-1``, the whole key set is known up front and the
Merkle-Patricia trie is built bottom-up in one pass over the sorted keys.

The result is byte-identical to ``eth.db.trie.make_trie_root_and_nodes`` (the root and the
map hash -> encoded node that py-evm persists): tests/audit/test_trie.py pins it against
py-evm's ``HexaryTrie`` on random key/value sets (hypothesis) and on real replayed blocks.

The builder is general (any set of distinct byte-string keys, prefixes allowed), RLP
encoding included, so that it depends on nothing but a keccak-256.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from eth_utils import keccak

__all__ = ["BLANK_ROOT", "ordered_trie_root", "trie_root", "index_key"]

_EMPTY = b"\x80"  # rlp(b"")
BLANK_ROOT = keccak(_EMPTY)  # root of the empty trie


def _rlp_bytes(b: bytes) -> bytes:
    n = len(b)
    if n == 1 and b[0] < 0x80:
        return b
    if n < 56:
        return bytes((0x80 + n,)) + b
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0xB7 + len(ln),)) + ln + b


def _rlp_list(payload: bytes) -> bytes:
    n = len(payload)
    if n < 56:
        return bytes((0xC0 + n,)) + payload
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(ln),)) + ln + payload


def index_key(i: int) -> bytes:
    """``rlp(i)`` as an unsigned big-endian integer: the key of item ``i`` of a block list."""
    if i == 0:
        return _EMPTY
    return _rlp_bytes(i.to_bytes((i.bit_length() + 7) // 8, "big"))


def _nibbles(key: bytes) -> bytes:
    out = bytearray(2 * len(key))
    out[0::2] = bytes(b >> 4 for b in key)
    out[1::2] = bytes(b & 0x0F for b in key)
    return bytes(out)


def _compact(nibbles: bytes, leaf: bool) -> bytes:
    """Hex-prefix encoding of a nibble path (Yellow Paper appendix C)."""
    flag = 0x20 if leaf else 0x00
    if len(nibbles) % 2:
        head, rest = bytes((flag | 0x10 | nibbles[0],)), nibbles[1:]
    else:
        head, rest = bytes((flag,)), nibbles
    return head + bytes((rest[i] << 4) | rest[i + 1] for i in range(0, len(rest), 2))


class _Build:
    """One pass over sorted (nibble path, value) pairs; collects every hashed node."""

    __slots__ = ("paths", "values", "nodes")

    def __init__(self, paths: list[bytes], values: list[bytes]) -> None:
        self.paths = paths
        self.values = values
        self.nodes: dict[bytes, bytes] = {}

    def ref(self, encoded: bytes) -> bytes:
        """How a parent holds a child: inline if its encoding is < 32 bytes, else its hash."""
        if len(encoded) < 32:
            return encoded
        digest = keccak(encoded)
        self.nodes[digest] = encoded
        return b"\xa0" + digest

    def node(self, lo: int, hi: int, depth: int) -> bytes:
        """RLP encoding of the node holding pairs ``lo..hi-1``, all sharing ``depth`` nibbles."""
        paths = self.paths
        if hi - lo == 1:
            return _rlp_list(_rlp_bytes(_compact(paths[lo][depth:], True))
                             + _rlp_bytes(self.values[lo]))
        first, last = paths[lo], paths[hi - 1]
        limit = min(len(first), len(last))
        common = depth
        while common < limit and first[common] == last[common]:
            common += 1
        if common > depth:  # every key continues with the same nibbles: an extension
            child = self.ref(self.branch(lo, hi, common))
            return _rlp_list(_rlp_bytes(_compact(first[depth:common], False)) + child)
        return self.branch(lo, hi, depth)

    def branch(self, lo: int, hi: int, depth: int) -> bytes:
        """A 17-slot branch at ``depth``: the pairs split by their next nibble."""
        paths = self.paths
        value = _EMPTY
        if len(paths[lo]) == depth:  # the (sorted-first) key that ends here: the value slot
            value = _rlp_bytes(self.values[lo])
            lo += 1
        slots: list[bytes] = []
        nibble = 0
        i = lo
        while i < hi:
            n = paths[i][depth]
            while nibble < n:
                slots.append(_EMPTY)
                nibble += 1
            j = i + 1
            while j < hi and paths[j][depth] == n:
                j += 1
            slots.append(self.ref(self.node(i, j, depth + 1)))
            nibble += 1
            i = j
        while nibble < 16:
            slots.append(_EMPTY)
            nibble += 1
        return _rlp_list(b"".join(slots) + value)


def trie_root(pairs: Iterable[tuple[bytes, bytes]]) -> tuple[bytes, dict[bytes, bytes]]:
    """Root hash and ``{hash: encoded node}`` of the trie holding ``pairs`` (distinct keys).

    Pairs with an empty value are absent from a Merkle-Patricia trie (py-evm deletes on an
    empty value), so they are skipped here too.
    """
    items = sorted((_nibbles(k), v) for k, v in pairs if v)
    for (a, _), (b, _) in zip(items, items[1:], strict=False):
        if a == b:
            raise ValueError("duplicate key in trie_root")
    if not items:
        return BLANK_ROOT, {}  # as py-evm: the blank root is implied, not stored
    build = _Build([p for p, _ in items], [v for _, v in items])
    root = build.node(0, len(items), 0)
    digest = keccak(root)
    build.nodes[digest] = root
    return digest, build.nodes


def ordered_trie_root(items: Sequence[bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """Root and nodes of the trie mapping ``rlp(i)`` to ``items[i]`` (a block's list)."""
    return trie_root((index_key(i), item) for i, item in enumerate(items))
