"""The validator set an auditor or arbitrator holds: from a network's genesis, never a node's word.

Why from a file: a node that lies about who validates could present signatures by keys it
controls. Every institution of a consortium holds the network's ``genesis.json`` byte for byte
(``coledger network init`` writes it into every validator's home), so the set it names is the
one the verifier trusts; a header naming any other set fails the validators-hash check.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.bft.encoding import ed25519_address, merkle_root, simple_validator_bytes
from client.bft.errors import ValidatorSetError

__all__ = ["Validator", "ValidatorSet", "load_validator_set", "validator_set_from_json"]

_ED25519 = "tendermint/PubKeyEd25519"


@dataclass(frozen=True)
class Validator:
    """One consensus key with its voting power (``name`` is the genesis moniker, if any)."""

    address: bytes
    pub_key: bytes
    power: int
    name: str = ""

    @property
    def address_hex(self) -> str:
        return self.address.hex().upper()


@dataclass(frozen=True)
class ValidatorSet:
    """Validators in CometBFT's order (power descending, then address ascending) and the chain."""

    chain_id: str
    validators: tuple[Validator, ...]

    @property
    def total_power(self) -> int:
        return sum(v.power for v in self.validators)

    def hash(self) -> bytes:
        """The header's ``validators_hash`` for this set."""
        return merkle_root([simple_validator_bytes(v.pub_key, v.power) for v in self.validators])

    def by_address(self, address: bytes) -> Validator | None:
        for v in self.validators:
            if v.address == address:
                return v
        return None

    def updated(self, updates: list[tuple[bytes, int, str]]) -> ValidatorSet:
        """The set after CometBFT validator updates ``(ed25519 key, power, name)``: power 0
        removes, otherwise the key is added or its power set; CometBFT's order again."""
        by_key = {v.pub_key: v for v in self.validators}
        for key, power, name in updates:
            if power == 0:
                by_key.pop(key, None)
            else:
                old = by_key.get(key)
                by_key[key] = Validator(ed25519_address(key), key, power,
                                        old.name if old is not None else name)
        ordered = sorted(by_key.values(), key=lambda v: (-v.power, v.address))
        return ValidatorSet(self.chain_id, tuple(ordered))

    def to_json(self) -> dict[str, Any]:
        return {"chain_id": self.chain_id, "validators": [
            {"address": v.address_hex, "pub_key": {"type": _ED25519,
                                                   "value": base64.b64encode(v.pub_key).decode()},
             "power": str(v.power), "name": v.name} for v in self.validators]}


def validator_set_from_json(doc: Any, where: str = "validator set") -> ValidatorSet:
    """From a CometBFT genesis document (or the same shape: ``chain_id`` and ``validators``)."""
    if not isinstance(doc, dict):
        raise ValidatorSetError(f"{where}: expected a JSON object with chain_id and validators")
    chain_id = doc.get("chain_id")
    entries = doc.get("validators")
    if not isinstance(chain_id, str) or not chain_id:
        raise ValidatorSetError(f"{where}: no chain_id")
    if not isinstance(entries, list) or not entries:
        raise ValidatorSetError(f"{where}: no validators")
    validators: list[Validator] = []
    for i, entry in enumerate(entries):
        validators.append(_validator(entry, f"{where}: validator {i}"))
    addresses = [v.address for v in validators]
    if len(set(addresses)) != len(addresses):
        raise ValidatorSetError(f"{where}: a consensus key is listed twice")
    validators.sort(key=lambda v: (-v.power, v.address))
    return ValidatorSet(chain_id, tuple(validators))


def load_validator_set(path: Path, chain_id: str | None = None) -> ValidatorSet:
    """The set named by a network's ``genesis.json`` (CometBFT's, e.g.
    ``DIR/validator-0/cometbft/config/genesis.json``), or by the list ``coledger consortium
    validators --json`` prints (the registry's current set after governance changed it; its
    chain id is then ``chain_id``, which the caller knows from what it verifies)."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ValidatorSetError(f"cannot read the validator set file {path}: {exc}") from exc
    except ValueError as exc:
        raise ValidatorSetError(f"{path} is not JSON: {exc}") from exc
    if isinstance(doc, list):  # the registry's rows: {"key": base64, "power": n, "member": ...}
        if chain_id is None:
            raise ValidatorSetError(f"{path}: a list of validators needs the chain id")
        try:
            doc = {"chain_id": chain_id, "validators": [
                {"pub_key": {"type": _ED25519, "value": row["key"]}, "power": row["power"],
                 "name": str(row.get("member", ""))} for row in doc]}
        except (KeyError, TypeError) as exc:
            raise ValidatorSetError(f"{path}: each validator needs key and power ({exc!r})") from exc
    return validator_set_from_json(doc, str(path))


def _validator(entry: Any, where: str) -> Validator:
    if not isinstance(entry, dict):
        raise ValidatorSetError(f"{where} is not an object")
    key = entry.get("pub_key")
    if not isinstance(key, dict) or key.get("type") != _ED25519:
        raise ValidatorSetError(f"{where}: pub_key must be {{'type': '{_ED25519}', 'value': …}}")
    try:
        pub_key = base64.b64decode(str(key.get("value")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidatorSetError(f"{where}: pub_key value is not base64") from exc
    if len(pub_key) != 32:
        raise ValidatorSetError(f"{where}: an ed25519 key has 32 bytes, got {len(pub_key)}")
    raw_power = entry.get("power", entry.get("voting_power"))
    try:
        power = int(str(raw_power))
    except ValueError as exc:
        raise ValidatorSetError(f"{where}: power {raw_power!r} is not an integer") from exc
    if power <= 0:
        raise ValidatorSetError(f"{where}: power must be positive, got {power}")
    address = ed25519_address(pub_key)
    stated = entry.get("address")
    if stated not in (None, "") and str(stated).upper() != address.hex().upper():
        raise ValidatorSetError(
            f"{where}: address {stated} is not the address of its key ({address.hex().upper()})")
    return Validator(address, pub_key, power, str(entry.get("name", "")))
