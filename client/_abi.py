"""Small ABI helpers shared by the SDK modules (canonical types, constructor encoding)."""

from __future__ import annotations

from typing import Any

from eth_abi import encode

__all__ = ["canonical_type", "encode_constructor_args"]


def canonical_type(param: dict[str, Any]) -> str:
    """The canonical ABI type string of one ABI parameter (tuples expanded)."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def encode_constructor_args(abi: list[dict[str, Any]], args: tuple[Any, ...]) -> bytes:
    """ABI-encode `args` for the constructor in `abi` (empty when there is none)."""
    ctor = next((e for e in abi if e.get("type") == "constructor"), None)
    inputs = ctor["inputs"] if ctor else []
    if len(inputs) != len(args):
        raise ValueError(f"constructor takes {len(inputs)} arguments, got {len(args)}")
    return encode([canonical_type(p) for p in inputs], list(args)) if inputs else b""
