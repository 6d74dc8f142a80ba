"""Exceptions of the auditor's replay: everything derives from :class:`AuditError`.

A *divergence* (the served chain is not what its signed transactions produce) is not an
exception: it is a finding, carried by :class:`client.audit.reexecute.Divergence` and reported
with exit code 1.  These exceptions are the cases where the replay could not run at all (exit 2).
"""

from __future__ import annotations

from client.errors import CoLedgerError

__all__ = [
    "AuditError",
    "AuditRpcError",
    "CheckpointError",
    "GenesisMismatchError",
    "MissingBlockError",
    "UnsupportedChainError",
]


class AuditError(CoLedgerError):
    """The replay could not be carried out (bad input, unreachable node, missing data)."""


class AuditRpcError(AuditError):
    """The JSON-RPC endpoint is unreachable or answered something that is not JSON-RPC."""


class MissingBlockError(AuditError):
    """A block, transaction or receipt the replay needs was not served (null, gap, wrong number)."""


class GenesisMismatchError(AuditError):
    """The rebuilt genesis (or a checkpoint's genesis) differs from the one served."""


class UnsupportedChainError(GenesisMismatchError):
    """Block 0 is not a coledger embedded-node genesis at all (e.g. anvil, Besu)."""


class CheckpointError(AuditError):
    """A checkpoint is missing, unreadable, or belongs to another chain or replay."""
