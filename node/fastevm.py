"""A faster interpreter loop for the node's own py-evm execution (same results as stock).

Why: ~95% of the time to seal a block of ``recordFlows`` transactions was py-evm's opcode
loop (``BaseComputation.apply_computation``): for each of ~2,200 opcodes per flow it goes
through ``_FastOpcode.__call__`` -> ``Computation.consume_gas`` -> ``GasMeter.consume_gas``
(with a debug-log check) -> the logic function -> ``Stack.pop_ints`` (a generator of
``to_int`` calls) -> ``Stack.push_int`` -> ``validate_stack_int``; about 1 µs per opcode.

:class:`FastPragueComputation` is py-evm's ``PragueComputation`` with only that loop
replaced.  Everything else is py-evm: the opcode table, gas costs, message calls, CREATE,
storage (SLOAD/SSTORE with EIP-2929/2200 accounting), logs, hashing, precompiles, the state
and journal, transaction validation and finalization.  The loop (:func:`run_code`):

* decodes each contract code once (cached) into blocks (:mod:`node._evm_interp`): straight
  runs of stack, arithmetic, comparison, CALLDATALOAD and memory opcodes, following static
  jumps;
* runs a block that has been reached before as one compiled Python function
  (:mod:`node._evm_blocks`: the stack modelled at compile time, constants folded, the block's
  constant gas charged once), after checking that the gas left and the stack depth rule out
  any failure inside it;
* otherwise — first visits, and any block whose checks fail — interprets opcode by opcode
  with py-evm's exact order of checks, so out-of-gas, stack under/overflow and invalid
  jumps raise what py-evm raises, where it raises;
* executes every other opcode (calls, storage, logs, hashing, copies, context, ...) through
  py-evm's own opcode object, with the gas meter and program counter synchronized;
* is only used when py-evm's objects are the stock ones it was written against (GasMeter,
  Stack, Memory, CodeStream) and DEBUG2 logging is off; otherwise it defers to py-evm's
  own loop.

Stack values are ints where py-evm would sometimes keep bytes (PUSH, MLOAD, CALLDATALOAD);
py-evm converts either on use, and a frame's stack is gone when it ends.

Consensus: :func:`node.evm.chain_class` (what the auditor's replay uses) stays stock
py-evm; only the node's own chain (:func:`fast_chain_class`) uses this computation, so
``coledger audit replay`` re-executes every block the node sealed with unmodified py-evm
and compares state roots, receipts, logs and gas.  ``tests/node/test_fastevm.py`` also
compares both interpreters on generated programs (results, gas, errors, stack, memory, state).

Measured (10,000 recordFlows flows of the benchmark mix re-executed in-process, CPU time):
stock loop ~22 s, per-opcode loop 6.6 s, compiled blocks 3.5 s (3.0 s with
:mod:`node.keccak`; 2.5 s with the via-IR build and FundFlows' whole-word storage access).
``COLEDGER_STOCK_EVM=1`` / ``python -m node --stock-evm`` runs the stock loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth.abc import (
    BlockHeaderAPI,
    ComputationAPI,
    MessageAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
    TransactionContextAPI,
)
from eth.chains.base import MiningChain
from eth.exceptions import (
    Halt,
)
from eth.rlp.logs import Log
from eth.vm.code_stream import CodeStream
from eth.vm.computation import NO_RESULT
from eth.vm.forks.byzantium import ByzantiumVM
from eth.vm.forks.byzantium.constants import (
    EIP658_TRANSACTION_STATUS_CODE_FAILURE,
    EIP658_TRANSACTION_STATUS_CODE_SUCCESS,
)
from eth.vm.gas_meter import GasMeter
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.memory import Memory
from eth.vm.stack import Stack
from eth_hash.auto import keccak

from ._evm_interp import B_CALL, B_CODE, B_MEM, B_NEW, OpTable, as_int, interpret, program_for, table_for
from .evm import ColedgerComputation, ColedgerState, ColedgerVM

__all__ = ["FastPragueComputation", "FastColedgerState", "FastColedgerVM", "fast_chain_class"]

# ------------------------------------------------------------------------------ the loop


def run_code(computation: Any, table: OpTable) -> None:
    """Execute ``computation.code`` from its program counter until it halts or raises.

    Block by block: a compiled block whose gas and stack checks pass runs as one call; an
    opcode py-evm executes runs as one call to its py-evm object; anything else (a block not
    compiled yet, or whose checks fail) is interpreted opcode by opcode to the next leader.
    The gas counter lives in a local between calls out to py-evm code (which see the meter
    synchronized), the program counter likewise.
    """
    code = computation.code
    prog = program_for(code._raw_code_bytes, table)
    blocks = prog.blocks
    s: list[Any] = computation._stack.values
    meter = computation._gas_meter
    gas: int = meter.gas_remaining
    pc: int = code.program_counter
    outside = False  # True while other code runs (then the meter is authoritative)
    try:
        while True:
            kind, cost, fn, lowest, highest = blocks[pc]
            if kind == B_CODE:
                if gas >= cost and lowest <= len(s) <= highest:
                    gas -= cost
                    pc = fn(s, computation)
                    continue
            elif kind == B_CALL:
                if gas >= cost:
                    meter.gas_remaining = gas - cost
                    pc += 1
                    code.program_counter = pc
                    outside = True
                    fn(computation)
                    outside = False
                    gas = meter.gas_remaining
                    pc = code.program_counter
                    if s and s[-1].__class__ is not int:
                        s[-1] = as_int(s[-1])
                    continue
            elif kind == B_MEM:
                if gas >= cost and lowest <= len(s) <= highest:
                    meter.gas_remaining = gas - cost
                    outside = True
                    pc = fn(s, computation)
                    outside = False
                    gas = meter.gas_remaining
                    if pc >= 0:
                        continue
                    pc = -pc - 1  # memory expansion: interpret from that opcode on
            outside = True
            start = pc
            pc, gas = interpret(computation, prog, pc, gas)
            outside = False
            if kind == B_NEW:
                prog.visited(start)
    except Halt:
        pass
    except BaseException:
        if not outside:
            meter.gas_remaining = gas
        raise
    finally:
        code.program_counter = pc


# ------------------------------------------------------------------------- computation / VM

class FastPragueComputation(ColedgerComputation):
    """ColedgerComputation (Prague plus coledger's precompiles) whose opcode loop is
    :func:`run_code` (see the module docstring)."""

    @classmethod
    def apply_computation(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        # The prelude is py-evm's BaseComputation.apply_computation, verbatim.
        with cls(state, message, transaction_context) as computation:
            if computation.is_origin_computation:
                computation.contracts_created = []
                if message.is_create:
                    cls.consume_initcode_gas_cost(computation)
            if parent_computation is not None:
                computation.contracts_created = parent_computation.contracts_created
            if message.is_create:
                computation.contracts_created.append(message.storage_address)
            precompile = computation.precompiles.get(message.code_address, NO_RESULT)
            if precompile is not NO_RESULT:
                if not message.is_delegation:
                    precompile(computation)
                return computation
            if _stock_objects(computation):
                run_code(computation, table_for(computation.opcodes))
            else:
                _stock_loop(computation)
        return computation


def _stock_objects(c: Any) -> bool:
    """Only py-evm's own classes and no DEBUG2 logging (which the stock loop would emit)."""
    return (
        type(c._gas_meter) is GasMeter
        and type(c._stack) is Stack
        and type(c._memory) is Memory
        and type(c.code) is CodeStream
        and not c.logger.show_debug2
        and not GasMeter.logger.show_debug2
    )


def _stock_loop(computation: Any) -> None:
    """py-evm's loop (BaseComputation.apply_computation's body after the prelude)."""
    show_debug2 = computation.logger.show_debug2
    opcode_lookup = computation.opcodes
    for opcode in computation.code:
        try:
            opcode_fn = opcode_lookup[opcode]
        except KeyError:
            opcode_fn = InvalidOpcode(opcode)
        if show_debug2:
            mnemonic = getattr(opcode_fn, "mnemonic", "?")
            computation.logger.debug2(
                f"OPCODE: 0x{opcode:x} ({mnemonic}) | "
                f"pc: {max(0, computation.code.program_counter - 1)} | "
                f"stack: {computation._stack}"
            )
        try:
            opcode_fn(computation=computation)
        except Halt:
            break


class FastColedgerState(ColedgerState):
    computation_class = FastPragueComputation


def logs_bloom(logs: Sequence[Log]) -> int:
    """The receipt's logs bloom, as ``BloomFilter.from_iterable`` computes it.

    Same keccak and bit selection; each distinct bloomable (address, topic) is hashed once,
    which halves the hashing for a batch whose logs share the contract address and event
    signature (OR-ing the same bits again changes nothing).
    """
    bloom = 0
    seen: set[bytes] = set()
    for log in logs:
        for value in log.bloomables:
            if value in seen:
                continue
            seen.add(value)
            h = keccak(value)
            bloom |= (
                (1 << (((h[0] << 8) | h[1]) & 2047))
                | (1 << (((h[2] << 8) | h[3]) & 2047))
                | (1 << (((h[4] << 8) | h[5]) & 2047))
            )
    return bloom


#: FastColedgerVM.make_receipt mirrors ByzantiumVM.make_receipt: only while that is the one
#: the coledger VM inherits
_RECEIPT_AS_BYZANTIUM = (
    ColedgerVM.make_receipt.__func__ is ByzantiumVM.make_receipt.__func__  # type: ignore[attr-defined]
)


class FastColedgerVM(ColedgerVM):
    """:class:`node.evm.ColedgerVM` (same consensus rules) executing with the fast loop."""

    _state_class = FastColedgerState

    @classmethod
    def make_receipt(
        cls,
        base_header: BlockHeaderAPI,
        transaction: SignedTransactionAPI,
        computation: ComputationAPI,
        state: StateAPI,
    ) -> ReceiptAPI:
        """py-evm's receipt, with the logs bloom from :func:`logs_bloom`.

        The receipt is py-evm's own for the transaction type (built without logs, then
        copied with the logs and the bloom), so its type and encoding are unchanged.
        """
        entries = computation.get_log_entries()
        if len(entries) < 4 or not _RECEIPT_AS_BYZANTIUM:
            return super().make_receipt(base_header, transaction, computation, state)
        gas_used = base_header.gas_used + cls.finalize_gas_used(transaction, computation)
        status = (
            EIP658_TRANSACTION_STATUS_CODE_FAILURE
            if computation.is_error
            else EIP658_TRANSACTION_STATUS_CODE_SUCCESS
        )
        empty = transaction.make_receipt(status, gas_used, ())
        logs = [Log(address, topics, data) for address, topics, data in entries]
        return empty.copy(logs=logs, bloom=logs_bloom(logs))


def fast_chain_class(chain_id: int) -> type[MiningChain]:
    """Like :func:`node.evm.chain_class`, for the node's own execution (not the auditor's)."""
    return MiningChain.configure(
        __name__="ColedgerChain",
        vm_configuration=((0, FastColedgerVM),),
        chain_id=chain_id,
    )
