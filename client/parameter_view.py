"""The governed parameters as they stand on chain: raw value, value in force, meaning.

Why separate from `client.parameters`: that table is pure data shared with the contract-source
test; this module reads the chain. A parameter left at 0 is not "0": the reading contract falls
back to a default (or, for the product limits, forbids lead banks to define products alone), and
the exposure cap's fallback is a CreditLines constructor argument, so it is asked of CreditLines
itself when the deployment is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from client.consortium import ConsortiumClient
from client.contracts import bind
from client.parameters import PARAMETERS, Parameter
from client.readable import parameter_value

__all__ = ["ParameterRow", "parameter_rows"]


@dataclass(frozen=True)
class ParameterRow:
    """One parameter: `value` as stored (0 = never set), `in_force` what the contract uses
    (None when 0 means something other than a number), `in_force_text` for people."""

    parameter: Parameter
    value: int
    in_force: int | None
    in_force_text: str

    def as_json(self) -> dict[str, Any]:
        p = self.parameter
        return {
            "name": p.name, "unit": p.unit.value, "value": self.value, "set": self.value != 0,
            "in_force": self.in_force, "in_force_text": self.in_force_text,
            "default": p.default, "when_zero": p.when_zero, "maximum": p.maximum,
            "read_by": p.read_by, "meaning": p.meaning, "key": "0x" + p.key.hex(),
        }


def parameter_rows(c: ConsortiumClient, contracts: Mapping[str, str] | None = None) -> list[ParameterRow]:
    """Every table parameter with its on-chain value; `contracts` (name -> address, the
    deployment record's) lets the exposure cap in force be read from CreditLines."""
    rows = []
    for p in PARAMETERS:
        value = int(c.contract.functions.parameter(p.key).call())
        in_force = _in_force(c, p, value, contracts or {})
        if in_force is None:
            text = p.when_zero
        elif value == 0:
            text = f"{parameter_value(p, in_force)}, the default"
        else:
            text = parameter_value(p, in_force)
        rows.append(ParameterRow(p, value, in_force, text))
    return rows


def _in_force(c: ConsortiumClient, p: Parameter, value: int, contracts: Mapping[str, str]) -> int | None:
    if p.name == "lending.borrowerExposureCap" and "CreditLines" in contracts:
        lines = bind(c.w3, "CreditLines", contracts["CreditLines"])
        return int(lines.functions.borrowerExposureCap().call())
    if value == 0:
        return p.default
    return min(value, p.maximum)
