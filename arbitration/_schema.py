"""Strict JSON readers for the bundle parser (private).

Each reader takes the value and its JSON path and either returns the typed value or raises
``BundleFormatError`` naming the path, so every rejection says exactly which field was wrong.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import BundleFormatError

_HEX = re.compile(r"0x[0-9a-f]*")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise BundleFormatError(k, "duplicate field")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise BundleFormatError("$", f"{name} is not valid JSON")


def load_json(data: bytes, max_bytes: int) -> Any:
    """Decode one JSON text: UTF-8 only, no duplicate keys, no NaN/Infinity, nothing after it."""
    if not isinstance(data, bytes | bytearray):
        raise BundleFormatError("$", f"bundle must be bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise BundleFormatError("$", f"bundle of {len(data)} bytes exceeds the limit of {max_bytes}")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as e:
        raise BundleFormatError("$", f"not UTF-8 at byte {e.start}") from e
    decoder = json.JSONDecoder(object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    try:
        value, end = decoder.raw_decode(text.lstrip(" \t\n\r"))
    except json.JSONDecodeError as e:
        raise BundleFormatError("$", f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    rest = text.lstrip(" \t\n\r")[end:]
    if rest.strip(" \t\n\r"):
        raise BundleFormatError("$", f"trailing data after the JSON value ({len(rest.encode())} bytes)")
    return value


def obj(value: Any, path: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """An object with exactly ``fields``: unknown and missing fields are both rejected."""
    if not isinstance(value, dict):
        raise BundleFormatError(path, f"expected object, got {_type(value)}")
    for k in value:
        if k not in fields:
            raise BundleFormatError(f"{path}.{k}", "unknown field")
    for k in fields:
        if k not in value:
            raise BundleFormatError(f"{path}.{k}", "missing field")
    return value


def integer(value: Any, path: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BundleFormatError(path, f"expected integer, got {_type(value)}")
    if not lo <= value <= hi:
        raise BundleFormatError(path, f"{value} out of range {lo}..{hi}")
    return value


def hexbytes(value: Any, path: str, size: int) -> bytes:
    """``0x`` followed by exactly 2*size lowercase hex digits (one spelling per value)."""
    if not isinstance(value, str):
        raise BundleFormatError(path, f"expected hex string, got {_type(value)}")
    if _HEX.fullmatch(value) is None or len(value) != 2 + 2 * size:
        raise BundleFormatError(path, f"expected 0x and {2 * size} lowercase hex digits")
    return bytes.fromhex(value[2:])


def string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise BundleFormatError(path, f"expected string, got {_type(value)}")
    return value


def array(value: Any, path: str, max_len: int) -> list[Any]:
    if not isinstance(value, list):
        raise BundleFormatError(path, f"expected array, got {_type(value)}")
    if len(value) > max_len:
        raise BundleFormatError(path, f"{len(value)} elements exceed the limit of {max_len}")
    return value


def _type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def hx(b: bytes) -> str:
    """The one JSON spelling of bytes: 0x + lowercase hex."""
    return "0x" + b.hex()
