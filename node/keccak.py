"""Keccak-256 through a C implementation (safe-pysha3) for everything in the process.

Why: py-evm, trie, eth-keys and eth-utils all hash through the one ``eth_hash.auto.keccak``
object, whose automatic choice is pycryptodome: ~3.9 µs per short hash here, against ~0.5 µs
for pysha3's C Keccak. The node hashes for every KECCAK256 opcode (each Solidity mapping
access), every trie node and every log bloom; the auditor's replay does the same again.
Same function (Keccak-256 as Ethereum uses it), so only the speed changes; without the
package installed everything stays on pycryptodome.
"""

from __future__ import annotations

from eth_hash.auto import keccak

__all__ = ["use_fast_keccak", "keccak_backend"]

_EMPTY = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")


def use_fast_keccak() -> bool:
    """Route ``eth_hash.auto.keccak`` (and so eth-utils' ``keccak``) to pysha3 if installed."""
    try:
        from eth_hash.backends.pysha3 import backend
    except ImportError:
        return False
    if backend.keccak256(b"") != _EMPTY:  # pragma: no cover - a broken build
        return False
    keccak._backend = backend
    keccak.hasher = backend.keccak256  # type: ignore[method-assign]
    keccak.preimage = backend.preimage  # type: ignore[method-assign]
    return True


def keccak_backend() -> str:
    """Which implementation ``eth_hash.auto.keccak`` uses (for logs and tests)."""
    return type(keccak._backend).__module__.rsplit(".", 1)[-1]
