"""RFC 6962 / RFC 9162 Merkle tree hashing: tree heads, inclusion proofs, consistency proofs.

Why this tree and not a sorted-pair tree (OpenZeppelin ``MerkleProof``): leaves and interior
nodes are hashed with different one-byte prefixes, so an interior node can never be passed off
as a leaf (second-preimage), and children are hashed in position order, so a proof binds the
leaf's *index* as well as its membership. Certificate Transparency and every transparency-dev
log hash this way, which lets an arbitration body check our proofs with tools it already trusts.

This module builds proofs (the producer side). Checking them is ``arbitration.verify``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "EMPTY_ROOT",
    "hash_leaf",
    "hash_children",
    "MerkleTree",
]

#: SHA-256 output size; every leaf hash, node hash and proof element has exactly this length.
HASH_SIZE = 32
#: RFC 6962 section 2.1 domain separation: prepended to leaf data before hashing.
LEAF_PREFIX = b"\x00"
#: RFC 6962 section 2.1 domain separation: prepended to the two child hashes of an interior node.
NODE_PREFIX = b"\x01"
#: MTH({}) = SHA-256 of the empty string (RFC 6962 section 2.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()


def hash_leaf(data: bytes) -> bytes:
    """Leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 6962's split: the largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An immutable tree over a batch of leaf hashes, with every level kept for proof building.

    Levels are built bottom-up, pairing nodes left to right and carrying an unpaired last node
    up unchanged. That is exactly RFC 6962's MTH with its largest-power-of-two split (the right
    edge of the tree is the only place a node lacks a sibling), at O(n) hashing instead of the
    recursive definition's O(n log n).
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        for i, h in enumerate(leaf_hashes):
            if len(h) != HASH_SIZE:
                raise ValueError(f"leaf hash {i} has size {len(h)}, want {HASH_SIZE}")
        levels: list[list[bytes]] = [[bytes(h) for h in leaf_hashes]]
        while len(levels[-1]) > 1:
            below = levels[-1]
            above = [hash_children(below[j], below[j + 1]) for j in range(0, len(below) - 1, 2)]
            if len(below) % 2:
                above.append(below[-1])
            levels.append(above)
        self._levels = levels

    @classmethod
    def from_data(cls, leaves: Sequence[bytes]) -> MerkleTree:
        """Build from raw leaf data (each hashed with ``hash_leaf``)."""
        return cls([hash_leaf(d) for d in leaves])

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        """MTH(D[n]); ``EMPTY_ROOT`` for an empty tree."""
        if self.size == 0:
            return EMPTY_ROOT
        return self._levels[-1][0]

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        self._check_index(index, self.size)
        return self._levels[0][index]

    def inclusion_proof(self, index: int) -> list[bytes]:
        """RFC 6962 PATH(index, D[n]): sibling hashes from the leaf up to the root.

        A level where the node is the unpaired last one contributes nothing: that node is
        carried up unchanged, which is precisely where RFC 6962's recursion has no sibling.
        """
        self._check_index(index, self.size)
        proof: list[bytes] = []
        i = index
        for level in self._levels[:-1]:
            sibling = i ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            i >>= 1
        return proof

    def subtree_root(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for 0 <= start < end <= size (used by consistency proofs)."""
        if not 0 <= start < end <= self.size:
            raise ValueError(f"subtree [{start}, {end}) out of range for tree size {self.size}")
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            # A full, aligned subtree is a node we already have.
            return self._levels[n.bit_length() - 1][start // n]
        k = _largest_power_of_two_below(n)
        return hash_children(self.subtree_root(start, start + k), self.subtree_root(start + k, end))

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """RFC 6962 PROOF(m, D[n]): proves the first ``old_size`` leaves are a prefix of this tree."""
        if not 0 <= old_size <= self.size:
            raise ValueError(f"old size {old_size} out of range for tree size {self.size}")
        if old_size in (0, self.size):
            return []
        return self._subproof(old_size, 0, self.size, True)

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self.subtree_root(start, end)]
        k = _largest_power_of_two_below(n)
        if m <= k:
            return self._subproof(m, start, start + k, complete) + [self.subtree_root(start + k, end)]
        return self._subproof(m - k, start + k, end, False) + [self.subtree_root(start, start + k)]

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if not 0 <= index < size:
            raise ValueError(f"index {index} out of range for tree size {size}")
