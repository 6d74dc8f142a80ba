"""Compiles a straight run of EVM opcodes (a basic block) into one Python function.

Why: the node's interpreter loop (:mod:`node.fastevm`) spends most of its time on per-opcode
overhead (fetch, dispatch, stack list operations) for the ~1,500-2,200 opcodes a fund flow
executes. Compiled Solidity is mostly short runs of stack shuffles and arithmetic between
jumps; compiling each run once lets Python execute it as straight-line code:

* the stack is modelled at compile time: PUSH/DUP/SWAP/POP become renamings, operands are
  locals, and the real stack list is written once, at the end of the block (one slice
  assignment);
* operations whose operands are all constants are folded at compile time;
* the block's constant gas is charged once, before it runs, and the stack depth is checked
  once against the lowest and highest depths the block reaches.

What a block may contain (everything else is executed by py-evm's own opcode object, as its own
one-opcode step): PUSH0-32, DUP1-16, SWAP1-16, POP, JUMPDEST, ADD, SUB, MUL, DIV, AND, OR, XOR,
NOT, ISZERO, EQ, LT, GT, SLT, SGT, SHL, SHR, CALLDATALOAD, MLOAD, MSTORE. It ends at a JUMP or
JUMPI, or before an opcode py-evm executes; it continues through a JUMP to a constant
destination (Solidity's internal calls) and through a fall-through into a JUMPDEST, up to a few
segments.

Equivalence with py-evm (the loop's caller guarantees the first two):

* a block runs compiled only if the gas left covers its constant gas and the stack depth lies
  in [lowest, highest] — then no opcode in it can run out of gas for its constant cost,
  underflow or overflow; otherwise the loop interprets it opcode by opcode, which raises the
  same exception py-evm raises, at the same opcode;
* a memory access that grows memory gives the gas of the later opcodes back before py-evm's
  ``extend_memory`` charges it, so the expansion is charged (or runs out of gas, with py-evm's
  own exception) against exactly the gas py-evm would have there; if the rest of the block
  then cannot be paid for, the loop interprets it from the next opcode;
* stack values are ints (py-evm accepts ints and bytes alike and converts on use; the loop
  converts what py-evm's own opcodes push); the values are the same words;
* the stack is written out after a jump's operands are popped and before its destination is
  checked, so an invalid jump leaves the stack py-evm leaves. (A frame that runs out of gas
  inside a block is thrown away by py-evm with its stack; the error is the same.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth.constants import UINT_256_MAX
from eth.vm.logic import arithmetic, comparison, context, duplication, flow, memory, stack, swap

__all__ = ["CompiledBlock", "compile_block", "op_spec"]

_M = UINT_256_MAX
_H = 1 << 255

#: two-operand opcodes: {a} is the top of the stack (py-evm's first pop), {b} the next item
_BINARY: dict[Callable[..., Any], str] = {
    arithmetic.add: "({a} + {b}) & M",
    arithmetic.sub: "({a} - {b}) & M",
    arithmetic.mul: "({a} * {b}) & M",
    arithmetic.div: "({a} // {b} if {b} else 0)",
    comparison.and_op: "{a} & {b}",
    comparison.or_op: "{a} | {b}",
    comparison.xor: "{a} ^ {b}",
    comparison.eq: "(1 if {a} == {b} else 0)",
    comparison.lt: "(1 if {a} < {b} else 0)",
    comparison.gt: "(1 if {a} > {b} else 0)",
    # signed order is unsigned order with the sign bit flipped
    comparison.slt: "(1 if {a} ^ H < {b} ^ H else 0)",
    comparison.sgt: "(1 if {a} ^ H > {b} ^ H else 0)",
    arithmetic.shl: "(({b} << {a}) & M if {a} < 256 else 0)",
    arithmetic.shr: "({b} >> {a} if {a} < 256 else 0)",
}
_UNARY: dict[Callable[..., Any], str] = {
    comparison.iszero: "(0 if {a} else 1)",
    comparison.not_op: "M ^ {a}",
    context.calldataload: "CDL(c, {a})",
}
_PUSH = {getattr(stack, f"push{n}"): n for n in range(33)}
_DUP = {getattr(duplication, f"dup{n}"): n for n in range(1, 17)}
_SWAP = {getattr(swap, f"swap{n}"): n for n in range(1, 17)}
_SIMPLE = {
    stack.pop: ("pop",),
    flow.jumpdest: ("jumpdest",),
    flow.jump: ("jump",),
    flow.jumpi: ("jumpi",),
    memory.mload: ("mload",),
    memory.mstore: ("mstore",),
}


def op_spec(logic: Callable[..., Any]) -> tuple[Any, ...] | None:
    """How the compiler handles an opcode's py-evm logic function (None: not compilable)."""
    if logic in _BINARY:
        return ("binary", _BINARY[logic])
    if logic in _UNARY:
        return ("unary", _UNARY[logic])
    if logic in _PUSH:
        return ("push", _PUSH[logic])
    if logic in _DUP:
        return ("dup", _DUP[logic])
    if logic in _SWAP:
        return ("swap", _SWAP[logic])
    return _SIMPLE.get(logic)


def _calldataload(c: Any, offset: int) -> int:
    """CALLDATALOAD's word (py-evm slices ``msg.data_as_bytes`` and zero-pads on the right)."""
    return int.from_bytes(c.msg.data_as_bytes[offset : offset + 32].ljust(32, b"\x00"), "big")


@dataclass
class CompiledBlock:
    """A compiled block: the function and what the loop checks before calling it."""

    run: Callable[[list[Any], Any], int]
    gas: int  # constant gas of every opcode in the block
    lowest: int  # the stack must hold at least this many items on entry
    highest: int  # and at most this many (so that no push exceeds 1024)
    touches_memory: bool  # has MLOAD/MSTORE: the gas meter must be current when it runs
    source: str = field(repr=False)


class _Codegen:
    """Symbolic stack for one block: ``sym`` holds the items above the untouched real stack."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.sym: list[tuple[str, int | None]] = []  # (expression, constant value or None)
        self.taken = 0  # real stack items consumed (pulled into sym)
        self.lowest = 0
        self.grow = 0
        self.names = 0

    def fresh(self, prefix: str) -> str:
        self.names += 1
        return f"{prefix}{self.names}"

    def pull(self) -> None:
        self.taken += 1
        name = f"r{self.taken}"
        self.lines.append(f"{name} = s[-{self.taken}]")
        self.sym.insert(0, (name, None))
        self.lowest = max(self.lowest, self.taken)

    def pop(self) -> tuple[str, int | None]:
        if not self.sym:
            self.pull()
        return self.sym.pop()

    def push(self, item: tuple[str, int | None]) -> None:
        self.sym.append(item)
        self.grow = max(self.grow, len(self.sym) - self.taken)

    def constant(self, value: int) -> None:
        self.push((str(value), value))

    def dup(self, n: int) -> None:
        if n <= len(self.sym):
            self.push(self.sym[-n])
            return
        depth = self.taken + n - len(self.sym)
        self.lowest = max(self.lowest, depth)
        name = self.fresh("d")
        self.lines.append(f"{name} = s[-{depth}]")
        self.push((name, None))

    def swap(self, n: int) -> None:
        while len(self.sym) < n + 1:
            self.pull()
        self.sym[-1], self.sym[-n - 1] = self.sym[-n - 1], self.sym[-1]

    def apply(self, template: str, operands: list[tuple[str, int | None]], needs_c: bool) -> None:
        if not needs_c and all(value is not None for _, value in operands):
            result = eval(  # noqa: S307 - fixed templates over int constants
                template.format(**{k: str(v) for k, (_, v) in zip("ab", operands, strict=False)}),
                {"M": _M, "H": _H},
            )
            self.constant(int(result))
            return
        name = self.fresh("v")
        expr = template.format(**{k: text for k, (text, _) in zip("ab", operands, strict=False)})
        self.lines.append(f"{name} = {expr}")
        self.push((name, None))

    def materialize_lines(self) -> list[str]:
        """Lines writing the current symbolic state to the real stack (bottom items kept)."""
        sym, taken = list(self.sym), self.taken
        while sym and taken and sym[0][0] == f"r{taken}":
            sym.pop(0)
            taken -= 1
        items = ", ".join(text for text, _ in sym)
        if taken == 0:
            if len(sym) == 1:
                return [f"s.append({items})"]
            if sym:
                return [f"s.extend(({items},))"]
            return []
        if sym:
            return [f"s[-{taken}:] = ({items},)"]
        return [f"del s[-{taken}:]"]

    def materialize(self) -> None:
        self.lines.extend(self.materialize_lines())

    def ensure(self, n: int) -> None:
        """At least `n` items in sym (pulled from the real stack as needed)."""
        while len(self.sym) < n:
            self.pull()


def _jump_to(gen: _Codegen, dest: tuple[str, int | None], jumpdests: frozenset[int], indent: str) -> None:
    text, value = dest
    if value is not None:
        if value in jumpdests:
            gen.lines.append(f"{indent}return {value}")
        else:
            gen.lines.append(f"{indent}raise BAD_JUMP(c.code, {value})")
        return
    gen.lines.append(f"{indent}if {text} in J:")
    gen.lines.append(f"{indent}    return {text}")
    gen.lines.append(f"{indent}raise BAD_JUMP(c.code, {text})")


def _memory_op(gen: _Codegen, kind: str, next_pc: int, unspent_after: int) -> None:
    """MLOAD/MSTORE inside a block, memory expansion charged exactly where py-evm charges it.

    The block's constant gas was charged up front; when this access grows memory, the gas of
    the opcodes after this one (`unspent_after`) is given back first, so that py-evm's own
    ``extend_memory`` sees the gas py-evm would see here (it charges, or raises the same
    OutOfGas). If what is left then cannot pay for the rest of the block, the block stops
    after this opcode (stack written out) and the loop interprets from `next_pc`, where
    py-evm runs out of gas at the same opcode.
    """
    gen.ensure(1 if kind == "mload" else 2)
    offset = gen.pop()[0]
    if kind == "mload":
        name = gen.fresh("m")
        effect = [f"{name} = FROM_BYTES(buf[{offset}:{offset} + 32], 'big')"]
        result: tuple[str, int | None] | None = (name, None)
    else:
        value = gen.pop()[0]
        effect = [f"buf[{offset}:{offset} + 32] = ({value}).to_bytes(32, 'big')"]
        result = None
    gen.lines.append(f"if {offset} + 32 > len(buf):")
    gen.lines.append("    meter = c._gas_meter")
    gen.lines.append(f"    meter.gas_remaining += {unspent_after}")
    gen.lines.append(f"    c.extend_memory({offset}, 32)")
    gen.lines.append("    buf = c._memory._bytes")
    gen.lines.append(f"    if meter.gas_remaining < {unspent_after}:")
    gen.lines.extend(f"        {line}" for line in effect)
    if result is not None:
        gen.push(result)
    gen.lines.extend(f"        {line}" for line in gen.materialize_lines())
    gen.lines.append(f"        return {-next_pc - 1}")
    gen.lines.append(f"    meter.gas_remaining -= {unspent_after}")
    gen.lines.extend(effect)


def compile_block(
    ops: list[tuple[int, tuple[Any, ...], int, int]],
    jumpdests: frozenset[int],
    bad_jump: Callable[[Any, int], Exception],
) -> CompiledBlock:
    """Compile ``ops`` — (pc, spec, constant gas, next pc) in order — into a block function.

    The ops may span static jumps (spec ``("goto", dest)``: a JUMP whose destination is the
    constant pushed just before it, a valid JUMPDEST, whose ops follow) and fall-throughs into
    JUMPDESTs. The last op may be a JUMP or JUMPI; otherwise the block falls through to the
    last op's next pc. The function returns the next pc, or ``-pc - 1`` to have the loop
    interpret from `pc` (out of gas after a memory expansion, see :func:`_memory_op`).
    """
    gen = _Codegen()
    gas = sum(cost for _, _, cost, _ in ops)
    unspent = gas
    end = ops[-1][3]
    touches_memory = False
    tail: list[str] = []
    for _pc, spec, cost, _next in ops:
        kind = spec[0]
        if kind == "push":
            gen.constant(spec[2])
        elif kind == "dup":
            gen.dup(spec[1])
        elif kind == "swap":
            gen.swap(spec[1])
        elif kind == "pop" or kind == "goto":
            gen.pop()
        elif kind == "jumpdest":
            pass
        elif kind == "binary":
            a = gen.pop()
            b = gen.pop()
            gen.apply(spec[1], [a, b], needs_c=False)
        elif kind == "unary":
            gen.apply(spec[1], [gen.pop()], needs_c="CDL" in spec[1])
        elif kind in ("mload", "mstore"):
            touches_memory = True
            _memory_op(gen, kind, _next, unspent - cost)
        elif kind in ("jump", "jumpi"):
            tail = _terminate(gen, kind, end, jumpdests)
            break
        else:  # pragma: no cover - the caller passes only compilable specs
            raise ValueError(f"not compilable: {spec}")
        unspent -= cost
    else:
        gen.materialize()
        tail = [f"return {end}"]
    head = ["buf = c._memory._bytes"] if touches_memory else []
    body = "\n    ".join(head + gen.lines + tail)
    source = f"def block(s, c):\n    {body}\n"
    scope: dict[str, Any] = {
        "M": _M, "H": _H, "J": jumpdests, "BAD_JUMP": bad_jump, "CDL": _calldataload,
        "FROM_BYTES": int.from_bytes,
    }
    exec(source, scope)  # noqa: S102 - generated from the opcode table's fixed templates
    highest = 1024 - gen.grow
    return CompiledBlock(scope["block"], gas, gen.lowest, highest, touches_memory, source)


def _terminate(gen: _Codegen, kind: str, end: int, jumpdests: frozenset[int]) -> list[str]:
    """Pop the jump's operands, materialize the stack, then emit the jump."""
    if kind == "jump":
        dest = gen.pop()
        gen.materialize()
        _jump_to(gen, dest, jumpdests, "")
        return []
    dest = gen.pop()
    cond = gen.pop()
    gen.materialize()
    if cond[1] is not None:
        if cond[1]:
            _jump_to(gen, dest, jumpdests, "")
            return []
        return [f"return {end}"]
    gen.lines.append(f"if {cond[0]}:")
    _jump_to(gen, dest, jumpdests, "    ")
    return [f"return {end}"]
