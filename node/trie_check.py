"""Walk a Merkle-Patricia trie stored by hash, checking every node against its hash.

Why a walker of its own: py-trie reads a node by its hash and decodes it without asking whether
the bytes still hash to that key, which is exactly what a damaged or tampered store breaks. The
full store check (:mod:`node.store_check`) walks the transactions and receipts tries of every
block and the state trie (accounts, their storage tries and code) of the checked state roots
through this module, so that every node it relies on is proven by the hash above it.

Nodes are resolved through ``get(hash) -> bytes | None``; a node whose RLP encoding is shorter
than 32 bytes is embedded in its parent (Yellow Paper, Appendix D) and has no hash of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.rlp.accounts import Account
from eth_utils import encode_hex, keccak

__all__ = ["NodeGetter", "StateCounts", "TrieNodeError", "ordered_leaves", "check_state", "walk_leaves"]

#: Reads one stored node (or code) by its 32-byte hash; None when absent.
NodeGetter = Callable[[bytes], bytes | None]

_HASH_LEN = 32


class TrieNodeError(Exception):
    """A node reachable from a checked root is missing, does not hash to its key, or is malformed."""

    def __init__(self, node: bytes | None, path: bytes, reason: str) -> None:
        where = "".join(f"{n:x}" for n in path) or "(root)"
        name = encode_hex(node) if node is not None else "an embedded node"
        super().__init__(f"node {name} at path {where}: {reason}")
        self.node = node
        self.path = path
        self.reason = reason


@dataclass
class StateCounts:
    """What a state walk covered (each distinct node, account leaf and code counted once)."""

    nodes: int = 0
    accounts: int = 0
    storage_slots: int = 0
    codes: int = 0
    #: hashes of nodes and code already proven; shared across roots, so each is read once
    seen: set[bytes] = field(default_factory=set, repr=False)


def _hex_prefix(encoded: bytes, node: bytes | None, path: bytes) -> tuple[bytes, bool]:
    """(nibbles, is_leaf) of a leaf or extension node's compact path."""
    if not encoded:
        raise TrieNodeError(node, path, "empty compact path")
    flag = encoded[0] >> 4
    if flag > 3:
        raise TrieNodeError(node, path, f"compact path flag {flag} is not 0-3")
    nibbles = bytearray()
    if flag & 1:
        nibbles.append(encoded[0] & 0x0F)
    elif encoded[0] & 0x0F:
        raise TrieNodeError(node, path, "even compact path with a non-zero pad nibble")
    for b in encoded[1:]:
        nibbles.append(b >> 4)
        nibbles.append(b & 0x0F)
    return bytes(nibbles), flag >= 2


def walk_leaves(get: NodeGetter, root: bytes, seen: set[bytes] | None = None,
                counts: StateCounts | None = None) -> Iterator[tuple[bytes, bytes]]:
    """Yield (key nibbles, value) of every leaf under ``root``, proving each node by its hash.

    ``seen``: hashes already proven; their subtrees are skipped (and each newly proven hash is
    added). Raises :class:`TrieNodeError` at the first missing, mismatching or malformed node.
    """
    if root == BLANK_ROOT_HASH:
        return
    stack: list[tuple[bytes, object]] = [(b"", root)]
    while stack:
        path, ref = stack.pop()
        node_hash: bytes | None = None
        if isinstance(ref, list):  # embedded in its parent: proven by the parent's hash
            node = ref
        elif isinstance(ref, bytes) and len(ref) == _HASH_LEN:
            node_hash = ref
            if seen is not None:
                if ref in seen:
                    continue
            encoded = get(ref)
            if encoded is None:
                raise TrieNodeError(ref, path, "missing from the store")
            digest = keccak(encoded)
            if digest != ref:
                raise TrieNodeError(ref, path, f"its stored bytes hash to {encode_hex(digest)}")
            try:
                node = rlp.decode(encoded)
            except rlp.DecodingError as exc:
                raise TrieNodeError(ref, path, f"not RLP ({exc})") from exc
            if seen is not None:
                seen.add(ref)
            if counts is not None:
                counts.nodes += 1
        else:
            size = f"of {len(ref)} bytes" if isinstance(ref, bytes) else "that is no string or list"
            raise TrieNodeError(None, path, f"a child reference {size}")
        if not isinstance(node, list):
            raise TrieNodeError(node_hash, path, "not a list")
        if len(node) == 17:
            for nibble in range(15, -1, -1):
                child = node[nibble]
                if child != b"":
                    stack.append((path + bytes((nibble,)), child))
            if node[16] != b"":
                yield path, _value(node[16], node_hash, path)
        elif len(node) == 2 and isinstance(node[0], bytes):
            nibbles, leaf = _hex_prefix(node[0], node_hash, path)
            if leaf:
                yield path + nibbles, _value(node[1], node_hash, path)
            elif not nibbles:
                raise TrieNodeError(node_hash, path, "extension node with an empty path")
            else:
                stack.append((path + nibbles, node[1]))
        else:
            raise TrieNodeError(node_hash, path, f"a list of {len(node)} items is no trie node")


def _value(value: object, node: bytes | None, path: bytes) -> bytes:
    if not isinstance(value, bytes):
        raise TrieNodeError(node, path, "a leaf value that is a list")
    return value


def _key_bytes(nibbles: bytes) -> bytes:
    return bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles) - 1, 2))


def ordered_leaves(get: NodeGetter, root: bytes) -> list[bytes]:
    """The values of an index trie (a block's transactions or receipts), in index order.

    Keys must be ``rlp(0) .. rlp(n-1)`` with none missing: a gap is reported as a
    :class:`TrieNodeError` at the root.
    """
    items: dict[int, bytes] = {}
    for nibbles, value in walk_leaves(get, root):
        if len(nibbles) % 2:
            raise TrieNodeError(root, nibbles, "a leaf at an odd number of nibbles")
        try:
            index = rlp.decode(_key_bytes(nibbles), sedes=rlp.sedes.big_endian_int)
        except rlp.DecodingError as exc:
            raise TrieNodeError(root, nibbles, f"a leaf key that is no index ({exc})") from exc
        items[index] = value
    if sorted(items) != list(range(len(items))):
        missing = sorted(set(range(max(items) + 1)) - set(items)) if items else []
        raise TrieNodeError(root, b"", f"the index keys have gaps (missing {missing[:5]})")
    return [items[i] for i in range(len(items))]


def check_state(get: NodeGetter, state_root: bytes, counts: StateCounts) -> None:
    """Prove every node of the state trie under ``state_root``, every account's storage trie and
    every account's code (stored under its hash); nodes proven before (``counts.seen``) are skipped.
    """
    for nibbles, value in walk_leaves(get, state_root, counts.seen, counts):
        try:
            account = rlp.decode(value, sedes=Account)
        except (rlp.DecodingError, rlp.DeserializationError) as exc:
            raise TrieNodeError(None, nibbles, f"an account leaf that does not decode ({exc})") from exc
        counts.accounts += 1
        try:
            if account.storage_root != BLANK_ROOT_HASH:
                for _slot, raw in walk_leaves(get, account.storage_root, counts.seen, counts):
                    rlp.decode(raw)  # a storage value is an RLP integer
                    counts.storage_slots += 1
        except TrieNodeError as exc:
            raise TrieNodeError(exc.node, exc.path, f"{exc.reason} (in the storage trie of the "
                                f"account at state path {_key_bytes(nibbles).hex()})") from exc
        except rlp.DecodingError as exc:
            raise TrieNodeError(account.storage_root, b"", f"a storage value that is not RLP ({exc}) "
                                f"(account at state path {_key_bytes(nibbles).hex()})") from exc
        code_hash = account.code_hash
        if code_hash != EMPTY_SHA3 and code_hash not in counts.seen:
            code = get(code_hash)
            if code is None or keccak(code) != code_hash:
                why = "missing from the store" if code is None else f"hashes to {encode_hex(keccak(code))}"
                raise TrieNodeError(code_hash, nibbles, f"the account's code is {why}")
            counts.seen.add(code_hash)
            counts.codes += 1
