"""Auditor's replay: re-execute the served chain from genesis and compare every commitment.

The auditor trusts nothing the node says about state, only the signed transactions: it
rebuilds the genesis, rebuilds each signed transaction from its served fields, re-executes
every block on a fresh py-evm chain (py-evm's own code path) and compares roots, receipts,
logs, gas and hashes, and checks each block's validator seal.

Exports load lazily (PEP 562): the `coledger` CLI imports `client.audit.cli` for every command,
and py-evm's import alone costs half a second that only `audit replay` should pay.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "AuditError",
    "AuditRpcError",
    "CheckpointError",
    "Divergence",
    "GenesisMismatchError",
    "MissingBlockError",
    "ReplayOptions",
    "ReplayReport",
    "UnsupportedChainError",
    "run_replay",
]

_WHERE = {
    "AuditError": "client.audit.errors",
    "AuditRpcError": "client.audit.errors",
    "CheckpointError": "client.audit.errors",
    "GenesisMismatchError": "client.audit.errors",
    "MissingBlockError": "client.audit.errors",
    "UnsupportedChainError": "client.audit.errors",
    "Divergence": "client.audit.reexecute",
    "ReplayOptions": "client.audit.replay",
    "run_replay": "client.audit.replay",
    "ReplayReport": "client.audit.report",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'client.audit' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
