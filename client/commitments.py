"""Partner commitments to a drawdown, signed as EIP-712 typed data.

A partner commits its exact share of one drawdown by signing
`Commitment(uint64 drawdownId,uint32 partnerId,uint64 amount,uint64 deadline)` under the
CreditLines contract's domain (name, version, chain id, contract address). The lead bank carries
the signatures into `disburse`; the domain makes a signature useless on another chain or
contract, the drawdown id and amount make it useless for another drawdown, the deadline bounds it
in time, and a drawdown disburses once, so it cannot be replayed.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

__all__ = ["DOMAIN_NAME", "DOMAIN_VERSION", "Commitment", "commitment_digest", "sign_commitment"]

DOMAIN_NAME = "coledger CreditLines"
DOMAIN_VERSION = "1"
_TYPES = {
    "Commitment": [
        {"name": "drawdownId", "type": "uint64"},
        {"name": "partnerId", "type": "uint32"},
        {"name": "amount", "type": "uint64"},
        {"name": "deadline", "type": "uint64"},
    ]
}


@dataclass(frozen=True)
class Commitment:
    """One partner's signed commitment, ready for `disburse`."""

    drawdown_id: int
    partner_id: int
    amount: int
    deadline: int
    signature: bytes


def _typed(chain_id: int, contract: str, drawdown_id: int, partner_id: int, amount: int,
           deadline: int):  # type: ignore[no-untyped-def]
    domain = {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(contract),
    }
    message = {"drawdownId": drawdown_id, "partnerId": partner_id, "amount": amount,
               "deadline": deadline}
    return encode_typed_data(domain_data=domain, message_types=_TYPES, message_data=message)


def commitment_digest(chain_id: int, contract: str, drawdown_id: int, partner_id: int,
                      amount: int, deadline: int) -> bytes:
    """The EIP-712 digest the contract recovers the partner's key from."""
    signable = _typed(chain_id, contract, drawdown_id, partner_id, amount, deadline)
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


def sign_commitment(partner: LocalAccount, chain_id: int, contract: str, drawdown_id: int,
                    partner_id: int, amount: int, deadline: int) -> Commitment:
    """Sign locally with the partner's key; the key never leaves the partner."""
    signed = Account.sign_message(
        _typed(chain_id, contract, drawdown_id, partner_id, amount, deadline), partner.key
    )
    return Commitment(drawdown_id, partner_id, amount, deadline, bytes(signed.signature))
