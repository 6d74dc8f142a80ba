"""The auditor recovers validator seals with its own code; it agrees with the node's sealer."""

from __future__ import annotations

import os

import pytest
from eth_utils import keccak

from client.audit.reexecute import recover_seal_signer
from node.seal import Sealer


def test_seal_recovers_to_the_sealer_address() -> None:
    for _ in range(20):
        sealer = Sealer(os.urandom(32))
        block_hash = keccak(os.urandom(40))
        assert recover_seal_signer(block_hash, sealer.sign(block_hash)) == sealer.address.lower()


def test_seal_over_another_hash_recovers_to_someone_else() -> None:
    sealer = Sealer(os.urandom(32))
    sig = sealer.sign(keccak(b"a"))
    assert recover_seal_signer(keccak(b"b"), sig) != sealer.address.lower()


@pytest.mark.parametrize("sig", [b"", b"\x01" * 64, b"\x00" * 65, b"\x01" * 64 + b"\x07"])
def test_malformed_seal_is_a_value_error(sig: bytes) -> None:
    with pytest.raises(ValueError):
        recover_seal_signer(keccak(b"x"), sig)
