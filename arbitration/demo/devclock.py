"""Moving the dev node's clock: `evm_increaseTime` then `evm_mine` (JSON-RPC, public methods).

Only a node started with `--allow-time-travel` accepts them; the demo starts its node that way.
The collection ladder counts days past due from block time, so days pass in seconds here.
"""

from __future__ import annotations

from typing import Any

from web3 import Web3

from .errors import DemoStepError

__all__ = ["DAY", "advance_to", "now"]

DAY = 86_400


def now(w3: Web3) -> int:
    """The head block's time (what the contracts see as `block.timestamp`, give or take a block)."""
    return int(w3.eth.get_block("latest")["timestamp"])


def _call(w3: Web3, method: str, params: list[Any]) -> None:
    answer = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    if answer.get("error"):
        raise DemoStepError(f"the node refused {method}: {answer['error'].get('message')}")


def advance_to(w3: Web3, timestamp: int) -> int:
    """Move block time to at least `timestamp` (mining one empty block); the new head time."""
    gap = timestamp - now(w3)
    if gap > 0:
        _call(w3, "evm_increaseTime", [gap])
    _call(w3, "evm_mine", [])
    return now(w3)
