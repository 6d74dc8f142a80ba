"""geth's default tracer (the "struct logger") for ``debug_trace*``: one entry per executed opcode.

Why a separate computation class: the node's fast loop (:mod:`node.fastevm`) runs compiled basic
blocks and never dispatches single opcodes, so an opcode-level trace re-executes on py-evm's own
per-opcode loop through :class:`TracingComputation`, whose opcode table wraps every opcode with
a recorder. The wrappers look the active recorder up in a context variable, so the class is built
once and a trace in one thread never records another's steps.

Checked step by step (pc, op, depth, gas, stack, storage) against anvil's struct log of the same
transactions (tests/node/test_struct_log_vs_anvil.py). Stated rather than hidden: ``gasCost`` of a
CALL/CREATE-family step is what the calling frame spent net of the gas the child returned (geth
reports the amount handed to the child), and ``refund`` is not reported.

Bounded: at most :data:`MAX_STRUCT_LOGS` entries per trace. Asking for more (or a transaction that
executes more opcodes without a ``limit``) is a -32005 error naming the figures, never an answer
that grows with the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from eth_utils import encode_hex

from .errors import InvalidParamsError, LimitExceededError
from .evm import ColedgerComputation

__all__ = ["StructLogger", "TracingComputation", "MAX_STRUCT_LOGS", "struct_log_options"]

MAX_STRUCT_LOGS = 20_000
_SLOAD, _SSTORE = 0x54, 0x55
_OPTION_FLAGS = ("disableStack", "disableStorage", "enableMemory", "enableReturnData")


def struct_log_options(options: Any) -> dict[str, Any]:
    """Validate geth's struct-logger options; unknown keys are named, not ignored."""
    options = options if isinstance(options, dict) else {}
    known = {*_OPTION_FLAGS, "limit", "tracer", "timeout", "tracerConfig", "debug"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidParamsError(f"trace options: unknown field {unknown[0]!r} (the struct "
                                 f"logger takes {', '.join(_OPTION_FLAGS)} and limit)")
    out: dict[str, Any] = {}
    for flag in _OPTION_FLAGS:
        value = options.get(flag, False)
        if not isinstance(value, bool):
            raise InvalidParamsError(f"trace options: {flag} must be true or false")
        out[flag] = value
    limit = options.get("limit", 0)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise InvalidParamsError("trace options: limit must be a non-negative integer")
    if limit > MAX_STRUCT_LOGS:
        raise LimitExceededError(f"trace options: limit {limit} is above this node's "
                                 f"{MAX_STRUCT_LOGS} entries per trace")
    out["limit"] = limit
    return out


class StructLogger:
    """Records the steps of one transaction's execution."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.stack = not options["disableStack"]
        self.storage = not options["disableStorage"]
        self.memory = options["enableMemory"]
        self.limit = options["limit"]  # 0: up to MAX_STRUCT_LOGS, then an error
        self.logs: list[dict[str, Any]] = []
        self.truncated = False
        self._storage_seen: dict[bytes, dict[str, str]] = {}

    def before(self, comp: Any, op: int, mnemonic: str) -> dict[str, Any] | None:
        if self.truncated:
            return None
        if len(self.logs) >= (self.limit or MAX_STRUCT_LOGS):
            self.truncated = True
            return None
        values = comp._stack.values
        entry: dict[str, Any] = {
            "pc": max(0, comp.code.program_counter - 1),
            "op": mnemonic,
            "gas": comp.get_gas_remaining(),
            "gasCost": 0,
            "depth": comp.msg.depth + 1,
        }
        if self.stack:
            entry["stack"] = [hex(v if isinstance(v, int) else int.from_bytes(v, "big"))
                              for v in values]
        if self.memory:
            raw = bytes(comp._memory._bytes)
            entry["memory"] = [raw[i:i + 32].hex() for i in range(0, len(raw), 32)]
        if self.storage and op in (_SLOAD, _SSTORE) and values:
            entry["_slot"] = _word(values[-1])
            if op == _SSTORE and len(values) >= 2:
                entry["_value"] = _word(values[-2])
        self.logs.append(entry)
        return entry

    def after(self, comp: Any, entry: dict[str, Any] | None, op: int,
              error: BaseException | None) -> None:
        if entry is None:
            return
        entry["gasCost"] = entry["gas"] - comp.get_gas_remaining()
        if error is not None:
            entry["error"] = type(error).__name__
        slot = entry.pop("_slot", None)
        if slot is None:
            return
        value = entry.pop("_value", None)
        if value is None and op == _SLOAD and comp._stack.values:
            value = _word(comp._stack.values[-1])
        seen = self._storage_seen.setdefault(bytes(comp.msg.storage_address), {})
        if value is not None:
            seen[slot] = value
        entry["storage"] = dict(seen)

    def result(self, gas_used: int, failed: bool, output: bytes) -> dict[str, Any]:
        if self.truncated and not self.limit:
            raise LimitExceededError(
                f"the struct log of this transaction has more than {MAX_STRUCT_LOGS} entries; "
                f"pass {{\"limit\": N}} (at most {MAX_STRUCT_LOGS}) for its first N steps, or "
                f"use {{\"tracer\": \"callTracer\"}}")
        return {"gas": gas_used, "failed": failed, "returnValue": encode_hex(output),
                "structLogs": self.logs}


def _word(value: int | bytes) -> str:
    number = value if isinstance(value, int) else int.from_bytes(value, "big")
    return number.to_bytes(32, "big").hex()


_active: ContextVar[StructLogger | None] = ContextVar("coledger_struct_logger", default=None)


def _traced(op: int, fn: Callable[..., Any]) -> Callable[..., Any]:
    mnemonic = getattr(fn, "mnemonic", None) or getattr(getattr(fn, "__wrapped__", None),
                                                         "mnemonic", f"opcode 0x{op:02x}")

    def run(computation: Any) -> Any:
        recorder = _active.get()
        if recorder is None:
            return fn(computation=computation)
        entry = recorder.before(computation, op, mnemonic)
        try:
            result = fn(computation=computation)
        except BaseException as exc:
            recorder.after(computation, entry, op, exc)
            raise
        recorder.after(computation, entry, op, None)
        return result

    return run


class TracingComputation(ColedgerComputation):
    """py-evm's per-opcode loop with every opcode recorded while a :class:`StructLogger` is
    active (:func:`recording`)."""

    opcodes = {op: _traced(op, fn) for op, fn in ColedgerComputation.opcodes.items()}


class recording:  # noqa: N801 - used as a context manager
    """``with recording(logger):`` makes ``logger`` the active recorder in this context."""

    def __init__(self, logger: StructLogger) -> None:
        self._logger = logger
        self._token: Any = None

    def __enter__(self) -> StructLogger:
        self._token = _active.set(self._logger)
        return self._logger

    def __exit__(self, *exc: object) -> None:
        _active.reset(self._token)
