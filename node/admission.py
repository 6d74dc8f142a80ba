"""Permissioning layer 1: which senders may submit transactions to this node.

Rule: until the Consortium contract has code, only the bootstrap (genesis) address may
transact, so it can deploy the Consortium.  Afterwards the node asks the contract's
``transactionAllowed(address,address,uint256,uint256,uint256,bytes)`` with a static call
on head state.  Decisions are cached per (sender, target) and the cache is dropped when a
sealed block contains a log emitted by the Consortium, because membership only changes
through its events; this keeps admission cheap under load.
"""

from __future__ import annotations

import threading
from typing import Protocol

from eth._utils.address import generate_contract_address
from eth_abi import decode, encode
from eth_utils import keccak, to_canonical_address, to_checksum_address

from .errors import AdmissionDeniedError

__all__ = ["Admission", "TRANSACTION_ALLOWED_SELECTOR", "encode_transaction_allowed"]

TRANSACTION_ALLOWED_SELECTOR = keccak(
    text="transactionAllowed(address,address,uint256,uint256,uint256,bytes)"
)[:4]


class _Chain(Protocol):
    def code(self, address: bytes, number: int | None = None) -> bytes: ...

    def static_call(self, to: bytes, data: bytes, gas: int = ...) -> tuple[bool, bytes]: ...


def encode_transaction_allowed(
    sender: bytes, target: bytes, value: int, gas_price: int, gas_limit: int, payload: bytes
) -> bytes:
    """Calldata of ``transactionAllowed`` (target = zero address for contract creation)."""
    return TRANSACTION_ALLOWED_SELECTOR + encode(
        ["address", "address", "uint256", "uint256", "uint256", "bytes"],
        [sender, target, value, gas_price, gas_limit, payload],
    )


class Admission:
    """Decides, and caches, whether a recovered sender may submit a transaction."""

    def __init__(self, chain: _Chain, bootstrap: str, consortium: str | None = None) -> None:
        self._chain = chain
        self.bootstrap = to_canonical_address(bootstrap)
        self.consortium = (
            to_canonical_address(consortium)
            if consortium
            else generate_contract_address(self.bootstrap, 0)
        )
        self._lock = threading.Lock()
        self._cache: dict[tuple[bytes, bytes], bool] = {}
        self._generation = 0
        self._deployed = False
        self.refresh_deployed()

    @property
    def consortium_address_checksum(self) -> str:
        return to_checksum_address(self.consortium)

    @property
    def consortium_deployed(self) -> bool:
        return self._deployed

    def refresh_deployed(self) -> None:
        """Look again whether the Consortium has code (only needed until it has)."""
        if not self._deployed and self._chain.code(self.consortium):
            with self._lock:
                self._deployed = True
                self._cache.clear()
                self._generation += 1

    def on_block(self, log_addresses: set[bytes]) -> None:
        """Called after every durable block: invalidate on Consortium events."""
        if not self._deployed:
            self.refresh_deployed()
        elif self.consortium in log_addresses:
            with self._lock:
                self._cache.clear()
                self._generation += 1

    def check(
        self, sender: bytes, to: bytes | None, value: int, gas_price: int, gas: int,
        data: bytes,
    ) -> None:
        """Raise :class:`AdmissionDeniedError` (-32003) naming the sender and the reason."""
        if not self._deployed:
            if sender != self.bootstrap:
                raise AdmissionDeniedError(
                    f"transaction rejected: sender {to_checksum_address(sender)} is not allowed:"
                    f" the Consortium {to_checksum_address(self.consortium)} is not deployed "
                    f"yet, so only the bootstrap address "
                    f"{to_checksum_address(self.bootstrap)} may transact"
                )
            return
        target = to or b"\x00" * 20
        key = (sender, target)
        allowed = self._cache.get(key)
        if allowed is None:
            generation = self._generation
            allowed, why = self._ask(sender, target, value, gas_price, gas, data)
            with self._lock:
                if generation == self._generation:
                    self._cache[key] = allowed
            if not allowed:
                raise AdmissionDeniedError(self._denied(sender, why))
        elif not allowed:
            raise AdmissionDeniedError(self._denied(sender, "cached decision"))

    def _denied(self, sender: bytes, why: str) -> str:
        return (
            f"transaction rejected: sender {to_checksum_address(sender)} is not allowed by "
            f"Consortium {to_checksum_address(self.consortium)} (not an active member's "
            f"current key, or lacks the role for this target; {why})"
        )

    def _ask(
        self, sender: bytes, target: bytes, value: int, gas_price: int, gas: int, data: bytes
    ) -> tuple[bool, str]:
        calldata = encode_transaction_allowed(sender, target, value, gas_price, gas, data)
        ok, output = self._chain.static_call(self.consortium, calldata)
        if not ok:
            return False, "transactionAllowed reverted"
        try:
            (allowed,) = decode(["bool"], output)
        except Exception:
            return False, f"transactionAllowed returned malformed data 0x{output.hex()}"
        return bool(allowed), "transactionAllowed returned false"
