"""A faster interpreter loop for the node's own py-evm execution (same results as stock).

Why: ~95% of the time to seal a block of ``recordFlows`` transactions is py-evm's opcode
loop (``BaseComputation.apply_computation``): for each of ~2,200 opcodes per flow it goes
through ``_FastOpcode.__call__`` -> ``Computation.consume_gas`` -> ``GasMeter.consume_gas``
(with a debug-log check) -> the logic function -> ``Stack.pop_ints`` (a generator of
``to_int`` calls) -> ``Stack.push_int`` -> ``validate_stack_int``; about 1 µs per opcode.

:class:`FastPragueComputation` is py-evm's ``PragueComputation`` with only that loop
replaced.  Everything else is py-evm: the opcode table, gas costs, message calls, CREATE,
storage (SLOAD/SSTORE with EIP-2929/2200 accounting), logs, precompiles, the state and
journal, transaction validation and finalization.  The loop:

* executes stock py-evm opcode objects for everything it has no fast path for (calls,
  storage, logs, hashing, copies, context, ...), with the program counter kept in sync;
* decodes each contract code once (cached): PUSH data pre-sliced, valid JUMPDESTs decided
  by py-evm's own ``CodeStream.is_valid_opcode``;
* inlines the opcodes that dominate compiled Solidity (PUSH0-32, DUP1-16, SWAP1-16, POP,
  JUMP, JUMPI, JUMPDEST) and runs small local re-implementations of ADD, SUB, MUL, DIV, AND,
  OR, XOR, NOT, ISZERO, EQ, LT, GT, SLT, SGT, SHL, SHR, MLOAD, MSTORE that work on the stack
  list directly, with the same results, the same stack item types (PUSH still pushes bytes,
  arithmetic pushes ints), the same exception types and messages, and the same gas, charged
  in the same order (the opcode's constant gas first, then memory expansion);
* keeps gas and the program counter in locals, synchronized with the GasMeter and the
  CodeStream around every call into py-evm code and when the loop ends;
* is only used when py-evm's objects are the stock ones it was written against (GasMeter,
  Stack, Memory, CodeStream, ``_FastOpcode`` entries whose logic function is the stock
  function) and DEBUG2 logging is off; otherwise it defers to py-evm's own loop.

Consensus: :func:`node.evm.chain_class` (what the auditor's replay uses) stays stock
py-evm; only the node's own chain (:func:`fast_chain_class`) uses this computation, so
``coledger audit replay`` re-executes every block the node sealed with unmodified py-evm
and compares state roots, receipts, logs and gas.  ``tests/node/test_fastevm.py`` also
compares both interpreters on generated programs (results, gas, errors, stack, memory, state).

Measured (2,000 recordFlows flows re-executed in-process, CPU time): stock loop 4.66 s,
this loop 1.36 s; ``scripts/bench_flows.py --chains embedded`` went from 375 to 1,030-1,060
flows/s (``COLEDGER_STOCK_EVM=1`` / ``python -m node --stock-evm`` runs the stock loop).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
from eth.constants import UINT_255_MAX, UINT_256_CEILING, UINT_256_MAX
from eth.exceptions import (
    FullStack,
    Halt,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
)
from eth.rlp.logs import Log
from eth.vm.code_stream import CodeStream
from eth.vm.computation import NO_RESULT
from eth.vm.forks.byzantium import ByzantiumVM
from eth.vm.forks.byzantium.constants import (
    EIP658_TRANSACTION_STATUS_CODE_FAILURE,
    EIP658_TRANSACTION_STATUS_CODE_SUCCESS,
)
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState
from eth.vm.gas_meter import GasMeter
from eth.vm.logic import arithmetic, comparison, duplication, flow, memory, stack, swap
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.memory import Memory
from eth.vm.opcode import _FastOpcode
from eth.vm.stack import Stack
from eth.vm.stack import to_bytes as _to_bytes
from eth.vm.stack import to_int as _to_int
from eth_hash.auto import keccak

from .evm import ColedgerVM

__all__ = ["FastPragueComputation", "FastColedgerState", "FastColedgerVM", "fast_chain_class"]

_JUMPDEST = 0x5B
_from_bytes = int.from_bytes

# ---------------------------------------------------------------------------- jump destinations

_JUMPDEST_CACHE: dict[bytes, frozenset[int]] = {}
_JUMPDEST_CACHE_LIMIT = 256


def valid_jumpdests(code: bytes) -> frozenset[int]:
    """Positions a JUMP may land on, decided by py-evm's own ``CodeStream.is_valid_opcode``."""
    found = _JUMPDEST_CACHE.get(code)
    if found is None:
        stream = CodeStream(code)
        found = frozenset(
            i for i, byte in enumerate(code) if byte == _JUMPDEST and stream.is_valid_opcode(i)
        )
        if len(_JUMPDEST_CACHE) >= _JUMPDEST_CACHE_LIMIT:
            _JUMPDEST_CACHE.clear()
        _JUMPDEST_CACHE[code] = found
    return found


def _bad_jump(code: CodeStream, dest: int) -> Exception:
    """The exception stock ``flow.jump`` raises for a destination not in the valid set."""
    code.program_counter = dest
    if code.peek() != _JUMPDEST:
        return InvalidJumpDestination("Invalid Jump Destination")
    return InvalidInstruction("Jump resulted in invalid instruction")


# ------------------------------------------------------------------ fast stack-level opcodes
# Each takes (computation, stack list). Operands convert like Stack.to_int: ints (and bools)
# as they are, bytes big-endian, anything else through py-evm's to_int (which raises).


def _under(s: list[Any], n: int) -> InsufficientStack:
    return InsufficientStack(f"Wanted {n} stack items, only had {len(s)}")


_BINARY_TEMPLATE = """
def run(c, s):
    if len(s) < 2:
        raise _under(s, 2)
    a = s.pop()
    b = s[-1]
    if a.__class__ is not int:
        a = _from_bytes(a, "big") if a.__class__ is bytes else _to_int(a)
    if b.__class__ is not int:
        b = _from_bytes(b, "big") if b.__class__ is bytes else _to_int(b)
    s[-1] = {expr}
"""


def _binary(expr: str) -> Callable[[Any, list[Any]], None]:
    """A two-operand opcode: a = top of stack, b = the next item, result replaces both."""
    scope: dict[str, Any] = {
        "_under": _under, "_from_bytes": _from_bytes, "_to_int": _to_int, "_M": UINT_256_MAX,
        "_signed": _signed,
    }
    exec(_BINARY_TEMPLATE.format(expr=expr), scope)  # noqa: S102 - fixed templates only
    fn: Callable[[Any, list[Any]], None] = scope["run"]
    return fn


def _signed(v: int) -> int:
    return v if v <= UINT_255_MAX else v - UINT_256_CEILING


def _iszero(c: Any, s: list[Any]) -> None:
    if not s:
        raise InsufficientStack("Wanted 1 stack item, had none")
    v = s[-1]
    if v.__class__ is not int:
        v = _from_bytes(v, "big") if v.__class__ is bytes else _to_int(v)
    s[-1] = 1 if v == 0 else 0


def _not(c: Any, s: list[Any]) -> None:
    if not s:
        raise InsufficientStack("Wanted 1 stack item, had none")
    v = s[-1]
    if v.__class__ is not int:
        v = _from_bytes(v, "big") if v.__class__ is bytes else _to_int(v)
    s[-1] = UINT_256_MAX - v


def _pop(c: Any, s: list[Any]) -> None:
    if not s:
        raise InsufficientStack("Wanted 1 stack item, had none")
    s.pop()


def _mload(c: Any, s: list[Any]) -> None:
    if not s:
        raise InsufficientStack("Wanted 1 stack item, had none")
    start = s.pop()
    if start.__class__ is not int:
        start = _from_bytes(start, "big") if start.__class__ is bytes else _to_int(start)
    buf = c._memory._bytes
    end = start + 32
    if end > len(buf):
        c.extend_memory(start, 32)  # stock: gas for expansion, then grow
        buf = c._memory._bytes
    s.append(bytes(buf[start:end]))


def _mstore(c: Any, s: list[Any]) -> None:
    if len(s) < 1:
        raise InsufficientStack("Wanted 1 stack item, had none")
    start = s.pop()
    if start.__class__ is not int:
        start = _from_bytes(start, "big") if start.__class__ is bytes else _to_int(start)
    if not s:
        raise InsufficientStack("Wanted 1 stack item, had none")
    value = s.pop()
    if value.__class__ is bytes:
        if len(value) != 32:
            value = value.rjust(32, b"\x00")[-32:]
    elif value.__class__ is int:
        value = value.to_bytes(32, "big")
    else:
        value = _to_bytes(value).rjust(32, b"\x00")[-32:]
    buf = c._memory._bytes
    end = start + 32
    if end > len(buf):
        c.extend_memory(start, 32)
        buf = c._memory._bytes
    buf[start:end] = value


_FAST: dict[Callable[..., Any], Callable[[Any, list[Any]], None]] = {
    arithmetic.add: _binary("(a + b) & _M"),
    arithmetic.sub: _binary("(a - b) & _M"),
    arithmetic.mul: _binary("(a * b) & _M"),
    arithmetic.div: _binary("0 if b == 0 else (a // b) & _M"),
    comparison.and_op: _binary("a & b"),
    comparison.or_op: _binary("a | b"),
    comparison.xor: _binary("a ^ b"),
    comparison.eq: _binary("1 if a == b else 0"),
    comparison.lt: _binary("1 if a < b else 0"),
    comparison.gt: _binary("1 if a > b else 0"),
    comparison.slt: _binary("1 if _signed(a) < _signed(b) else 0"),
    comparison.sgt: _binary("1 if _signed(a) > _signed(b) else 0"),
    arithmetic.shl: _binary("0 if a >= 256 else (b << a) & _M"),
    arithmetic.shr: _binary("0 if a >= 256 else (b >> a) & _M"),
    comparison.iszero: _iszero,
    comparison.not_op: _not,
    stack.pop: _pop,
}

# ------------------------------------------------------------------------------ opcode table

_PUSH = {getattr(stack, f"push{n}"): n for n in range(33)}
_DUP = {getattr(duplication, f"dup{n}"): n for n in range(1, 17)}
_SWAP = {getattr(swap, f"swap{n}"): n for n in range(1, 17)}

# Entry kinds, tested in this order in the loop (roughly by frequency in compiled Solidity).
K_PUSH, K_DUP, K_FAST, K_JUMPDEST, K_SWAP, K_POP, K_JUMPI, K_JUMP, K_MEM, K_LOGIC, K_OPCODE = range(11)

_MEM = {memory.mload: _mload, memory.mstore: _mstore}

#: (kind, constant gas, callable (PUSH: the pushed bytes), argument (PUSH: next pc))
_Entry = tuple[int, int, Any, int]


def build_table(opcodes: dict[int, Any]) -> tuple[_Entry, ...]:
    """The loop's 256-entry table for a py-evm opcode table (anything unknown: stock object)."""
    table: list[_Entry] = []
    for op in range(256):
        fn = opcodes.get(op)
        if fn is None:
            table.append((K_OPCODE, 0, InvalidOpcode(op), 0))
            continue
        if type(fn) is not _FastOpcode:  # dynamic gas (SLOAD, CALL, ...): py-evm's own object
            table.append((K_OPCODE, 0, fn, 0))
            continue
        logic, gas = fn.logic_fn, fn.gas_cost
        if logic in _PUSH:
            table.append((K_PUSH, gas, None, _PUSH[logic]))
        elif logic in _DUP:
            table.append((K_DUP, gas, None, _DUP[logic]))
        elif logic in _SWAP:
            table.append((K_SWAP, gas, None, _SWAP[logic]))
        elif logic is flow.jumpdest:
            table.append((K_JUMPDEST, gas, None, 0))
        elif logic is stack.pop:
            table.append((K_POP, gas, None, 0))
        elif logic is flow.jump:
            table.append((K_JUMP, gas, None, 0))
        elif logic is flow.jumpi:
            table.append((K_JUMPI, gas, None, 0))
        elif logic in _FAST:
            table.append((K_FAST, gas, _FAST[logic], 0))
        elif logic in _MEM:
            table.append((K_MEM, gas, _MEM[logic], 0))
        else:
            table.append((K_LOGIC, gas, logic, 0))
    return tuple(table)


class Program:
    """One contract code decoded once: an entry per byte position (PUSH data pre-sliced)."""

    __slots__ = ("entries", "jumpdests")

    def __init__(self, code: bytes, table: tuple[_Entry, ...]) -> None:
        entries: list[_Entry] = []
        for pc, op in enumerate(code):
            entry = table[op]
            if entry[0] == K_PUSH:
                size = entry[3]
                value = code[pc + 1 : pc + 1 + size]
                if len(value) != size:  # truncated at the end of the code: zero-padded
                    value = value.ljust(size, b"\x00")
                entry = (K_PUSH, entry[1], value, pc + 1 + size)
            entries.append(entry)
        # past the end: STOP (CodeStream.__iter__ yields STOP); a PUSH may jump 33 past
        entries.extend([table[0]] * 34)
        self.entries = entries
        self.jumpdests = valid_jumpdests(code)


_PROGRAMS: dict[tuple[int, bytes], Program] = {}
_PROGRAM_CACHE_LIMIT = 128


def program_for(code: bytes, table: tuple[_Entry, ...]) -> Program:
    key = (id(table), code)
    prog = _PROGRAMS.get(key)
    if prog is None:
        if len(_PROGRAMS) >= _PROGRAM_CACHE_LIMIT:
            _PROGRAMS.clear()
        prog = _PROGRAMS[key] = Program(code, table)
    return prog


def run_code(computation: Any, table: tuple[_Entry, ...]) -> None:
    """Execute ``computation.code`` from its program counter until it halts or raises.

    The gas counter lives in a local between calls out to py-evm code (which see the meter
    synchronized); the program counter likewise (``code.program_counter`` is synchronized
    around every call out, and when the loop ends).
    """
    code = computation.code
    raw: bytes = code._raw_code_bytes
    prog = program_for(raw, table)
    entries = prog.entries
    jumpdests = prog.jumpdests
    s: list[Any] = computation._stack.values
    push = s.append
    pop = s.pop
    meter = computation._gas_meter
    gas: int = meter.gas_remaining
    pc: int = code.program_counter
    outside = False  # True while py-evm code runs (then the meter is authoritative)
    try:
        while True:
            kind, cost, fn, arg = entries[pc]
            pc += 1
            gas -= cost
            if gas < 0:
                gas += cost
                meter.gas_remaining = gas
                meter.consume_gas(cost, computation.opcodes[raw[pc - 1]].mnemonic)  # OutOfGas
            if kind == 0:  # K_PUSH
                if len(s) > 1023:
                    raise FullStack("Stack limit reached")
                push(fn)
                pc = arg
            elif kind == 1:  # K_DUP
                depth = len(s)
                if depth > 1023:
                    raise FullStack("Stack limit reached")
                if depth < arg:
                    raise InsufficientStack(f"Insufficient stack items for DUP{arg}")
                push(s[-arg])
            elif kind == 2:  # K_FAST
                fn(computation, s)
            elif kind == 3:  # K_JUMPDEST
                pass
            elif kind == 4:  # K_SWAP
                if len(s) <= arg:
                    raise InsufficientStack(f"Insufficient stack items for SWAP{arg}")
                s[-1], s[-arg - 1] = s[-arg - 1], s[-1]
            elif kind == 5:  # K_POP
                if not s:
                    raise InsufficientStack("Wanted 1 stack item, had none")
                pop()
            elif kind == 6:  # K_JUMPI
                if len(s) < 2:
                    raise _under(s, 2)
                dest = pop()
                cond = pop()
                if cond.__class__ is bytes:
                    cond = _from_bytes(cond, "big")
                elif cond.__class__ is not int:
                    cond = _to_int(cond)
                if cond:
                    if dest.__class__ is not int:
                        dest = _from_bytes(dest, "big") if dest.__class__ is bytes else _to_int(dest)
                    if dest not in jumpdests:
                        raise _bad_jump(code, dest)
                    pc = dest
                elif dest.__class__ is not int and dest.__class__ is not bytes:
                    _to_int(dest)  # stock converts both operands (raises on a bad type)
            elif kind == 7:  # K_JUMP
                if not s:
                    raise InsufficientStack("Wanted 1 stack item, had none")
                dest = pop()
                if dest.__class__ is not int:
                    dest = _from_bytes(dest, "big") if dest.__class__ is bytes else _to_int(dest)
                if dest not in jumpdests:
                    raise _bad_jump(code, dest)
                pc = dest
            else:
                meter.gas_remaining = gas
                code.program_counter = pc
                outside = True
                if kind == 8:  # K_MEM
                    fn(computation, s)
                elif kind == 9:  # K_LOGIC
                    fn(computation)
                else:
                    fn(computation=computation)
                outside = False
                gas = meter.gas_remaining
                pc = code.program_counter
    except Halt:
        pass
    except BaseException:
        if not outside:
            meter.gas_remaining = gas
        raise
    finally:
        code.program_counter = pc


# ------------------------------------------------------------------------- computation / VM

_TABLES: dict[int, tuple[dict[int, Any], tuple[_Entry, ...]]] = {}


def _table_for(opcodes: dict[int, Any]) -> tuple[_Entry, ...]:
    cached = _TABLES.get(id(opcodes))
    if cached is None or cached[0] is not opcodes:
        cached = (opcodes, build_table(opcodes))
        _TABLES[id(opcodes)] = cached
    return cached[1]


class FastPragueComputation(PragueComputation):
    """PragueComputation whose opcode loop is :func:`run_code` (see the module docstring)."""

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
                run_code(computation, _table_for(computation.opcodes))
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


class FastColedgerState(PragueState):
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
