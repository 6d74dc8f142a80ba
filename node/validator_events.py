"""The Consortium's validator-set events, decoded: what governance changed in one block.

Why one decoder for the ledger app and the auditor: the CometBFT application turns these events
into validator updates (``node/cometbft/app.py``), and the auditor derives the validator set it
checks commits against from the same events it replays (``client/audit/commits.py``). Both must
read them identically, and neither may trust anything but the Consortium's own logs.

Events (``contracts/Consortium.sol``):
``ValidatorAdded(bytes32 indexed consensusKey, uint256 indexed memberId, uint64 power, bytes20 nodeId)``,
``ValidatorPowerChanged(bytes32 indexed consensusKey, uint256 indexed memberId, uint64 power)``,
``ValidatorRemoved(bytes32 indexed consensusKey, uint256 indexed memberId)``. The genesis
validators registered at deployment (``GenesisValidator``) are CometBFT's genesis set already and
change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eth_utils import keccak

__all__ = ["VALIDATOR_ADDED", "VALIDATOR_POWER_CHANGED", "VALIDATOR_REMOVED", "ValidatorChange",
           "changes_in_logs", "updates_of"]

VALIDATOR_ADDED = keccak(text="ValidatorAdded(bytes32,uint256,uint64,bytes20)")
VALIDATOR_POWER_CHANGED = keccak(text="ValidatorPowerChanged(bytes32,uint256,uint64)")
VALIDATOR_REMOVED = keccak(text="ValidatorRemoved(bytes32,uint256)")


@dataclass(frozen=True)
class ValidatorChange:
    """One change: ``power`` 0 removes the key (CometBFT's convention for updates)."""

    consensus_key: bytes  # ed25519 public key, 32 bytes
    member_id: int
    power: int
    node_id: bytes | None  # 20 bytes for an addition


def _topic(value: int | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.to_bytes(32, "big")


def changes_in_logs(logs: Iterable[tuple[bytes, list[int | bytes], bytes]],
                    consortium: bytes) -> list[ValidatorChange]:
    """The validator changes among ``(address, topics, data)`` logs, in log order; logs of any
    other contract are ignored (only the Consortium governs the set)."""
    out: list[ValidatorChange] = []
    for address, topics, data in logs:
        if bytes(address) != consortium or len(topics) != 3:
            continue
        sig, key, member = (_topic(t) for t in topics)
        member_id = int.from_bytes(member, "big")
        if sig == VALIDATOR_ADDED and len(data) == 64:
            out.append(ValidatorChange(key, member_id, int.from_bytes(data[:32], "big"),
                                       bytes(data[32:52])))
        elif sig == VALIDATOR_POWER_CHANGED and len(data) == 32:
            out.append(ValidatorChange(key, member_id, int.from_bytes(data, "big"), None))
        elif sig == VALIDATOR_REMOVED and not data:
            out.append(ValidatorChange(key, member_id, 0, None))
    return out


def updates_of(changes: Iterable[ValidatorChange]) -> list[tuple[bytes, int]]:
    """CometBFT validator updates for one block: the last change of each key wins (CometBFT
    cannot take two updates of one key in a block), sorted by key (a deterministic order)."""
    last: dict[bytes, int] = {}
    for change in changes:
        last[change.consensus_key] = change.power
    return sorted(last.items())
