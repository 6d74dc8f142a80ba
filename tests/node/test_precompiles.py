"""The ed25519 precompile at 0x…0E25: answers, gas, and the same results on every executor.

It is called both directly (a message to its address) and from contract code (STATICCALL), on
stock py-evm's loop (``ColedgerComputation``: what ``COLEDGER_STOCK_EVM=1`` and the auditor's
replay run) and on the node's fast loop (``FastPragueComputation``); everything observable must
be identical. Signatures are real ed25519 signatures made with ``cryptography``.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth.db.atomic import AtomicDB
from eth.vm.message import Message

from node.evm import ColedgerComputation, GenesisSpec, chain_class, genesis_header_params
from node.fastevm import FastPragueComputation, fast_chain_class
from node.precompiles import ED25519_VERIFY_ADDRESS, ED25519_VERIFY_GAS, ed25519_valid

SENDER = b"\x30" * 20
CALLER = b"\x10" * 20
ONE = (1).to_bytes(32, "big")
ZERO = b"\x00" * 32


def _signed(message: bytes = b"m" * 32) -> tuple[bytes, bytes, bytes]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return public, key.sign(message), message


def _caller_code() -> bytes:
    """Copies its calldata to memory, STATICCALLs the precompile with it, returns the output."""
    return bytes([
        0x36, 0x5F, 0x5F, 0x37,  # CALLDATACOPY(0, 0, CALLDATASIZE)
        0x60, 0x20, 0x5F, 0x36, 0x5F,  # retSize 32, retOffset 0, argsSize, argsOffset 0
        0x61, 0x0E, 0x25, 0x5A, 0xFA,  # address 0xE25, GAS, STATICCALL
        0x50, 0x3D, 0x5F, 0x5F, 0x3E,  # POP; RETURNDATACOPY(0, 0, RETURNDATASIZE)
        0x3D, 0x5F, 0xF3,  # RETURN(0, RETURNDATASIZE)
    ])


class _Env:
    def __init__(self, fast: bool) -> None:
        spec = GenesisSpec(chain_id=1337, gas_limit=30_000_000, timestamp=1_700_000_000)
        make = fast_chain_class if fast else chain_class
        self.chain = make(1337).from_genesis(
            AtomicDB(), genesis_header_params(spec),
            {SENDER: {"balance": 10**20, "nonce": 0, "code": b"", "storage": {}}},
        )

    def run(self, cls: type[ColedgerComputation], data: bytes, gas: int, via_contract: bool) -> Any:
        state = self.chain.get_vm().state
        state.set_code(CALLER, _caller_code())
        to = CALLER if via_contract else ED25519_VERIFY_ADDRESS
        code = _caller_code() if via_contract else b""
        message = Message(gas=gas, to=to, sender=SENDER, value=0, data=data, code=code, code_address=to)
        context = state.get_transaction_context_class()(gas_price=0, origin=SENDER)
        c = cls.apply_message(state, message, context)
        return (c.is_error, type(c.error).__name__ if c.is_error else None, c.get_gas_used(),
                bytes(c.output), state.make_state_root())


@pytest.fixture(scope="module")
def envs() -> tuple[_Env, _Env]:
    return _Env(fast=False), _Env(fast=True)


def _both(envs: tuple[_Env, _Env], data: bytes, gas: int = 100_000, via_contract: bool = False) -> Any:
    stock = envs[0].run(ColedgerComputation, data, gas, via_contract)
    fast = envs[1].run(FastPragueComputation, data, gas, via_contract)
    assert fast == stock
    return stock


def test_every_executor_has_the_precompile() -> None:
    for make in (chain_class, fast_chain_class):
        computation = make(1).get_vm_class_for_block_number(0).get_state_class().computation_class
        assert ED25519_VERIFY_ADDRESS in computation.get_precompiles()
    assert ED25519_VERIFY_ADDRESS.hex() == "0000000000000000000000000000000000000e25"


def test_a_valid_signature_answers_the_word_1_for_the_flat_gas(envs: tuple[_Env, _Env]) -> None:
    key, sig, msg = _signed()
    error, _, gas, output, _ = _both(envs, key + sig + msg)
    assert (error, gas, output) == (False, ED25519_VERIFY_GAS, ONE)


@pytest.mark.parametrize("case", ["flipped signature bit", "other message", "other key",
                                  "key not on the curve", "short", "long", "empty",
                                  "non-canonical s"])
def test_an_invalid_or_malformed_input_answers_zero_for_the_same_gas(
        envs: tuple[_Env, _Env], case: str) -> None:
    key, sig, msg = _signed()
    data = {
        "flipped signature bit": key + bytes([sig[0] ^ 1]) + sig[1:] + msg,
        "other message": key + sig + b"n" * 32,
        "other key": _signed()[0] + sig + msg,
        "key not on the curve": b"\xff" * 31 + b"\x7f" + sig + msg,
        "short": (key + sig + msg)[:127],
        "long": key + sig + msg + b"\x00",
        "empty": b"",
        # s + L (the group order) encodes the same scalar: RFC 8032 requires s < L
        "non-canonical s": key + sig[:32] + (int.from_bytes(sig[32:], "little")
                                              + 2**252 + 27742317777372353535851937790883648493
                                              ).to_bytes(32, "little") + msg,
    }[case]
    if case == "non-canonical s" and int.from_bytes(data[64:96], "little") >= 2**256:
        pytest.skip("s + L overflowed 256 bits for this random signature")
    error, _, gas, output, _ = _both(envs, data)
    assert (error, gas, output) == (False, ED25519_VERIFY_GAS, ZERO)


def test_too_little_gas_fails_the_call_on_both_loops(envs: tuple[_Env, _Env]) -> None:
    key, sig, msg = _signed()
    error, name, gas, output, _ = _both(envs, key + sig + msg, gas=ED25519_VERIFY_GAS - 1)
    assert (error, name, gas, output) == (True, "OutOfGas", ED25519_VERIFY_GAS - 1, b"")


@pytest.mark.parametrize("valid", [True, False])
def test_a_contract_staticcall_gets_the_same_answer_on_both_loops(
        envs: tuple[_Env, _Env], valid: bool) -> None:
    key, sig, msg = _signed()
    data = key + sig + (msg if valid else b"x" * 32)
    error, _, gas, output, _ = _both(envs, data, via_contract=True)
    assert not error and output == (ONE if valid else ZERO)
    assert gas > ED25519_VERIFY_GAS  # the call's own costs come on top; the address is warm
    assert gas < ED25519_VERIFY_GAS + 300


def test_the_verifier_is_strict_rfc_8032() -> None:
    key, sig, msg = _signed()
    assert ed25519_valid(key + sig + msg)
    small_order_key = (1).to_bytes(32, "little")  # the identity point
    assert not ed25519_valid(small_order_key + b"\x00" * 64 + msg)
