"""``eth_call`` / ``eth_estimateGas`` state overrides: "what if this account had …".

Why supported and not ignored: tools (viem's ``stateOverride``, ethers, Foundry) use the third
parameter to simulate a call against a changed balance, code or storage; ignoring it answered
for the real state — a wrong answer given as a right one. The overrides apply to the call's own
throwaway state (reverted after it), never to the chain.

Format (geth's): ``{address: {balance?, nonce?, code?, state? | stateDiff?}}`` — ``state``
replaces the whole storage, ``stateDiff`` sets the listed slots; both at once is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._params import address, data, fixed, quantity
from .errors import InvalidParamsError

__all__ = ["AccountOverride", "parse_overrides", "apply_overrides", "MAX_OVERRIDDEN"]

#: accounts and slots one call may override (a bound on the work a request buys)
MAX_OVERRIDDEN = 1_000
_KEYS = {"balance", "nonce", "code", "state", "stateDiff"}


@dataclass(frozen=True)
class AccountOverride:
    address: bytes
    balance: int | None = None
    nonce: int | None = None
    code: bytes | None = None
    storage: tuple[tuple[int, int], ...] = ()
    replace_storage: bool = False  # "state": the listed slots are all the storage


def _slots(value: Any, what: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, dict):
        raise InvalidParamsError(f"{what}: expected an object of 32-byte slot -> 32-byte value")
    return tuple((int.from_bytes(fixed(k, 32, f"{what} key"), "big"),
                  int.from_bytes(fixed(v, 32, f"{what}[{k}]"), "big")) for k, v in value.items())


def parse_overrides(value: Any) -> tuple[AccountOverride, ...]:
    """Parse the third parameter; -32602 naming the first thing that is wrong."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise InvalidParamsError("stateOverride: expected an object keyed by address")
    out: list[AccountOverride] = []
    count = 0
    for key, spec in value.items():
        where = f"stateOverride[{str(key)[:42]}]"
        who = address(key, where)
        if not isinstance(spec, dict) or set(spec) - _KEYS:
            raise InvalidParamsError(f"{where}: expected an object with {sorted(_KEYS)} only")
        if "state" in spec and "stateDiff" in spec:
            raise InvalidParamsError(f"{where}: state and stateDiff cannot both be given")
        slots = _slots(spec["state"] if "state" in spec else spec.get("stateDiff", {}),
                       f"{where}.{'state' if 'state' in spec else 'stateDiff'}")
        count += 1 + len(slots)
        if count > MAX_OVERRIDDEN:
            raise InvalidParamsError(f"stateOverride: more than {MAX_OVERRIDDEN} accounts and slots")
        out.append(AccountOverride(
            who,
            quantity(spec["balance"], f"{where}.balance") if "balance" in spec else None,
            quantity(spec["nonce"], f"{where}.nonce") if "nonce" in spec else None,
            data(spec["code"], f"{where}.code") if "code" in spec else None,
            slots, "state" in spec))
    return tuple(out)


def apply_overrides(state: Any, overrides: tuple[AccountOverride, ...]) -> None:
    """Write the overrides into a py-evm state the caller reverts afterwards."""
    for o in overrides:
        if o.balance is not None:
            state.set_balance(o.address, o.balance)
        if o.nonce is not None:
            state.set_nonce(o.address, o.nonce)
        if o.code is not None:
            state.set_code(o.address, o.code)
        if o.replace_storage:
            state.delete_storage(o.address)
        for slot, value in o.storage:
            state.set_storage(o.address, slot, value)
