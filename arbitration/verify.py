"""Standalone, pure checker for RFC 6962/9162 inclusion and consistency proofs.

Why separate from ``arbitration.merkle``: this is the part an arbitrator must trust, so it is
small, imports nothing but hashing, and follows transparency-dev/merkle's ``proof`` package:
preconditions are checked first with exact messages ("wrong proof size 5, want 7"), then the
root is *computed* from the proof and only then compared, so a mismatch reports both values.
Proof sizes are bounded (``MAX_PROOF_SIZE``) before any hashing, so hostile input cannot make
the checker do unbounded work.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ProofError, RootMismatchError
from .merkle import HASH_SIZE, hash_children

__all__ = [
    "MAX_PROOF_SIZE",
    "MAX_TREE_SIZE",
    "root_from_inclusion_proof",
    "verify_inclusion",
    "verify_consistency",
]

#: A tree of up to 2**64 - 1 leaves never needs more than 64 proof elements.
MAX_PROOF_SIZE = 64
#: Tree sizes are unsigned 64-bit, as in RFC 9162 and on chain.
MAX_TREE_SIZE = 2**64 - 1


def _check_hash(name: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray):
        raise ProofError(f"{name} is {type(value).__name__}, want bytes")
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} has size {len(value)}, want {HASH_SIZE}")


def _check_proof(proof: Sequence[bytes]) -> None:
    if len(proof) > MAX_PROOF_SIZE:
        raise ProofError(f"proof size {len(proof)} exceeds the maximum {MAX_PROOF_SIZE}")
    for i, p in enumerate(proof):
        _check_hash(f"proof element {i}", p)


def _check_size(name: str, size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int):
        raise ProofError(f"{name} is {type(size).__name__}, want int")
    if not 0 <= size <= MAX_TREE_SIZE:
        raise ProofError(f"{name} {size} out of range 0..{MAX_TREE_SIZE}")


def _decompose(index: int, size: int) -> tuple[int, int]:
    """Split an audit path into its inner part (below the point where the paths to ``index``
    and to the last leaf diverge) and its border part (left siblings on the right border)."""
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = hash_children(seed, h) if (index >> i) & 1 == 0 else hash_children(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = hash_children(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = hash_children(h, seed)
    return seed


def root_from_inclusion_proof(leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to for leaf ``index`` of a tree of ``tree_size`` leaves.

    Raises ``ProofError`` when a precondition fails; never compares against anything.
    """
    _check_size("tree size", tree_size)
    _check_size("index", index)
    if index >= tree_size:
        raise ProofError(f"index {index} out of range for tree size {tree_size}")
    _check_hash("leaf hash", leaf_hash)
    _check_proof(proof)
    inner, border = _decompose(index, tree_size)
    if len(proof) != inner + border:
        raise ProofError(f"wrong proof size {len(proof)}, want {inner + border}")
    root = _chain_inner(bytes(leaf_hash), proof[:inner], index)
    return _chain_border_right(root, proof[inner:])


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` leaves with ``root``.

    Returns ``None`` on success; raises ``ProofError`` (precondition) or ``RootMismatchError``.
    """
    _check_hash("root", root)
    computed = root_from_inclusion_proof(leaf_hash, index, tree_size, proof)
    if computed != root:
        raise RootMismatchError(expected=bytes(root), computed=computed)


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree (``size1``, ``root1``) is a prefix of the tree (``size2``, ``root2``).

    RFC 9162 section 2.1.4.2, as transparency-dev/merkle ``VerifyConsistency``.
    """
    _check_size("size1", size1)
    _check_size("size2", size2)
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    _check_proof(proof)
    if size2 < size1:
        raise ProofError(f"size2 ({size2}) < size1 ({size1})")
    if size1 == size2:
        if proof:
            raise ProofError(f"wrong proof size {len(proof)}, want 0")
        if root1 != root2:
            raise RootMismatchError(expected=bytes(root2), computed=bytes(root1))
        return
    if size1 == 0:
        if proof:
            raise ProofError(f"wrong proof size {len(proof)}, want 0")
        return
    if not proof:
        raise ProofError("wrong proof size 0, want at least 1")

    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1  # trailing zeros of size1
    inner -= shift
    # The proof starts with the root of the subtree of size 2**shift, unless that is the old tree.
    if size1 == 1 << shift:
        seed, rest = bytes(root1), list(proof)
        want = inner + border
    else:
        seed, rest = bytes(proof[0]), list(proof[1:])
        want = 1 + inner + border
    if len(proof) != want:
        raise ProofError(f"wrong proof size {len(proof)}, want {want}")

    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if hash1 != root1:
        raise RootMismatchError(expected=bytes(root1), computed=hash1)
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    if hash2 != root2:
        raise RootMismatchError(expected=bytes(root2), computed=hash2)
