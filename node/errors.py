"""Exception hierarchy of the embedded node.

Every failure kind has its own class so that the RPC layer can map it to the right
JSON-RPC error code without parsing messages, and so callers can catch precisely.
"""

from __future__ import annotations

import os

__all__ = [
    "NodeError",
    "StoreError",
    "StoreCorruptError",
    "StoreFullError",
    "GenesisMismatchError",
    "RpcError",
    "ParseError",
    "InvalidRequestError",
    "MethodNotFoundError",
    "InvalidParamsError",
    "CallGasError",
    "CallFundsError",
    "InternalRpcError",
    "TransactionRejectedError",
    "AdmissionDeniedError",
    "ExecutionRevertedError",
    "TimeTravelDisabledError",
    "LimitExceededError",
    "BatchAnswerTooLargeError",
]


class NodeError(Exception):
    """Root of every error raised on purpose by the node."""


class StoreError(NodeError):
    """The durable store could not be opened, read or committed."""


class StoreCorruptError(StoreError):
    """The start-time check found the store damaged; the node refuses to serve it.

    ``first_bad_block`` is the lowest block the head walk found missing, unlinked or without its
    transactions (None when only SQLite's structural check failed); ``problems`` are SQLite's
    ``quick_check`` messages (empty when the damage is logical only).
    """

    def __init__(self, path: str, first_bad_block: int | None, reason: str, problems: list[str]) -> None:
        parts = [f"chain store {path} is damaged"]
        if first_bad_block is not None:
            parts.append(f"first bad block {first_bad_block}: {reason}")
        if problems:
            shown = "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")
            parts.append(f"SQLite quick_check: {shown}")
        super().__init__(
            ": ".join(parts[:2]) + "".join(f"; {p}" for p in parts[2:])
            + f". Refusing to serve it. Full check: `coledger node check --data-dir {_check_dir(path)}`. "
            "Recovery: on the solo node, restore a backup into a new data dir (`coledger node restore "
            "--from BACKUP --data-dir NEWDIR`, from a `coledger node backup` archive); on a network, "
            "re-sync this validator's ledger from another validator; keep the damaged file for "
            "inspection"
        )
        self.path = path
        self.first_bad_block = first_bad_block
        self.reason = reason
        self.problems = problems


class StoreFullError(StoreError):
    """A write to the store failed because the filesystem holding it is full (SQLite's
    SQLITE_FULL, "database or disk is full"). SQLite rolled the transaction back: the store is
    still at its previous block and commits again once space is freed."""


def _check_dir(store: str) -> str:
    """The ``--data-dir`` that `coledger node check` takes for ``store``: the data dir when the
    store sits in its ``chain/`` (the layout `coledger node start` makes), else its directory."""
    directory = os.path.dirname(store) or "."
    if os.path.basename(directory) == "chain":
        return os.path.dirname(directory) or "."
    return directory


class GenesisMismatchError(NodeError):
    """The data dir holds a chain created with different genesis parameters."""


class RpcError(NodeError):
    """An error that is reported to a JSON-RPC client with a code (and optional data)."""

    code: int = -32603

    def __init__(self, message: str, data: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class ParseError(RpcError):
    """The request body is not valid JSON."""

    code = -32700


class InvalidRequestError(RpcError):
    """The JSON is not a valid JSON-RPC 2.0 request object."""

    code = -32600


class MethodNotFoundError(RpcError):
    """The method does not exist or is not offered by this node."""

    code = -32601


class InvalidParamsError(RpcError):
    """The parameters of a known method are malformed."""

    code = -32602


class CallGasError(InvalidParamsError):
    """eth_call / eth_estimateGas: the gas given (or the block's gas limit) is below the call's
    intrinsic cost, so it cannot even start; said in the node's words, not py-evm's."""


class CallFundsError(InvalidParamsError):
    """eth_call / eth_estimateGas: the call sends more value than its sender holds."""


class InternalRpcError(RpcError):
    """An unexpected internal failure; the node keeps serving."""

    code = -32603


class TransactionRejectedError(RpcError):
    """A raw transaction was refused before entering the mempool (geth uses -32000)."""

    code = -32000
    #: stable kind number (see the subclasses at the end of this module); 0 = unspecified
    reason: int = 0


class LimitExceededError(RpcError):
    """A query asked for more than the node is willing to serve at once (e.g. log range)."""

    code = -32005


class BatchAnswerTooLargeError(LimitExceededError):
    """A call of a batch past the batch's answer budget: not executed, or its answer dropped."""


class AdmissionDeniedError(RpcError):
    """The Consortium (or the bootstrap rule) does not allow this sender to transact."""

    code = -32003
    reason: int = 5


class ExecutionRevertedError(RpcError):
    """eth_call / eth_estimateGas reverted; code 3 and the revert bytes as data, like geth."""

    code = 3


class TimeTravelDisabledError(RpcError):
    """A dev time-control method was called on a node started without allow_time_travel."""

    code = -32601


# ---- why a transaction was refused: one class per kind ---------------------------------
# Each kind has a stable small number (``reason``): CometBFT's CheckTx and FinalizeBlock report
# it as the transaction's result code (part of the consensus-hashed results, so it must never
# change meaning), and a validator's JSON-RPC turns it back into the same error class.


class TransactionEncodingError(TransactionRejectedError):
    """Not a decodable signed transaction of a supported type."""

    reason = 1


class WrongChainIdError(TransactionRejectedError):
    """Signed for another chain (or without EIP-155 replay protection)."""

    reason = 2


class InvalidSignatureError(TransactionRejectedError):
    """The signature is malformed or does not recover a sender."""

    reason = 3


class TransactionGasError(TransactionRejectedError):
    """Gas below the intrinsic cost or above the block gas limit."""

    reason = 4


class IntrinsicGasTooLowError(TransactionGasError):
    """Gas below the intrinsic cost (21,000 + calldata + access list + creation); same reason
    number as its parent, so a validator's answer maps back to the same kind."""


class InsufficientFundsError(TransactionRejectedError):
    """The sender cannot pay gas * price + value."""

    reason = 6


class NonceTooLowError(TransactionRejectedError):
    """The nonce was already used (or is already pending: no replacement)."""

    reason = 7


class NonceTooHighError(TransactionRejectedError):
    """The nonce leaves a gap after the sender's next expected nonce."""

    reason = 8


class AlreadyKnownError(TransactionRejectedError):
    """This exact transaction is already pending."""

    reason = 9


class PoolFullError(TransactionRejectedError):
    """The pending pool is full; retry later."""

    reason = 10


class CannotCommitError(TransactionRejectedError):
    """The node's store cannot commit blocks (its disk is full): a new transaction is refused
    rather than acknowledged with a hash and never sealed; retry once space is freed. Never a
    CheckTx result (a validator that cannot commit stops), so no reason number."""


__all__ += [
    "TransactionEncodingError", "WrongChainIdError", "InvalidSignatureError", "TransactionGasError",
    "IntrinsicGasTooLowError",
    "InsufficientFundsError", "NonceTooLowError", "NonceTooHighError", "AlreadyKnownError",
    "PoolFullError", "CannotCommitError",
]
