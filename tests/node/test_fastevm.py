"""node.fastevm's opcode loop gives exactly py-evm's results (differential tests).

Every program runs twice on identical fresh Prague states, once through py-evm's own loop
(``ColedgerComputation``) and once through ``FastPragueComputation``; everything observable is
compared: success, error type and message, gas used/remaining/refund, output, logs, the
final stack (item types too), memory, and the state root afterwards.  Programs are random
mixes of the fast-pathed opcodes with stock ones (calls, storage, logs, hashing, copies),
valid and invalid jumps, jumps into PUSH data, truncated PUSHes, stack under/overflow and
out-of-gas at every gas limit around the exact cost.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth.db.atomic import AtomicDB
from eth.exceptions import Revert
from eth.vm.message import Message

from node.evm import ColedgerComputation, GenesisSpec, chain_class, genesis_header_params
from node.fastevm import FastPragueComputation, fast_chain_class

CONTRACT = b"\x10" * 20
OTHER = b"\x20" * 20
SENDER = b"\x30" * 20
CALLDATA = bytes(range(1, 70))

# opcode values
STOP, ADD, MUL, SUB, DIV, LT, GT, SLT, SGT, EQ, ISZERO = 0, 1, 2, 3, 4, 0x10, 0x11, 0x12, 0x13, \
    0x14, 0x15
AND, OR, XOR, NOT, BYTE, SHL, SHR, SAR, SHA3 = 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x20
CALLDATALOAD, CALLDATACOPY, CODECOPY, POP, MLOAD, MSTORE, MSTORE8 = 0x35, 0x37, 0x39, 0x50, 0x51, \
    0x52, 0x53
SLOAD, SSTORE, JUMP, JUMPI, PC, MSIZE, GAS, JUMPDEST, TLOAD, TSTORE = 0x54, 0x55, 0x56, 0x57, \
    0x58, 0x59, 0x5A, 0x5B, 0x5C, 0x5D
PUSH0, PUSH1, PUSH2, PUSH32, DUP1, SWAP1, LOG1 = 0x5F, 0x60, 0x61, 0x7F, 0x80, 0x90, 0xA1
CALL, RETURN, STATICCALL, REVERT, INVALID = 0xF1, 0xF3, 0xFA, 0xFD, 0xFE

_BINARY = [ADD, MUL, SUB, DIV, LT, GT, SLT, SGT, EQ, AND, OR, XOR, BYTE, SHL, SHR, SAR]
_WORDS = [0, 1, 2, 31, 32, 255, 256, 2**255, 2**256 - 1, 2**255 - 1, 12345, 2**128]


def _push(value: int, size: int | None = None) -> bytes:
    if size is None:
        size = max(1, (value.bit_length() + 7) // 8)
    return bytes([PUSH1 + size - 1]) + value.to_bytes(size, "big")


def random_program(rng: random.Random, length: int) -> bytes:
    """Random code; jump targets resolved after layout (valid, into PUSH data, or junk).

    The generator tracks the stack depth so most programs run long (a few percent of the
    choices ignore it, to reach the stack-underflow paths too).
    """
    items: list[Any] = [_push(rng.choice(_WORDS)) for _ in range(rng.randint(4, 18))]
    depth = len(items)

    def fits(need: int) -> bool:
        return depth >= need or rng.random() < 0.03

    for _ in range(length):
        r = rng.random()
        if r < 0.22 or depth < 2:
            word = rng.choice(_WORDS) if rng.random() < 0.6 else rng.getrandbits(rng.choice([8, 64, 256]))
            size = rng.choice([None, None, 32, 0])
            if size == 0 and word == 0:
                items.append(bytes([PUSH0]))
            else:
                items.append(_push(word, None if size == 0 else size))
            depth += 1
        elif r < 0.42:
            op = rng.choice(_BINARY + [ISZERO, NOT, POP])
            if fits(1 if op in (ISZERO, NOT, POP) else 2):
                items.append(bytes([op]))
                depth -= 0 if op in (ISZERO, NOT) else 1
        elif r < 0.54:
            n = rng.randrange(16) + 1
            if fits(n) and depth < 1000:
                items.append(bytes([DUP1 + n - 1]))
                depth += 1
        elif r < 0.64:
            n = rng.randrange(16) + 1
            if fits(n + 1):
                items.append(bytes([SWAP1 + n - 1]))
        elif r < 0.70:
            items.append(bytes([JUMPDEST]))
            items.append(("label",))
        elif r < 0.76:
            items.append(("jump", rng.choice([JUMP, JUMPI, JUMPI])))
        elif r < 0.84:  # memory, bounded offsets mostly
            offset = rng.choice([0, 1, 31, 32, 64, 100, 1000, 2**20, 2**256 - 1])
            op = rng.choice([MLOAD, MSTORE, MSTORE, MSTORE8])
            if op == MLOAD:
                items.append(_push(offset) + bytes([MLOAD]))
                depth += 1
            else:
                items.append(_push(rng.choice(_WORDS)) + _push(offset) + bytes([op]))
        elif r < 0.90:
            op = rng.choice([PC, MSIZE, GAS, CALLDATALOAD, SLOAD, TLOAD])
            if op in (PC, MSIZE, GAS):
                depth += 1
            items.append(bytes([op]))
        elif r < 0.94:
            items.append(_push(rng.choice([0, 1, 2])) + _push(rng.choice([5, 6, 7]))
                         + bytes([rng.choice([SSTORE, TSTORE])]))
        elif r < 0.96:
            op = rng.choice([SHA3, LOG1])
            items.append(_push(rng.choice([0, 32])) + _push(rng.choice([0, 4])) + bytes([op]))
            depth += 1 if op == SHA3 else -1
        elif r < 0.975:
            items.append(_push(32) + _push(3) + _push(0) + bytes([CALLDATACOPY, CODECOPY][rng.randrange(2)]))
        elif r < 0.99:  # call the other contract (its code is random too), or ourselves
            target = rng.choice([OTHER, CONTRACT])
            items.append(_push(0) + _push(0) + _push(32) + _push(0) + _push(0)
                         + _push(int.from_bytes(target, "big"), 20) + _push(rng.choice([0, 3000, 50_000]))
                         + bytes([CALL]))
            depth += 1
        elif rng.random() < 0.3:
            items.append(bytes([rng.choice([STOP, RETURN, REVERT, INVALID, 0x0C, 0xEF])]))
    if rng.random() < 0.2:  # a PUSH cut short by the end of the code
        items.append(bytes([PUSH32]) + b"\xaa" * rng.randrange(31))
    # layout: jumps are PUSH2 <target> JUMP(I); a JUMPI pushes its condition first
    labels: list[int] = []
    inside_push: list[int] = []
    pos = 0
    for item in items:
        if isinstance(item, tuple):
            if item[0] == "label":
                labels.append(pos - 1)
            else:
                pos += (3 if item[1] == JUMPI else 0) + 4
        else:
            if item and PUSH1 <= item[0] <= PUSH32 and len(item) > 1:
                inside_push.append(pos + 1)
            pos += len(item)
    out = bytearray()
    for item in items:
        if isinstance(item, tuple):
            if item[0] == "jump":
                r = rng.random()
                if labels and r < 0.75:
                    target = rng.choice(labels)
                elif inside_push and r < 0.85:
                    target = rng.choice(inside_push)
                else:
                    target = rng.randrange(pos + 40)
                if item[1] == JUMPI:
                    out += _push(rng.choice([0, 1, 0xFFFF]), 2)
                out += _push(target, 2) + bytes([item[1]])
        else:
            out += item
    return bytes(out)


def _observe(computation: Any, state: Any) -> tuple[Any, ...]:
    error = computation.error if computation.is_error else None
    # Values as words: the fast loop keeps ints where py-evm may keep bytes (py-evm converts on
    # use, and a frame's stack is not observable once it ends). A frame that fails with an
    # exceptional halt (anything but REVERT) has its stack thrown away; the fast loop only
    # promises the same error there (a compiled block running out of gas on a memory
    # expansion does not write its stack out first).
    stack = None
    if not computation.is_error or isinstance(error, Revert):
        stack = [v if isinstance(v, int) else int.from_bytes(v, "big")
                 for v in computation._stack.values]
    return (
        computation.is_error, type(error).__name__, str(error),
        computation.get_gas_used(), computation.get_gas_remaining(), computation.get_gas_refund(),
        bytes(computation.output), computation.get_log_entries(), stack,
        bytes(computation._memory._bytes), state.make_state_root(),
    )


class _Env:
    def __init__(self) -> None:
        spec = GenesisSpec(chain_id=1337, gas_limit=30_000_000, timestamp=1_700_000_000)
        self.chain = fast_chain_class(1337).from_genesis(
            AtomicDB(), genesis_header_params(spec),
            {SENDER: {"balance": 10**20, "nonce": 0, "code": b"", "storage": {}}},
        )

    def run(self, cls: type[ColedgerComputation], code: bytes, other: bytes, gas: int,
            is_static: bool = False) -> tuple[Any, ...]:
        state = self.chain.get_vm().state  # a fresh state on the genesis root every time
        state.set_code(CONTRACT, code)
        state.set_code(OTHER, other)
        state.set_storage(CONTRACT, 1, 99)
        message = Message(gas=gas, to=CONTRACT, sender=SENDER, value=0, data=CALLDATA, code=code,
                          code_address=CONTRACT, is_static=is_static)
        context = state.get_transaction_context_class()(gas_price=0, origin=SENDER)
        computation = cls.apply_message(state, message, context)
        return _observe(computation, state)


@pytest.fixture(scope="module")
def env() -> _Env:
    return _Env()


def _check(env: _Env, code: bytes, other: bytes, gas: int, is_static: bool = False) -> Any:
    stock = env.run(ColedgerComputation, code, other, gas, is_static)
    fast = env.run(FastPragueComputation, code, other, gas, is_static)
    assert fast == stock, f"code {code.hex()} other {other.hex()} gas {gas}"
    return stock


def test_the_node_executes_with_the_fast_loop_and_the_auditor_with_stock_py_evm() -> None:
    fast_state = fast_chain_class(1).get_vm_class_for_block_number(0).get_state_class()
    stock_state = chain_class(1).get_vm_class_for_block_number(0).get_state_class()
    assert fast_state.computation_class is FastPragueComputation
    assert stock_state.computation_class is ColedgerComputation


@pytest.mark.parametrize("seed", range(12))
def test_random_programs_match_py_evm_at_every_gas_limit(env: _Env, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        code = random_program(rng, rng.randint(5, 120))
        other = random_program(rng, rng.randint(0, 30))
        full = _check(env, code, other, 200_000)
        used = full[3]
        for gas in {used - 1, used, used + 1, rng.randint(0, max(1, used)), 21, 0}:
            if gas >= 0:
                _check(env, code, other, gas)
        _check(env, code, other, 200_000, is_static=True)


def _code(*parts: bytes | int) -> bytes:
    return b"".join(bytes([p]) if isinstance(p, int) else p for p in parts)


@pytest.mark.parametrize("name,code", [
    ("full stack on PUSH", _code(*[bytes([PUSH1, 1])] * 1025)),
    ("full stack on DUP", _code(*[bytes([PUSH1, 1])] * 1024, DUP1)),
    ("1024 items is fine", _code(*[bytes([PUSH1, 1])] * 1024, STOP)),
    ("empty stack ADD", _code(ADD)),
    ("one item ADD", _code(_push(1), ADD)),
    ("DUP16 short", _code(*[_push(1)] * 15, DUP1 + 15)),
    ("SWAP16 short", _code(*[_push(1)] * 16, SWAP1 + 15)),
    ("SWAP16 ok", _code(*[_push(i) for i in range(17)], SWAP1 + 15, STOP)),
    ("POP empty", _code(POP)),
    ("JUMP empty", _code(JUMP)),
    ("JUMPI one item", _code(_push(1), JUMPI)),
    ("jump to non-JUMPDEST", _code(_push(3), JUMP, STOP, JUMPDEST)),
    ("jump into PUSH data", _code(_push(4), JUMP, bytes([PUSH1, JUMPDEST]), STOP)),
    ("jump past the end", _code(_push(200), JUMP)),
    ("jump to a huge destination", _code(_push(2**256 - 1, 32), JUMP)),
    ("JUMPI false to junk", _code(_push(0), _push(7), JUMPI, _push(5), STOP)),
    ("JUMPI true", _code(_push(1), _push(6), JUMPI, STOP, JUMPDEST, _push(9), STOP)),
    ("truncated PUSH32", _code(bytes([PUSH32, 1, 2, 3]))),
    ("PUSH0 then MSTORE", _code(PUSH0, PUSH0, MSTORE, _push(32), PUSH0, RETURN)),
    ("MSTORE huge offset", _code(_push(1), _push(2**256 - 1, 32), MSTORE)),
    ("MLOAD huge offset", _code(_push(2**64), MLOAD)),
    ("MLOAD expands", _code(_push(100), MLOAD, MSIZE, STOP)),
    ("MSTORE padded bytes", _code(bytes([PUSH1, 0]), _push(5), MSTORE, _push(64), PUSH0, RETURN)),
    ("MSTORE of CALLDATALOAD", _code(_push(1), CALLDATALOAD, _push(0), MSTORE, _push(32), PUSH0,
                                     RETURN)),
    ("SLT/SGT/SAR", _code(_push(2**256 - 1, 32), _push(1), SLT, _push(1), _push(2**255, 32), SGT,
                          _push(2**256 - 2, 32), _push(1), SAR, STOP)),
    ("shift past 255", _code(_push(1), _push(256, 2), SHL, _push(1), _push(300, 2), SHR, STOP)),
    ("DIV by zero", _code(_push(0), _push(7), DIV, STOP)),
    ("invalid opcode", _code(_push(1), 0x0C)),
    ("designated INVALID", _code(INVALID)),
    ("REVERT with data", _code(_push(7), PUSH0, MSTORE, _push(32), PUSH0, REVERT)),
    ("empty code", b""),
])
def test_edge_cases_match_py_evm(env: _Env, name: str, code: bytes) -> None:
    full = _check(env, code, b"", 1_000_000)
    used = full[3]
    for gas in (used - 1, used, 3, 0):
        if gas >= 0:
            _check(env, code, b"", gas)



# ---- compiled blocks -------------------------------------------------------------------------

def _compiled_blocks(code: bytes) -> int:
    from eth.vm.forks.prague.opcodes import PRAGUE_OPCODES

    from node._evm_interp import B_CODE, B_MEM, program_for, table_for

    prog = program_for(code, table_for(PRAGUE_OPCODES))
    return sum(1 for entry in prog.blocks if entry[0] in (B_CODE, B_MEM))


def test_repeated_code_runs_as_compiled_blocks_with_py_evm_results(env: _Env) -> None:
    """The differential tests above really exercise compiled blocks, not only the fallback."""
    rng = random.Random(99)
    compiled = 0
    for _ in range(20):
        code = random_program(rng, rng.randint(20, 80))
        for gas in (200_000, 200_000, 150, 30):  # compiled from the second run on
            _check(env, code, b"", gas)
        compiled += _compiled_blocks(code)
    assert compiled > 50


@pytest.mark.parametrize("name,code", [
    ("deep DUP and SWAP of items below the block", _code(*[_push(i) for i in range(1, 18)], JUMPDEST,
                                                          DUP1 + 15, SWAP1 + 15, ADD, DUP1 + 14,
                                                          SWAP1 + 3, POP, MUL, STOP)),
    ("constants folded", _code(_push(1), _push(1), _push(160, 1), SHL, SUB, _push(2**255, 32),
                               _push(2**256 - 1, 32), SLT, ISZERO, NOT, _push(5), _push(0), DIV,
                               STOP)),
    ("static jump to junk", _code(JUMPDEST, _push(1), _push(200), JUMP)),
    ("static JUMPI taken and not", _code(JUMPDEST, PUSH0, _push(11), JUMPI, _push(1), _push(11),
                                         JUMPI, STOP, JUMPDEST, _push(3), STOP)),
    ("MLOAD result then MSTORE of it", _code(JUMPDEST, _push(7), _push(64), MSTORE, _push(64),
                                             MLOAD, _push(1), ADD, _push(96), MSTORE, _push(32),
                                             _push(96), RETURN)),
    ("CALLDATALOAD past the data", _code(JUMPDEST, _push(60), CALLDATALOAD, _push(2**256 - 1, 32),
                                         CALLDATALOAD, _push(2**64), CALLDATALOAD, ADD, ADD, STOP)),
    ("block overflows the stack", _code(*[_push(1)] * 1000, JUMPDEST, *[_push(2)] * 30, STOP)),
])
def test_compiled_edge_cases_match_py_evm(env: _Env, name: str, code: bytes) -> None:
    full = _check(env, code, b"", 1_000_000)
    _check(env, code, b"", 1_000_000)  # compiled
    used = full[3]
    for gas in (used - 1, used, used // 2, 3, 0):
        if gas >= 0:
            _check(env, code, b"", gas)


def test_node_hashes_with_the_c_keccak_and_the_same_digests() -> None:
    from Crypto.Hash import keccak as cryptodome_keccak
    from eth_utils import keccak

    from node.keccak import keccak_backend

    assert keccak_backend() == "pysha3"
    rng = random.Random(3)
    for size in (0, 1, 31, 32, 33, 135, 136, 137, 1000):
        data = rng.randbytes(size)
        assert keccak(data) == cryptodome_keccak.new(data=data, digest_bits=256).digest()


# ---- receipts: the fast VM's logs bloom ------------------------------------------------------

def test_logs_bloom_equals_py_evm_bloom_filter() -> None:
    from eth.rlp.logs import Log
    from eth_bloom import BloomFilter

    from node.fastevm import logs_bloom

    rng = random.Random(7)
    for n in (0, 1, 5, 40):
        logs = [Log(rng.choice([CONTRACT, OTHER]), tuple(rng.choice([1, 2, rng.getrandbits(256)])
                                                         for _ in range(rng.randrange(5))), b"")
                for _ in range(n)]
        expected = int(BloomFilter.from_iterable(v for lg in logs for v in lg.bloomables))
        assert logs_bloom(logs) == expected


def _log_emitter() -> bytes:
    """Runtime code: LOG2 six times (repeated and distinct topics), LOG0 once, then STOP."""
    code = b""
    for i in range(6):
        code += _code(_push(i % 2 + 1), _push(1000 + i, 2), _push(4), PUSH0, 0xA2)
    return code + _code(PUSH0, PUSH0, 0xA0, STOP)


@pytest.mark.parametrize("tx_type", ["legacy", "dynamic-fee"])
@pytest.mark.parametrize("fails", [False, True])
def test_receipts_of_the_fast_vm_encode_like_py_evm(tx_type: str, fails: bool) -> None:
    from eth_account import Account

    key = Account.from_key(b"\x01" * 32)
    sender = bytes.fromhex(key.address[2:])
    spec = GenesisSpec(chain_id=1337, gas_limit=30_000_000, timestamp=1_700_000_000)
    code = _log_emitter() + (bytes([INVALID]) if fails else b"")
    alloc = {sender: {"balance": 10**20, "nonce": 0, "code": b"", "storage": {}},
             CONTRACT: {"balance": 0, "nonce": 1, "code": code.replace(bytes([STOP]), b"", 1)
                        if fails else code, "storage": {}}}
    tx: dict[str, Any] = {"to": "0x" + CONTRACT.hex(), "value": 0, "gas": 200_000, "nonce": 0,
                          "chainId": 1337, "data": b""}
    if tx_type == "legacy":
        tx["gasPrice"] = 0
    else:
        tx.update(maxFeePerGas=0, maxPriorityFeePerGas=0)
    raw = bytes(key.sign_transaction(tx).raw_transaction)
    encoded = []
    for make in (chain_class, fast_chain_class):
        chain = make(1337).from_genesis(AtomicDB(), genesis_header_params(spec), alloc)
        vm = chain.get_vm()
        signed = vm.get_transaction_builder().decode(raw)
        receipt, computation = vm.apply_transaction(vm.get_header(), signed)
        assert computation.is_error == fails
        assert len(receipt.logs) == (0 if fails else 7)
        encoded.append((type(receipt).__name__, receipt.encode(), receipt.bloom))
    assert encoded[0] == encoded[1]
