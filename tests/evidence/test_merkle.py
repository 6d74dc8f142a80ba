"""Merkle hashing and the standalone proof checker, against the RFC 6962 reference and the vectors."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbitration.errors import ProofError, RootMismatchError
from arbitration.merkle import EMPTY_ROOT, LEAF_PREFIX, NODE_PREFIX, MerkleTree, hash_children, hash_leaf
from arbitration.verify import root_from_inclusion_proof, verify_consistency, verify_inclusion
from tests.evidence.conftest import load_vectors

# RFC 6962 reference tree heads (certificate-transparency / transparency-dev test data).
RFC6962_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# Published CT inclusion proofs for leaves 0 and 5 of the 8-leaf tree.
CT_PROOF_0_OF_8 = [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]
CT_PROOF_5_OF_8 = [
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
]

INCLUSION = load_vectors("merkle_inclusion.json")
CONSISTENCY = load_vectors("merkle_consistency.json")


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1 MTH, literally (recursive split at the largest power of two < n)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _leaf_hashes(n: int) -> list[bytes]:
    return [hash_leaf(i.to_bytes(4, "big")) for i in range(n)]


def test_domain_separation_constants_are_rfc6962() -> None:
    assert (LEAF_PREFIX, NODE_PREFIX) == (b"\x00", b"\x01")
    assert hash_leaf(b"x") == hashlib.sha256(b"\x00x").digest()
    assert hash_children(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    assert EMPTY_ROOT.hex() == RFC6962_ROOTS[0]


def test_roots_match_rfc6962_reference_for_every_size() -> None:
    leaves = [bytes.fromhex(x) for x in INCLUSION["leaves"]]
    for n in range(0, 9):
        assert MerkleTree.from_data(leaves[:n]).root.hex() == RFC6962_ROOTS[n], n


def test_inclusion_proofs_match_published_ct_proofs() -> None:
    tree = MerkleTree.from_data([bytes.fromhex(x) for x in INCLUSION["leaves"]])
    assert [p.hex() for p in tree.inclusion_proof(0)] == CT_PROOF_0_OF_8
    assert [p.hex() for p in tree.inclusion_proof(5)] == CT_PROOF_5_OF_8


@pytest.mark.parametrize("case", INCLUSION["cases"], ids=lambda c: c["name"])
def test_inclusion_vector(case: dict[str, Any]) -> None:
    args = (
        bytes.fromhex(case["leaf_hash"]),
        case["index"],
        case["tree_size"],
        [bytes.fromhex(p) for p in case["proof"]],
        bytes.fromhex(case["root"]),
    )
    expect = case["expect"]
    if expect.get("ok"):
        verify_inclusion(*args)
    elif expect["error"] == "root_mismatch":
        with pytest.raises(RootMismatchError) as e:
            verify_inclusion(*args)
        assert e.value.expected == args[4] and e.value.computed != args[4]
    else:
        with pytest.raises(ProofError) as e2:
            verify_inclusion(*args)
        assert not isinstance(e2.value, RootMismatchError)
        assert str(e2.value) == expect["message"]


@pytest.mark.parametrize("case", CONSISTENCY["cases"], ids=lambda c: c["name"])
def test_consistency_vector(case: dict[str, Any]) -> None:
    args = (
        case["size1"],
        case["size2"],
        [bytes.fromhex(p) for p in case["proof"]],
        bytes.fromhex(case["root1"]),
        bytes.fromhex(case["root2"]),
    )
    expect = case["expect"]
    if expect.get("ok"):
        verify_consistency(*args)
    elif expect["error"] == "root_mismatch":
        with pytest.raises(RootMismatchError):
            verify_consistency(*args)
    else:
        with pytest.raises(
            ProofError, match="^" + expect["message"].replace("(", r"\(").replace(")", r"\)") + "$"
        ):
            verify_consistency(*args)


def test_root_mismatch_error_carries_expected_and_computed() -> None:
    tree = MerkleTree(_leaf_hashes(3))
    wrong = bytes(32)
    with pytest.raises(RootMismatchError) as e:
        verify_inclusion(tree.leaf_hash(1), 1, 3, tree.inclusion_proof(1), wrong)
    assert e.value.expected == wrong
    assert e.value.computed == tree.root
    assert tree.root.hex() in str(e.value)


def test_producer_rejects_index_out_of_range() -> None:
    with pytest.raises(ValueError, match="index 9 out of range for tree size 8"):
        MerkleTree(_leaf_hashes(8)).inclusion_proof(9)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_index_of_any_tree_size_verifies(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 300), label="tree size")
    i = data.draw(st.integers(0, n - 1), label="index")
    leaves = _leaf_hashes(n)
    tree = MerkleTree(leaves)
    assert tree.root == _mth([i.to_bytes(4, "big") for i in range(n)])
    proof = tree.inclusion_proof(i)
    verify_inclusion(leaves[i], i, n, proof, tree.root)
    assert root_from_inclusion_proof(leaves[i], i, n, proof) == tree.root


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_single_bit_flip_in_any_proof_element_fails(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 300), label="tree size")
    i = data.draw(st.integers(0, n - 1), label="index")
    tree = MerkleTree(_leaf_hashes(n))
    proof = tree.inclusion_proof(i)
    k = data.draw(st.integers(0, len(proof) - 1), label="element")
    bit = data.draw(st.integers(0, 255), label="bit")
    bad = bytearray(proof[k])
    bad[bit // 8] ^= 1 << (bit % 8)
    proof[k] = bytes(bad)
    with pytest.raises(RootMismatchError):
        verify_inclusion(tree.leaf_hash(i), i, n, proof, tree.root)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_prefix_is_consistent(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 300), label="size2")
    m = data.draw(st.integers(0, n), label="size1")
    leaves = _leaf_hashes(n)
    new, old = MerkleTree(leaves), MerkleTree(leaves[:m])
    verify_consistency(m, n, new.consistency_proof(m), old.root, new.root)
