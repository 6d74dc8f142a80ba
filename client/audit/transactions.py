"""Rebuild signed transactions from their served JSON fields (types 0, 1 and 2).

The auditor does not ask the node for raw transactions: it re-encodes the signed payload
from the served fields, decodes it with py-evm's own transaction builder and requires the
result to hash to the served hash.  A node that alters any signed field (or the signature)
is caught here, before execution.
"""

from __future__ import annotations

from typing import Any

import rlp
from eth.abc import SignedTransactionAPI, TransactionBuilderAPI
from eth_utils import decode_hex

__all__ = ["TransactionRebuildError", "rebuild_transaction", "SUPPORTED_TYPES"]

SUPPORTED_TYPES = (0, 1, 2)


class TransactionRebuildError(Exception):
    """The served fields do not form a signed transaction (reason in the message)."""


def _q(tx: dict[str, Any], key: str) -> int:
    value = tx.get(key)
    if value is None:
        raise TransactionRebuildError(f"field {key} is missing")
    try:
        return int(str(value), 16)
    except ValueError as exc:
        raise TransactionRebuildError(f"field {key} is not a hex quantity: {value!r}") from exc


def _b(tx: dict[str, Any], key: str) -> bytes:
    value = tx.get(key)
    if value is None:
        raise TransactionRebuildError(f"field {key} is missing")
    try:
        return bytes(decode_hex(str(value)))
    except ValueError as exc:
        raise TransactionRebuildError(f"field {key} is not hex data") from exc


def _to(tx: dict[str, Any]) -> bytes:
    to = tx.get("to")
    if to in (None, "", "0x"):
        return b""
    out = bytes(decode_hex(str(to)))
    if len(out) != 20:
        raise TransactionRebuildError(f"field to is not a 20-byte address: {to!r}")
    return out


def _access_list(tx: dict[str, Any]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for entry in tx.get("accessList") or []:
        address = bytes(decode_hex(entry["address"]))
        keys = [bytes(decode_hex(k)).rjust(32, b"\0") for k in entry.get("storageKeys", [])]
        out.append([address, keys])
    return out


def _y_parity(tx: dict[str, Any]) -> int:
    return _q(tx, "yParity") if tx.get("yParity") is not None else _q(tx, "v")


def encode_served_transaction(tx: dict[str, Any]) -> bytes:
    """The canonical signed encoding implied by the served fields."""
    type_id = _q(tx, "type") if tx.get("type") is not None else 0
    data = _b(tx, "input") if tx.get("input") is not None else _b(tx, "data")
    common = [_q(tx, "gas"), _to(tx), _q(tx, "value"), data]
    if type_id == 0:
        fields = [_q(tx, "nonce"), _q(tx, "gasPrice"), *common,
                  _q(tx, "v"), _q(tx, "r"), _q(tx, "s")]
        return bytes(rlp.encode(fields))
    if type_id == 1:
        fields = [_q(tx, "chainId"), _q(tx, "nonce"), _q(tx, "gasPrice"), *common,
                  _access_list(tx), _y_parity(tx), _q(tx, "r"), _q(tx, "s")]
        return b"\x01" + bytes(rlp.encode(fields))
    if type_id == 2:
        fields = [_q(tx, "chainId"), _q(tx, "nonce"), _q(tx, "maxPriorityFeePerGas"),
                  _q(tx, "maxFeePerGas"), *common, _access_list(tx), _y_parity(tx),
                  _q(tx, "r"), _q(tx, "s")]
        return b"\x02" + bytes(rlp.encode(fields))
    if type_id == 4:
        fields = [_q(tx, "chainId"), _q(tx, "nonce"), _q(tx, "maxPriorityFeePerGas"),
                  _q(tx, "maxFeePerGas"), *common, _access_list(tx), _authorization_list(tx),
                  _y_parity(tx), _q(tx, "r"), _q(tx, "s")]
        return b"\x04" + bytes(rlp.encode(fields))
    raise TransactionRebuildError(
        f"transaction type {type_id} is not supported by the replay (supported: 0, 1, 2, 4)")


def _authorization_list(tx: dict[str, Any]) -> list[list[Any]]:
    """EIP-7702 authorizations as served (chainId, address, nonce, yParity, r, s)."""
    out = []
    for entry in tx.get("authorizationList") or []:
        out.append([_q(entry, "chainId"), bytes(decode_hex(entry["address"])),
                    _q(entry, "nonce"), _q(entry, "yParity"), _q(entry, "r"), _q(entry, "s")])
    return out


def rebuild_transaction(
    tx: dict[str, Any], builder: type[TransactionBuilderAPI]
) -> SignedTransactionAPI:
    """py-evm signed transaction from served fields; raises TransactionRebuildError."""
    raw = encode_served_transaction(tx)
    try:
        return builder.decode(raw)
    except Exception as exc:  # rlp / validation errors of a malformed payload
        raise TransactionRebuildError(f"served fields do not decode: {exc}") from exc
