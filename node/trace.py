"""``debug_traceTransaction`` / ``debug_traceBlockBy*`` with the call tracer.

Why from py-evm's computation tree: re-executing a transaction at its place in its block (the
parent's state, the block's time and coinbase, the transactions before it applied first) leaves
a tree of computations — one per call frame, precompile calls included — whose messages and
results are exactly geth's ``callTracer`` frames. Nothing is written: the re-execution runs on a
throwaway state. Without a ``tracer`` option the answer is geth's opcode-level struct log
(:mod:`node.struct_log`), re-executed on py-evm's per-opcode loop.
"""

from __future__ import annotations

from typing import Any

from eth_utils import encode_hex, to_checksum_address

from .errors import InvalidParamsError, LimitExceededError
from .struct_log import MAX_STRUCT_LOGS, StructLogger, TracingComputation, recording, struct_log_options

__all__ = ["trace_block", "trace_transaction_at", "TRACERS"]

TRACERS = ("callTracer",)
_MAX_DEPTH = 1_100  # deeper than the EVM's 1,024 call frames: never cut a real trace


def _kind(comp: Any, parent_static: bool) -> str:
    msg = comp.msg
    if msg.is_create:
        return "CREATE"
    if msg.is_static and not parent_static:
        return "STATICCALL"
    if msg.code_address != msg.storage_address:
        return "CALLCODE" if msg.should_transfer_value else "DELEGATECALL"
    return "CALL"


def _frame(comp: Any, parent_static: bool = False, depth: int = 0, top_gas_used: int | None = None
           ) -> dict[str, Any]:
    msg = comp.msg
    frame: dict[str, Any] = {
        "type": _kind(comp, parent_static),
        "from": to_checksum_address(msg.sender),
        "to": to_checksum_address(msg.storage_address),
        "value": hex(msg.value),
        "gas": hex(msg.gas),
        "gasUsed": hex(comp.get_gas_used() if top_gas_used is None else top_gas_used),
        "input": encode_hex(msg.data_as_bytes),
        "output": encode_hex(comp.output),
    }
    if comp.is_error:
        frame["error"] = "execution reverted" if type(comp.error).__name__ == "Revert" else (
            type(comp.error).__name__)
    if comp.children and depth < _MAX_DEPTH:
        frame["calls"] = [_frame(c, msg.is_static, depth + 1) for c in comp.children]
    return frame


def _replay(core: Any, number: int, upto: int | None, struct: dict[str, Any] | None = None
            ) -> list[tuple[Any, Any, Any, StructLogger | None]]:
    """Re-execute block ``number``'s transactions (through index ``upto``) on its parent's
    state; [(transaction, receipt, computation)]. Caller holds the core lock."""
    if number < 1 or number > core.head.block_number:
        raise InvalidParamsError(f"block {number} does not exist or cannot be traced")
    chain = core.chain
    block = chain.get_canonical_block_by_number(number)
    parent = chain.get_canonical_block_header_by_number(number - 1)
    header = chain.create_header_from_parent(parent, timestamp=block.header.timestamp,
                                             coinbase=block.header.coinbase)
    vm = chain.get_vm(header)  # its state is never persisted: the re-execution writes nothing
    out = []
    result_header = header
    txs = block.transactions if upto is None else block.transactions[:upto + 1]
    for i, tx in enumerate(txs):
        logger = None
        if struct is not None and (upto is None or i == upto):
            logger = StructLogger(struct)
            vm.state.computation_class = TracingComputation  # this state only, never persisted
            try:
                with recording(logger):
                    receipt, comp = vm.apply_transaction(result_header, tx)
            finally:
                del vm.state.computation_class
        else:
            receipt, comp = vm.apply_transaction(result_header, tx)
        result_header = vm.add_receipt_to_header(result_header, receipt)
        out.append((tx, receipt, comp, logger))
    return out


def _tracer(options: Any) -> dict[str, Any] | None:
    """None for the call tracer, else the struct logger's validated options."""
    if options is not None and not isinstance(options, dict):
        raise InvalidParamsError("trace options: expected an object like {\"tracer\": "
                                 "\"callTracer\"} or {\"disableStack\": true}")
    tracer = (options or {}).get("tracer")
    if tracer is None:
        return struct_log_options(options)
    if tracer not in TRACERS:
        raise InvalidParamsError(
            f"tracer: {str(tracer)[:40]} is not offered by this node; use "
            f"{{\"tracer\": \"callTracer\"}} or no tracer (the struct logger)")
    return None


def _call_frame(tx: Any, receipt: Any, comp: Any, previous: int) -> dict[str, Any]:
    frame = _frame(comp, top_gas_used=receipt.gas_used - previous)  # the transaction's gas
    frame["gas"] = hex(tx.gas)
    return frame


def trace_transaction_at(core: Any, number: int, index: int, options: Any) -> dict[str, Any]:
    struct = _tracer(options)
    with core.lock:
        replayed = _replay(core, number, index, struct)
    tx, receipt, comp, logger = replayed[-1]
    previous = replayed[-2][1].gas_used if len(replayed) > 1 else 0
    if logger is not None:
        return logger.result(receipt.gas_used - previous, bool(comp.is_error), bytes(comp.output))
    return _call_frame(tx, receipt, comp, previous)


def trace_block(core: Any, number: int, options: Any) -> list[dict[str, Any]]:
    struct = _tracer(options)
    with core.lock:
        replayed = _replay(core, number, None, struct)
    out, previous, steps = [], 0, 0
    for tx, receipt, comp, logger in replayed:
        if logger is not None:
            steps += len(logger.logs)
            if steps > MAX_STRUCT_LOGS:
                raise LimitExceededError(
                    f"the struct logs of block {number} have more than {MAX_STRUCT_LOGS} "
                    f"entries in all; trace its transactions one by one, or use "
                    f"{{\"tracer\": \"callTracer\"}}")
            result = logger.result(receipt.gas_used - previous, bool(comp.is_error),
                                   bytes(comp.output))
        else:
            result = _call_frame(tx, receipt, comp, previous)
        previous = receipt.gas_used
        out.append({"txHash": encode_hex(tx.hash), "result": result})
    return out
