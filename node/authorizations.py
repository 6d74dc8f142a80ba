"""EIP-7702 authorizations of a type-4 transaction: who signed each one, or why it is refused.

Why the node checks them before admission although py-evm skips a bad authorization silently:
on a permissioned chain every account that acquires code through a delegation must be an
account the Consortium would let transact, and a client that signed an unusable authorization
(wrong chain, bad signature) deserves to hear which one instead of paying for a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from eth_keys import keys
from eth_utils import to_checksum_address

from .errors import TransactionEncodingError

__all__ = ["SignedAuthorization", "recover_authorizations", "AUTHORIZATION_MAGIC"]

AUTHORIZATION_MAGIC = b"\x05"  # EIP-7702: keccak(MAGIC || rlp([chain_id, address, nonce]))
_SECP256K1N_HALF = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class SignedAuthorization:
    """One recovered authorization: ``authority`` delegates its code to ``delegate``."""

    authority: bytes
    delegate: bytes
    nonce: int


def recover_authorizations(tx: object, chain_id: int) -> tuple[SignedAuthorization, ...]:
    """Recover every authority of ``tx``'s authorization list, naming the first unusable one.

    Raises :class:`TransactionEncodingError` (-32602 family: the bytes are the problem) for a
    chain id other than 0 or this chain's, a nonce at 2**64-1, a high-s or unrecoverable
    signature.
    """
    out: list[SignedAuthorization] = []
    for i, auth in enumerate(getattr(tx, "authorization_list", ())):
        where = f"authorizationList[{i}]"
        if auth.chain_id not in (0, chain_id):
            raise TransactionEncodingError(
                f"{where}: chain id {auth.chain_id} is neither 0 nor this chain's {chain_id}")
        if auth.nonce >= _UINT64_MAX:
            raise TransactionEncodingError(f"{where}: nonce must be below 2**64-1")
        if auth.y_parity not in (0, 1) or not 0 < auth.r < 2**256 or \
                not 0 < auth.s <= _SECP256K1N_HALF:
            raise TransactionEncodingError(
                f"{where}: invalid signature (y_parity 0/1, r and s non-zero, low s)")
        message = AUTHORIZATION_MAGIC + rlp.encode([auth.chain_id, auth.address, auth.nonce])
        try:
            signature = keys.Signature(vrs=(auth.y_parity, auth.r, auth.s))
            authority = signature.recover_public_key_from_msg(message).to_canonical_address()
        except Exception as exc:
            raise TransactionEncodingError(
                f"{where}: invalid signature (no key recovers from it)") from exc
        out.append(SignedAuthorization(bytes(authority), bytes(auth.address), int(auth.nonce)))
    return tuple(out)


def describe(auth: SignedAuthorization) -> str:
    """Human words for a refusal message."""
    return (f"authority {to_checksum_address(auth.authority)} delegating to "
            f"{to_checksum_address(auth.delegate)}")


def authorities_of(tx: object) -> list[bytes]:
    """Every authority whose signature recovers, unusable ones skipped (as execution does).

    Why: an executed type-4 transaction moves its authorities' nonces, which the node's nonce
    caches must learn about; only the transaction's own sender is known without recovery.
    """
    found: list[bytes] = []
    for auth in getattr(tx, "authorization_list", ()):
        message = AUTHORIZATION_MAGIC + rlp.encode([auth.chain_id, auth.address, auth.nonce])
        try:
            signature = keys.Signature(vrs=(auth.y_parity, auth.r, auth.s))
            found.append(bytes(signature.recover_public_key_from_msg(message)
                               .to_canonical_address()))
        except Exception:  # noqa: S112 - an unusable authorization moves no nonce
            continue
    return found
