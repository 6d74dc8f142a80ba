"""coledger's own precompile: ed25519 signature verification at ``0x…0E25``.

Why: the Consortium's validator registry accepts a new CometBFT consensus key (ed25519) only
with a proof of possession, a signature by that key. The EVM has no ed25519 and verifying it in
Solidity costs millions of gas, so the coledger chain verifies it natively, as a precompile of
:class:`node.evm.ColedgerComputation`. Every executor of the chain — the node's fast loop, stock
py-evm (``COLEDGER_STOCK_EVM=1``) and the auditor's replay — uses that computation class, so all
of them give the same answer.

Interface (fixed; the Consortium and the consensus side rely on it):

* input exactly 128 bytes: ``public key (32) || signature (64) || message (32)``;
* output the 32-byte word 1 when the signature verifies (RFC 8032, strict: ``cryptography``'s
  ``Ed25519PublicKey.verify``), 32 zero bytes when it does not or the input is malformed
  (wrong length, a key that is not a curve point); it never fails the call;
* gas: :data:`ED25519_VERIFY_GAS` flat, whatever the input.

A chain without it (anvil, hardhat) answers a call to this address with empty output: callers
must treat anything but the word 1 as "not valid".
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eth.abc import ComputationAPI
from eth_typing import Address

__all__ = ["ED25519_VERIFY_ADDRESS", "ED25519_VERIFY_GAS", "COLEDGER_PRECOMPILES", "ed25519_verify",
           "ed25519_valid"]

#: ``0x0000000000000000000000000000000000000E25`` (E25 for ed25519)
ED25519_VERIFY_ADDRESS = Address(b"\x00" * 18 + b"\x0e\x25")
#: Flat cost, part of the interface (a change would change every replayed gas figure).
ED25519_VERIFY_GAS = 3_450
_INPUT_SIZE = 128
_VALID = (1).to_bytes(32, "big")
_INVALID = b"\x00" * 32


def ed25519_valid(data: bytes) -> bool:
    """Whether ``data`` is ``key || signature || message`` with a signature that verifies."""
    if len(data) != _INPUT_SIZE:
        return False
    key, signature, message = data[:32], data[32:96], data[96:]
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def ed25519_verify(computation: ComputationAPI) -> ComputationAPI:
    """The precompile: charge the flat gas, then answer 1 or 0 as a 32-byte word."""
    computation.consume_gas(ED25519_VERIFY_GAS, reason="ed25519 verify precompile")
    computation.output = _VALID if ed25519_valid(computation.msg.data_as_bytes) else _INVALID
    return computation


#: What :class:`node.evm.ColedgerComputation` adds to Prague's precompiles.
COLEDGER_PRECOMPILES = {ED25519_VERIFY_ADDRESS: ed25519_verify}
