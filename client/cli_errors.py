"""One line for every mistake: how the CLI reports an error that escaped a command.

Why a module of its own: commands raise the SDK's ``CoLedgerError`` for the mistakes they
foresee, but a user can still hit the chain's refusal of a *view* call (``loan show 99`` asks a
contract about a loan that does not exist: web3 raises ``ContractCustomError`` with raw revert
bytes), a node that is not running, or a bug. None of these should print a Python traceback to a
bank engineer: each becomes one line naming what was wrong (the Solidity error decoded by name
through every contract's ABI) and what to do; ``--debug`` (or ``COLEDGER_DEBUG=1``) shows the
traceback for a developer.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Callable

import requests
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

from client.errors import CoLedgerError
from client.revert import decode_revert

__all__ = ["run_guarded", "describe"]

EXIT_ERROR = 2


def describe(exc: BaseException) -> str:
    """The one line that tells the user what went wrong (without ``coledger: error:``)."""
    if isinstance(exc, CoLedgerError):
        return str(exc)
    if isinstance(exc, ContractCustomError | ContractPanicError | ContractLogicError):
        data = getattr(exc, "data", None)
        revert = decode_revert(data if isinstance(data, str | bytes) else None)
        if revert.name is not None:
            return f"the chain refused: {revert}"
        return f"the chain refused: {exc.args[0] if exc.args else exc}"
    if isinstance(exc, requests.ConnectionError | ConnectionRefusedError):
        return ("cannot reach the node's JSON-RPC (is it running? start it with `coledger node "
                "start`, or pass --rpc URL / --data-dir DIR of a running node)")
    if isinstance(exc, requests.Timeout | TimeoutError):
        return "the node did not answer in time; is it overloaded or stopped?"
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename}"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        return f"no space left on device{where}: the disk is full; free space on it and try again"
    return (f"unexpected {type(exc).__name__}: {exc} (this is a bug in coledger; run again with "
            f"--debug for the traceback and report it)")


def run_guarded(command: Callable[[], int], debug: bool = False) -> int:
    """Run ``command``; any error is one line on stderr and exit status 2."""
    debug = debug or os.environ.get("COLEDGER_DEBUG") == "1"
    try:
        return int(command())
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into a line
        if debug:
            traceback.print_exc()
        print(f"coledger: error: {describe(exc)}", file=sys.stderr)
        return EXIT_ERROR
