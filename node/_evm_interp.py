"""The node's per-opcode interpreter and decoded programs (the fallback of the block loop).

Why a per-opcode path next to compiled blocks (:mod:`node._evm_blocks`): a block runs compiled
only when its gas and stack checks pass; otherwise — and for code not yet run twice (a
contract's constructor runs once; compiling it would cost more than it saves) — this loop runs
it opcode by opcode with py-evm's exact order of checks, so an out-of-gas, a stack underflow or
overflow, or an invalid jump raises what py-evm raises, where py-evm raises it.

The loop inlines PUSH0-32, DUP1-16, SWAP1-16, POP, JUMP, JUMPI, JUMPDEST and runs small local
re-implementations of ADD, SUB, MUL, DIV, AND, OR, XOR, NOT, ISZERO, EQ, LT, GT, SLT, SGT, SHL,
SHR, MLOAD, MSTORE on the stack list, with py-evm's exception types and messages and its gas
order (the constant gas first, then memory expansion); everything else runs py-evm's own opcode
object with the gas meter and program counter synchronized. Stack values are kept as ints
(PUSH and MLOAD push ints; what py-evm's own opcodes push is converted), which py-evm treats
the same as the bytes it would push.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth.constants import UINT_255_MAX, UINT_256_CEILING, UINT_256_MAX
from eth.exceptions import (
    FullStack,
    Halt,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
)
from eth.vm.code_stream import CodeStream
from eth.vm.logic import arithmetic, comparison, duplication, flow, memory, stack, swap
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.opcode import _FastOpcode
from eth.vm.stack import to_bytes as _to_bytes
from eth.vm.stack import to_int as _to_int

from ._evm_blocks import compile_block, op_spec

__all__ = ["B_CALL", "B_CODE", "B_MEM", "B_NEW", "OpTable", "Program", "as_int", "interpret",
           "program_for", "table_for"]

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
    s.append(_from_bytes(buf[start:end], "big"))


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

#: (kind, constant gas, callable (PUSH: the pushed int), argument (PUSH: next pc))
_Entry = tuple[int, int, Any, int]

# Block-table kinds, as the loop in node.fastevm tests them
B_CODE, B_CALL, B_MEM, B_NEW = range(4)
#: (kind, constant gas, callable, lowest stack depth, highest stack depth)
_Block = tuple[int, int, Any, int, int]

#: compile a block at its second visit (code that runs once, like a constructor, never is)
_COMPILE_AT_VISIT = 2


class OpTable:
    """A py-evm opcode table prepared for the loop: per-op entries and compile specs."""

    __slots__ = ("entries", "specs", "calls")

    def __init__(self, opcodes: dict[int, Any]) -> None:
        entries: list[_Entry] = []
        specs: list[tuple[Any, ...] | None] = []
        calls: list[tuple[int, Any]] = []  # how py-evm runs it: (constant gas, callable)
        for op in range(256):
            fn = opcodes.get(op)
            if fn is None:
                entries.append((K_OPCODE, 0, InvalidOpcode(op), 0))
                specs.append(None)
                calls.append((0, InvalidOpcode(op)))
                continue
            if type(fn) is not _FastOpcode:  # dynamic gas (SLOAD, CALL, ...): py-evm's own object
                entries.append((K_OPCODE, 0, fn, 0))
                specs.append(None)
                calls.append((0, fn))
                continue
            logic, gas = fn.logic_fn, fn.gas_cost
            calls.append((gas, logic))
            specs.append(op_spec(logic))
            if logic in _PUSH:
                entries.append((K_PUSH, gas, None, _PUSH[logic]))
            elif logic in _DUP:
                entries.append((K_DUP, gas, None, _DUP[logic]))
            elif logic in _SWAP:
                entries.append((K_SWAP, gas, None, _SWAP[logic]))
            elif logic is flow.jumpdest:
                entries.append((K_JUMPDEST, gas, None, 0))
            elif logic is stack.pop:
                entries.append((K_POP, gas, None, 0))
            elif logic is flow.jump:
                entries.append((K_JUMP, gas, None, 0))
            elif logic is flow.jumpi:
                entries.append((K_JUMPI, gas, None, 0))
            elif logic in _FAST:
                entries.append((K_FAST, gas, _FAST[logic], 0))
            elif logic in _MEM:
                entries.append((K_MEM, gas, _MEM[logic], 0))
            else:
                entries.append((K_LOGIC, gas, logic, 0))
        self.entries = tuple(entries)
        self.specs = tuple(specs)
        self.calls = tuple(calls)


_TABLES: dict[int, tuple[dict[int, Any], OpTable]] = {}


def table_for(opcodes: dict[int, Any]) -> OpTable:
    cached = _TABLES.get(id(opcodes))
    if cached is None or cached[0] is not opcodes:
        cached = (opcodes, OpTable(opcodes))
        _TABLES[id(opcodes)] = cached
    return cached[1]


_TERMINATORS = frozenset({"jump", "jumpi"})
#: how far one compiled block may follow static jumps and fall-throughs into JUMPDESTs
_MAX_SEGMENTS = 8
_MAX_OPS = 300
_PAST_END = 34  # past the end: STOP (CodeStream.__iter__ yields STOP); a PUSH may jump 33 past


class Program:
    """One contract code, decoded once: per-op entries, block leaders and the block table.

    A leader is where a block starts: position 0, every JUMPDEST, and the position after a
    jump, a memory opcode or an opcode py-evm executes (the latter are one-opcode blocks).
    Execution only ever arrives at leaders: jumps land on JUMPDESTs, everything else falls
    through to the next leader.
    """

    __slots__ = ("code", "entries", "jumpdests", "starts", "blocks", "visits", "_table")

    def __init__(self, code: bytes, table: OpTable) -> None:
        entries: list[_Entry] = []
        for pc, op in enumerate(code):
            entry = table.entries[op]
            if entry[0] == K_PUSH:
                size = entry[3]
                value = code[pc + 1 : pc + 1 + size]
                if len(value) != size:  # truncated at the end of the code: zero-padded
                    value = value.ljust(size, b"\x00")
                entry = (K_PUSH, entry[1], _from_bytes(value, "big"), pc + 1 + size)
            entries.append(entry)
        entries.extend([table.entries[0]] * _PAST_END)
        size = len(code) + _PAST_END
        starts = bytearray(size)
        blocks: list[_Block] = [(B_NEW, 0, None, 0, 0)] * size
        starts[0] = 1
        pc = 0
        while pc < len(code):
            op = code[pc]
            spec = table.specs[op]
            nxt = entries[pc][3] if entries[pc][0] == K_PUSH else pc + 1
            if spec is None:
                starts[pc] = starts[nxt] = 1
                cost, fn = table.calls[op]
                blocks[pc] = (B_CALL, cost, fn, 0, 0)
            elif spec[0] == "jumpdest":
                starts[pc] = 1
            elif spec[0] in _TERMINATORS:
                starts[nxt] = 1
            pc = nxt
        stop_cost, stop_fn = table.calls[0]
        for pc in range(len(code), size):
            starts[pc] = 1
            blocks[pc] = (B_CALL, stop_cost, stop_fn, 0, 0)
        self.code = code
        self.entries = entries
        self.jumpdests = valid_jumpdests(code)
        self.starts = starts
        self.blocks = blocks
        self.visits = bytearray(size)
        self._table = table

    def visited(self, pc: int) -> None:
        """Count a run of the not-yet-compiled block at leader `pc`; compile it at the 2nd."""
        seen = self.visits[pc] + 1
        self.visits[pc] = seen
        if seen >= _COMPILE_AT_VISIT:
            self.blocks[pc] = self._compile(pc)

    def _compile(self, leader: int) -> _Block:
        """Compile the straight-line code from `leader`, following static jumps.

        A JUMP whose destination is the constant PUSHed just before it, a valid JUMPDEST, and
        a fall-through into a JUMPDEST continue the same block (up to a few segments, never
        into a segment already in it): Solidity's internal calls and joins are such jumps.
        """
        specs = self._table.specs
        code = self.code
        ops: list[tuple[int, tuple[Any, ...], int, int]] = []
        segments = {leader}
        pc = leader
        jumped = False

        def can_follow(target: int) -> bool:
            return target not in segments and len(segments) < _MAX_SEGMENTS and len(ops) < _MAX_OPS

        while True:
            op = code[pc] if pc < len(code) else 0
            spec = specs[op]
            if spec is None:  # executed by py-evm: the block falls through to it
                break
            if pc != leader and self.starts[pc] and not jumped:
                if spec[0] != "jumpdest" or not can_follow(pc):
                    break
                segments.add(pc)
            jumped = False
            kind, cost, value, nxt = self.entries[pc]
            if kind == K_PUSH:
                spec = (*spec, value)
            else:
                nxt = pc + 1
            if spec[0] == "jump" and ops and ops[-1][1][0] == "push":
                dest = ops[-1][1][2]
                if dest in self.jumpdests and can_follow(dest):
                    ops.append((pc, ("goto", dest), cost, dest))
                    segments.add(dest)
                    pc = dest
                    jumped = True
                    continue
            ops.append((pc, spec, cost, nxt))
            pc = nxt
            if spec[0] in _TERMINATORS:
                break
        block = compile_block(ops, self.jumpdests, _bad_jump)
        kind = B_MEM if block.touches_memory else B_CODE
        return (kind, block.gas, block.run, block.lowest, block.highest)


_PROGRAMS: dict[tuple[int, bytes], Program] = {}
_PROGRAM_CACHE_LIMIT = 128


def program_for(code: bytes, table: OpTable) -> Program:
    key = (id(table), code)
    prog = _PROGRAMS.get(key)
    if prog is None:
        if len(_PROGRAMS) >= _PROGRAM_CACHE_LIMIT:
            _PROGRAMS.clear()
        prog = _PROGRAMS[key] = Program(code, table)
    return prog


def as_int(value: Any) -> int:
    """A stack item as py-evm's ``Stack.to_int`` reads it."""
    return _from_bytes(value, "big") if value.__class__ is bytes else _to_int(value)


def interpret(computation: Any, prog: Program, pc: int, gas: int) -> tuple[int, int]:
    """Run opcodes one by one from `pc` until the next leader; returns (pc, gas left).

    On an exception the gas meter is left current (the caller's copy of the gas is stale).
    """
    code = computation.code
    raw = prog.code
    entries = prog.entries
    jumpdests = prog.jumpdests
    starts = prog.starts
    s: list[Any] = computation._stack.values
    push = s.append
    pop = s.pop
    meter = computation._gas_meter
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
                if cond.__class__ is not int:
                    cond = as_int(cond)
                if cond:
                    if dest.__class__ is not int:
                        dest = as_int(dest)
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
                    dest = as_int(dest)
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
                if s and s[-1].__class__ is not int:
                    s[-1] = as_int(s[-1])
            if starts[pc]:
                return pc, gas
    except Halt:
        code.program_counter = pc
        raise
    except BaseException:
        if not outside:
            meter.gas_remaining = gas
        code.program_counter = pc
        raise
