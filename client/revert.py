"""Decode revert data into `ContractRevert` (custom error name + named arguments).

Every contract artifact's ABI contributes its custom errors, so a revert from any coledger
contract — including one reached through a governed call — decodes to its Solidity name.
"""

from __future__ import annotations

from functools import cache

from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from client._abi import canonical_type
from client.artifacts import available_artifacts, load_artifact
from client.errors import ContractRevert

__all__ = ["decode_revert", "error_selector"]

_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


def error_selector(name: str, types: list[str]) -> bytes:
    """The 4-byte selector of error `name(types...)`."""
    return keccak(text=f"{name}({','.join(types)})")[:4]


@cache
def _registry() -> dict[bytes, tuple[str, list[str], list[str]]]:
    known: dict[bytes, tuple[str, list[str], list[str]]] = {}
    for contract in available_artifacts():
        for entry in load_artifact(contract).abi:
            if entry.get("type") != "error":
                continue
            types = [canonical_type(p) for p in entry["inputs"]]
            names = [p["name"] or f"arg{i}" for i, p in enumerate(entry["inputs"])]
            known[error_selector(entry["name"], types)] = (entry["name"], types, names)
    return known


def decode_revert(data: bytes | str | None, contract: str | None = None) -> ContractRevert:
    """Turn raw revert bytes (or 0x-hex) into a `ContractRevert`; unknown data stays raw."""
    raw = _as_bytes(data)
    selector, body = raw[:4], raw[4:]
    try:
        if selector == _ERROR_STRING:
            (reason,) = decode(["string"], body)
            return ContractRevert("Error", {"reason": reason}, raw, contract)
        if selector == _PANIC:
            (code,) = decode(["uint256"], body)
            return ContractRevert("Panic", {"code": code}, raw, contract)
        if selector in _registry():
            name, types, names = _registry()[selector]
            values = [
                to_checksum_address(v) if t == "address" else v
                for t, v in zip(types, decode(types, body), strict=True)
            ]
            return ContractRevert(name, dict(zip(names, values, strict=True)), raw, contract)
    except DecodingError:
        pass
    return ContractRevert(None, {}, raw, contract)


def _as_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    text = data[2:] if data.startswith("0x") else data
    try:
        return bytes.fromhex(text)
    except ValueError:
        return b""
