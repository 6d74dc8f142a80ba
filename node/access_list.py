"""``eth_createAccessList``: which accounts and storage slots a call touches, and its gas with
that list.

Why recorded this way: py-evm marks an address or slot warm the first time a transaction touches
it (EIP-2929); recording those marks while the call runs on a throwaway state gives exactly the
cold accesses — no opcode tracer needed. Like geth, the sender, the precompiles and the block's
coinbase are left out (always warm), and the recipient only appears for its storage slots. The
list is re-run until it no longer changes (a list can change which branch a call takes), at most
three times.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .core import AccessList, CallRequest

__all__ = ["create_access_list"]

_ROUNDS = 3


def _record(core: Any, req: CallRequest, number: int | None) -> tuple[AccessList, Any]:
    """One run of ``req`` with warm marks recorded; (list, computation)."""
    touched: dict[bytes, set[int]] = {}

    def wrap(state: Any) -> None:
        mark_address, mark_slot = state.mark_address_warm, state.mark_storage_warm

        def address_warm(address: bytes) -> None:
            touched.setdefault(bytes(address), set())
            mark_address(address)

        def slot_warm(address: bytes, slot: int) -> None:
            touched.setdefault(bytes(address), set()).add(int(slot))
            mark_slot(address, slot)

        state.mark_address_warm, state.mark_storage_warm = address_warm, slot_warm

    with core.lock:
        header = core.header_at(number)
        gas = min(req.gas or core.gas_limit, core.gas_limit)
        computation = core._execute(req, gas, header, prepare=wrap)
        precompiles = set(getattr(core.chain.get_vm(header).state.computation_class,
                                  "_precompiles", {}))
    skip = {req.sender, bytes(header.coinbase), *map(bytes, precompiles)}
    entries = []
    for address, slots in touched.items():
        if address in skip or (address == req.to and not slots):
            continue
        entries.append((address, tuple(sorted(slots))))
    return tuple(sorted(entries)), computation


def create_access_list(core: Any, req: CallRequest, number: int | None = None
                       ) -> tuple[AccessList, int, Any]:
    """(access list, gas used with it, the last run's computation — check ``is_error``)."""
    access_list: AccessList = req.access_list
    computation = None
    for _ in range(_ROUNDS):
        found, computation = _record(core, replace(req, access_list=access_list), number)
        merged = _merge(access_list, found)
        if merged == access_list:
            break
        access_list = merged
    assert computation is not None
    gas_used = 0
    if not computation.is_error:
        gas_used = core.estimate_gas(replace(req, access_list=access_list), number)
    return access_list, gas_used, computation


def _merge(a: AccessList, b: AccessList) -> AccessList:
    slots: dict[bytes, set[int]] = {}
    for address, keys in (*a, *b):
        slots.setdefault(address, set()).update(keys)
    return tuple(sorted((address, tuple(sorted(keys))) for address, keys in slots.items()))
