"""Exception hierarchy of the embedded node.

Every failure kind has its own class so that the RPC layer can map it to the right
JSON-RPC error code without parsing messages, and so callers can catch precisely.
"""

from __future__ import annotations

__all__ = [
    "NodeError",
    "StoreError",
    "GenesisMismatchError",
    "RpcError",
    "ParseError",
    "InvalidRequestError",
    "MethodNotFoundError",
    "InvalidParamsError",
    "InternalRpcError",
    "TransactionRejectedError",
    "AdmissionDeniedError",
    "ExecutionRevertedError",
    "TimeTravelDisabledError",
    "LimitExceededError",
]


class NodeError(Exception):
    """Root of every error raised on purpose by the node."""


class StoreError(NodeError):
    """The durable store could not be opened, read or committed."""


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


class InternalRpcError(RpcError):
    """An unexpected internal failure; the node keeps serving."""

    code = -32603


class TransactionRejectedError(RpcError):
    """A raw transaction was refused before entering the mempool (geth uses -32000)."""

    code = -32000


class LimitExceededError(RpcError):
    """A query asked for more than the node is willing to serve at once (e.g. log range)."""

    code = -32005


class AdmissionDeniedError(RpcError):
    """The Consortium (or the bootstrap rule) does not allow this sender to transact."""

    code = -32003


class ExecutionRevertedError(RpcError):
    """eth_call / eth_estimateGas reverted; code 3 and the revert bytes as data, like geth."""

    code = 3


class TimeTravelDisabledError(RpcError):
    """A dev time-control method was called on a node started without allow_time_travel."""

    code = -32601
