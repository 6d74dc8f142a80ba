"""``debug_traceTransaction`` / ``debug_traceBlockBy*`` with the call tracer.

Why from py-evm's computation tree: re-executing a transaction at its place in its block (the
parent's state, the block's time and coinbase, the transactions before it applied first) leaves
a tree of computations — one per call frame, precompile calls included — whose messages and
results are exactly geth's ``callTracer`` frames. Nothing is written: the re-execution runs on a
throwaway state. The opcode-level struct logger is not offered yet (it needs a per-opcode hook in
the interpreter); asking for it is a clear error.
"""

from __future__ import annotations

from typing import Any

from eth_utils import encode_hex, to_checksum_address

from .errors import InvalidParamsError

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


def _replay(core: Any, number: int, upto: int | None) -> list[tuple[Any, Any, Any]]:
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
    for tx in txs:
        receipt, comp = vm.apply_transaction(result_header, tx)
        result_header = vm.add_receipt_to_header(result_header, receipt)
        out.append((tx, receipt, comp))
    return out


def _check_tracer(options: Any) -> None:
    tracer = options.get("tracer") if isinstance(options, dict) else None
    if tracer not in TRACERS:
        raise InvalidParamsError(
            f"tracer: {str(tracer)[:40] if tracer is not None else 'the struct logger (default)'} "
            f"is not offered by this node; use {{\"tracer\": \"callTracer\"}}")


def trace_transaction_at(core: Any, number: int, index: int, options: Any) -> dict[str, Any]:
    _check_tracer(options)
    with core.lock:
        replayed = _replay(core, number, index)
    tx, receipt, comp = replayed[-1]
    previous = replayed[-2][1].gas_used if len(replayed) > 1 else 0
    frame = _frame(comp, top_gas_used=receipt.gas_used - previous)  # the transaction's gas
    frame["gas"] = hex(tx.gas)
    return frame


def trace_block(core: Any, number: int, options: Any) -> list[dict[str, Any]]:
    _check_tracer(options)
    with core.lock:
        replayed = _replay(core, number, None)
    out, previous = [], 0
    for tx, receipt, comp in replayed:
        frame = _frame(comp, top_gas_used=receipt.gas_used - previous)
        frame["gas"] = hex(tx.gas)
        previous = receipt.gas_used
        out.append({"txHash": encode_hex(tx.hash), "result": frame})
    return out
