"""Exception hierarchy of the coledger SDK.

One root (`CoLedgerError`) so callers can catch everything coledger raises; two-parent wrappers
where Python code expects a built-in (`CoLedgerValueError` is also a `ValueError`). Each failure
kind has its own class so callers branch on type, never on message text.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AdmissionRejected",
    "BackupArchiveError",
    "BackupError",
    "BuildError",
    "ChainStoreMissingError",
    "CoLedgerError",
    "CoLedgerValueError",
    "ConfigError",
    "ContractRevert",
    "DeploymentError",
    "InsecureFileError",
    "KeystoreError",
    "NodeStartError",
    "DataDirWriteError",
    "RestoreRefusedError",
    "RpcError",
    "TransactionFailed",
    "TransactionTimeout",
]


class CoLedgerError(Exception):
    """Root of every exception raised by the coledger SDK."""


class CoLedgerValueError(CoLedgerError, ValueError):
    """An argument was malformed or out of range; nothing was sent to the chain."""


class ConfigError(CoLedgerError):
    """A configuration file or setting is missing, malformed or refers to something absent."""


class ChainStoreMissingError(ConfigError):
    """A data dir that has served a chain (deployment record, keystores) has lost its chain store.

    Starting anyway would build a new genesis and silently replace the recorded chain.
    """

    def __init__(self, data_dir: str, store: str, problem: str, has: str = "a deployment record") -> None:
        super().__init__(
            f"data dir {data_dir} has {has} but its chain store {store} "
            f"{problem}; refusing to start (a new genesis would silently replace the recorded chain). "
            f"On a solo node, restore a backup into a new data dir (`coledger node restore --from "
            f"BACKUP --data-dir NEWDIR`); on a network, re-sync it from another validator; to found "
            f"a new consortium instead, use a new --data-dir"
        )
        self.data_dir = data_dir
        self.store = store
        self.problem = problem


class BuildError(CoLedgerError):
    """The Solidity sources did not compile, or the compiler could not be found or run."""


class KeystoreError(CoLedgerError):
    """A keystore file is missing, unreadable, or its password is wrong."""


class InsecureFileError(CoLedgerError):
    """A secret (password, key) or evidence file is readable by group or others.

    Carries the path and its mode so the message can name the file and the fix (`chmod 600`).
    """

    def __init__(self, path: str, mode: int, what: str) -> None:
        super().__init__(
            f"{what} {path} is readable by group or others (mode {mode:04o}); refusing to use it: "
            f"run `chmod 600 {path}`"
        )
        self.path = path
        self.mode = mode
        self.what = what


class NodeStartError(CoLedgerError):
    """The embedded node refused to start (a damaged store, another genesis...); the node's reason
    is the message, its exception the cause."""


class DataDirWriteError(ConfigError):
    """A file of the data dir (the deployment record, the consortium config) could not be written;
    nothing half-written is left behind. ``disk_full``: the filesystem had no space left."""

    def __init__(self, path: str, reason: str, disk_full: bool) -> None:
        advice = ("the disk holding the data dir is full; free space on it and start the node "
                  "again" if disk_full else "check the data dir's permissions and filesystem")
        super().__init__(f"cannot write {path}: {reason} ({advice})")
        self.path = path
        self.disk_full = disk_full
class BackupError(CoLedgerError):
    """`coledger node backup` could not make a backup (no chain store, the output exists, the
    snapshot failed the store check...); no archive was written."""


class BackupArchiveError(CoLedgerError):
    """A backup archive is unreadable, of another format, or does not match its own manifest
    (a file missing, altered or added, a path outside the data dir); nothing was restored."""


class RestoreRefusedError(CoLedgerError):
    """`coledger node restore` was pointed at a directory that is not empty: a restore never writes
    over an existing data dir (and so never over an existing chain)."""

    def __init__(self, target: str, found: list[str]) -> None:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        chain = " (it holds a chain)" if any(f.startswith("chain") for f in found) else ""
        super().__init__(
            f"{target} is not empty{chain}: it has {shown}; a restore never writes over an existing "
            f"data dir: restore into a new directory (nothing was changed)"
        )
        self.target = target
        self.found = found


class DeploymentError(CoLedgerError):
    """Contracts could not be deployed, or a recorded deployment does not match the chain."""


class RpcError(CoLedgerError):
    """The JSON-RPC endpoint answered with an error object (not a contract revert)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"RPC error {code}: {message}")
        self.code = code
        self.rpc_message = message
        self.data = data


class AdmissionRejected(RpcError):
    """The node refused the transaction because its sender is not admitted (permissioning layer 1)."""


class ContractRevert(CoLedgerError):
    """A contract call or transaction reverted; `name` and `args` are the decoded Solidity error.

    `name` is the custom error's name (e.g. ``ConsortiumUnauthorized``) or ``Error``/``Panic``
    for the built-in ones, or ``None`` when the revert data matched no known error.
    """

    def __init__(
        self, name: str | None, args: dict[str, Any], data: bytes, contract: str | None = None
    ) -> None:
        shown = ", ".join(f"{k}={_short(v)}" for k, v in args.items())
        where = f"{contract}: " if contract else ""
        label = name if name is not None else f"unknown revert 0x{data.hex()}"
        super().__init__(f"{where}{label}({shown})")
        self.name = name
        self.args_by_name = args
        self.data = data
        self.contract = contract


class TransactionFailed(CoLedgerError):
    """A mined transaction has status 0 and its revert reason could not be recovered."""

    def __init__(self, tx_hash: str, message: str) -> None:
        super().__init__(f"transaction {tx_hash} failed: {message}")
        self.tx_hash = tx_hash


class TransactionTimeout(CoLedgerError):
    """No receipt arrived in time; the transaction may still be pending (same nonce, same hash)."""

    def __init__(self, tx_hash: str, seconds: float) -> None:
        super().__init__(f"no receipt for {tx_hash} after {seconds:.0f} s")
        self.tx_hash = tx_hash


def _short(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value) if isinstance(value, str) else str(value)
