"""Turn a raw signed transaction into an admitted, decoded transaction, or say exactly why not.

Checks, cheapest first: RLP/typed-envelope decoding, chain id (legacy transactions
without EIP-155 replay protection are refused), signature, gas bounds, admission
(Consortium), balance (only when the transaction sends value: gas is never charged). Nonce rules belong to
whoever queues the transaction: the solo mempool or the CometBFT application's CheckTx.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from eth_utils import to_checksum_address
from rlp.exceptions import DeserializationError

from ._guard import rlp_too_deep
from .authorizations import describe, recover_authorizations
from .errors import (
    AdmissionDeniedError,
    InsufficientFundsError,
    IntrinsicGasTooLowError,
    InvalidSignatureError,
    TransactionEncodingError,
    TransactionGasError,
    WrongChainIdError,
)
from .evm import ColedgerVM
from .mempool import PendingTx

if TYPE_CHECKING:
    from .admission import Admission
    from .core import ChainCore

__all__ = ["TransactionValidator"]

_SUPPORTED_TYPES = {None, 1, 2, 4}
_TYPES_WORDS = "use legacy, 1, 2 or 4"

log = logging.getLogger("coledger.node.ingest")


def _encoding_reason(raw: bytes, exc: Exception) -> str:
    """Why ``raw`` does not decode, in the node's words (never the decoder's: its messages
    name Python classes and sedes, nothing a client sent)."""
    kind = f"a type-{raw[0]} transaction" if raw[0] <= 0x7F else "a legacy transaction"
    if isinstance(exc, DeserializationError):
        return (f"invalid transaction encoding: the RLP items do not have the fields of {kind} "
                f"(wrong count, or a field of the wrong kind or size)")
    return f"invalid transaction encoding: not well-formed RLP for {kind}"


class TransactionValidator:
    """Validates raw transactions against head state; one instance per node."""

    def __init__(
        self, core: ChainCore, admission: Admission, chain_id: int, gas_limit: int,
    ) -> None:
        self._core = core
        self._admission = admission
        self._chain_id = chain_id
        self._gas_limit = gas_limit
        self._builder = ColedgerVM.get_transaction_builder()

    def validate(self, raw: bytes) -> PendingTx:
        """Decode and check ``raw``; the transaction with its recovered sender and hash."""
        ptx = self.decode(raw)
        self.admit(ptx)
        return ptx

    def decode(self, raw: bytes) -> PendingTx:
        """The checks that depend on the bytes alone (a result that may be cached by hash)."""
        if not raw:
            raise TransactionEncodingError("invalid transaction: empty payload")
        too_deep = rlp_too_deep(raw)
        if too_deep is not None:
            raise TransactionEncodingError(f"invalid transaction encoding (bad RLP): {too_deep}")
        if raw[0] <= 0x7F and raw[0] not in _SUPPORTED_TYPES:  # an EIP-2718 type byte
            raise TransactionEncodingError(
                f"transaction type {raw[0]} is not supported ({_TYPES_WORDS})")
        try:
            tx = self._builder.decode(raw)
        except RecursionError as exc:  # bounded above; never report the interpreter's words
            raise TransactionEncodingError(
                "invalid transaction encoding (bad RLP): nested too deeply") from exc
        except Exception as exc:  # the decoder's own words go to the log only
            log.debug("undecodable transaction", exc_info=True)
            raise TransactionEncodingError(_encoding_reason(raw, exc)) from exc
        type_id = tx.type_id
        if type_id not in _SUPPORTED_TYPES:
            raise TransactionEncodingError(
                f"transaction type {type_id} is not supported ({_TYPES_WORDS})"
            )
        if type_id is None:
            if tx.v in (27, 28):
                raise WrongChainIdError(
                    "legacy transaction without EIP-155 replay protection refused: "
                    f"sign with chain id {self._chain_id}"
                )
            chain_id = tx.chain_id
        else:
            chain_id = tx.chain_id
        if chain_id != self._chain_id:
            raise WrongChainIdError(
                f"wrong chain id: transaction is for chain {chain_id}, "
                f"this node is chain {self._chain_id}"
            )
        if type_id == 4 and not tx.authorization_list:
            raise TransactionEncodingError(
                "authorizationList: a type-4 transaction needs at least one authorization "
                "(EIP-7702)")
        try:
            tx.validate()  # field ranges incl. signature r/s bounds (no recovery)
            sender = tx.sender  # one recovery (coincurve via eth_keys)
        except Exception as exc:
            raise InvalidSignatureError(f"invalid signature: {exc}") from exc
        if tx.gas > self._gas_limit:
            raise TransactionGasError(
                f"exceeds block gas limit: transaction gas {tx.gas} > block gas limit "
                f"{self._gas_limit}"
            )
        intrinsic = tx.intrinsic_gas
        if tx.gas < intrinsic:
            raise IntrinsicGasTooLowError(f"intrinsic gas too low: needs {intrinsic}, has {tx.gas}")
        authorizations = recover_authorizations(tx, self._chain_id) if type_id == 4 else ()
        return PendingTx(tx=tx, sender=sender, hash=tx.hash, authorizations=authorizations)

    def admit(self, ptx: PendingTx) -> None:
        """The checks that depend on head state: admission by the Consortium, then funds."""
        tx, sender = ptx.tx, ptx.sender
        price = int(tx.gas_price if tx.type_id in (None, 1) else tx.max_fee_per_gas)
        self._admission.check(sender, tx.to or None, int(tx.value), price, int(tx.gas),
                              bytes(tx.data))
        for i, auth in enumerate(ptx.authorizations):
            try:  # the authority must be an account the Consortium lets call the delegate
                self._admission.check(auth.authority, auth.delegate, 0, 0, 0, b"")
            except AdmissionDeniedError as exc:
                raise AdmissionDeniedError(
                    f"authorizationList[{i}]: {describe(auth)} refused: {exc}") from exc
        if tx.value:  # gas is never charged (node.evm.ColedgerState): only value costs coin
            balance = self._core.balance(sender)
            if balance < tx.value:
                raise InsufficientFundsError(
                    f"insufficient funds for value: sender {to_checksum_address(sender)} has "
                    f"{balance}, the transaction sends {tx.value} (gas is free on coledger; "
                    f"member accounts hold no native coin)"
                )
