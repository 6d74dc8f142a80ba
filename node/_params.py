"""JSON-RPC parameter parsing: each parser returns a typed value or raises
:class:`InvalidParamsError` whose message starts with the parameter's name (``what``), so a
client learns which value was wrong; a client's value is quoted at most 80 characters.
"""

from __future__ import annotations

from typing import Any

from eth_utils import decode_hex

from .core import AccessList
from .errors import InvalidParamsError

__all__ = ["access_list", "address", "data", "echo", "fixed", "params", "quantity", "storage_key"]


_MAX_QUANTITY = 2**256 - 1


def quantity(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise InvalidParamsError(f"{what}: expected a hex quantity, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise InvalidParamsError(f"{what}: negative quantity")
        if value > _MAX_QUANTITY:
            raise InvalidParamsError(f"{what}: quantity exceeds 2**256 - 1")
        return value
    if isinstance(value, str) and value.startswith(("0x", "0X")) and len(value) > 2:
        if len(value) > 2 + 128:  # never parse (or echo) an absurdly long string
            raise InvalidParamsError(f"{what}: hex quantity of {len(value) - 2} digits is too long")
        try:
            n = int(value, 16)
        except ValueError:
            pass
        else:
            if n > _MAX_QUANTITY:
                raise InvalidParamsError(f"{what}: quantity exceeds 2**256 - 1")
            return n
    raise InvalidParamsError(f"{what}: expected a hex quantity like 0x1a, got {str(value)[:80]!r}")


def storage_key(value: Any, what: str) -> int:
    """A storage slot: a quantity, or 32 bytes of data. A longer key (33 bytes) is refused, never
    reduced modulo 2**256 or cut to the slot it happens to fit."""
    if isinstance(value, str) and value.startswith(("0x", "0X")) and len(value) > 2 + 64:
        raise InvalidParamsError(f"{what}: a storage key is at most 32 bytes (64 hex digits), "
                                 f"got {len(value) - 2} digits")
    return quantity(value, what)


def data(value: Any, what: str) -> bytes:
    if isinstance(value, str) and value.startswith(("0x", "0X")):
        try:
            return decode_hex(value)
        except Exception:
            pass
    raise InvalidParamsError(f"{what}: expected 0x-prefixed hex bytes, got {str(value)[:80]!r}")


def fixed(value: Any, size: int, what: str) -> bytes:
    raw = data(value, what)
    if len(raw) != size:
        raise InvalidParamsError(f"{what}: expected {size} bytes, got {len(raw)}")
    return raw


def address(value: Any, what: str = "address") -> bytes:
    return fixed(value, 20, what)


def access_list(value: Any) -> AccessList:
    """An EIP-2930 list ``[{"address": ..., "storageKeys": [32-byte hex, ...]}, ...]``."""
    if not isinstance(value, list):
        raise InvalidParamsError("accessList: expected an array of {address, storageKeys}")
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or set(entry) - {"address", "storageKeys"}:
            raise InvalidParamsError(
                f"accessList[{i}]: expected an object with address and storageKeys only")
        keys = entry.get("storageKeys") or []
        if not isinstance(keys, list):
            raise InvalidParamsError(f"accessList[{i}].storageKeys: expected an array")
        slots = tuple(int.from_bytes(fixed(k, 32, f"accessList[{i}].storageKeys[{j}]"), "big")
                      for j, k in enumerate(keys))
        out.append((address(entry.get("address"), f"accessList[{i}].address"), slots))
    return tuple(out)


MAX_CALL_AUTHORIZATIONS = 64  # an eth_call's list is executed: bounded like its gas


def authorization_list(value: Any) -> tuple[Any, ...]:
    """An EIP-7702 list ``[{"chainId", "address", "nonce", "yParity", "r", "s"}, ...]`` as
    py-evm authorizations (executed by eth_call / eth_estimateGas exactly as when mined)."""
    from eth.vm.forks.prague.transactions import Authorization

    if not isinstance(value, list) or not value:
        raise InvalidParamsError("authorizationList: expected a non-empty array of "
                                 "{chainId, address, nonce, yParity, r, s}")
    if len(value) > MAX_CALL_AUTHORIZATIONS:
        raise InvalidParamsError(f"authorizationList: at most {MAX_CALL_AUTHORIZATIONS} "
                                 f"entries, got {len(value)}")
    out = []
    fields = {"chainId", "address", "nonce", "yParity", "r", "s"}
    for i, entry in enumerate(value):
        where = f"authorizationList[{i}]"
        if not isinstance(entry, dict) or not fields <= set(entry) <= fields | {"v"}:
            raise InvalidParamsError(f"{where}: expected an object with chainId, address, "
                                     f"nonce, yParity, r and s")
        nonce = quantity(entry["nonce"], f"{where}.nonce")
        if nonce >= 2**64:
            raise InvalidParamsError(f"{where}.nonce: must be below 2**64")
        out.append(Authorization(
            chain_id=quantity(entry["chainId"], f"{where}.chainId"),
            address=address(entry["address"], f"{where}.address"), nonce=nonce,
            y_parity=quantity(entry["yParity"], f"{where}.yParity") & 0xFF,
            r=quantity(entry["r"], f"{where}.r"), s=quantity(entry["s"], f"{where}.s")))
    return tuple(out)


def params(params: Any, low: int, high: int, method: str) -> list[Any]:
    if params is None:
        params = []
    if not isinstance(params, list):
        raise InvalidParamsError(f"{method}: params must be an array")
    if not low <= len(params) <= high:
        raise InvalidParamsError(
            f"{method}: expected {low}..{high} params, got {len(params)}"
            if low != high else f"{method}: expected {low} params, got {len(params)}"
        )
    return params + [None] * (high - len(params))


def echo(value: Any, limit: int = 80) -> str:
    """A client's value quoted in an error message, cut short: an answer never grows with the
    size of what was sent."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
