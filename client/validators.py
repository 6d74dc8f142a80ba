"""The Consortium's validator registry: read the set, propose additions, removals and new powers.

Why here and not in `client.consortium`: a validator brings its own key material — the CometBFT
consensus key (ed25519) that must sign a proof of possession, and the node key whose hash is the
p2p node id — read from a validator home (`HOME/cometbft/config/*.json`, `HOME/node.json`).
Changes go through the same M-of-N governance as membership (`ConsortiumClient.propose`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from client.consortium import ActionKind, ConsortiumClient, ProposalOutcome
from client.errors import CoLedgerValueError, ConfigError

__all__ = [
    "MAX_POWER",
    "POP_DOMAIN",
    "GenesisValidator",
    "ValidatorHome",
    "ValidatorInfo",
    "ValidatorsClient",
    "load_validator_home",
    "node_id_of",
    "parse_consensus_key",
    "pop_message",
    "sign_proof_of_possession",
]

#: the domain tag of the proof-of-possession message (`Consortium._checkPossession`)
POP_DOMAIN = "coledger/validator-pop/v1"
#: the largest voting power the registry accepts (CometBFT's total must stay far below 2^63)
MAX_POWER = 2**32


@dataclass(frozen=True)
class GenesisValidator:
    """A validator registered by the Consortium's constructor (`IConsortium.ValidatorInit`)."""

    member_id: int
    consensus_key: bytes  # ed25519 public key, 32 bytes
    power: int
    node_id: bytes  # 20 bytes


@dataclass(frozen=True)
class ValidatorInfo:
    """A current validator as `IConsortium.validators()` lists it."""

    consensus_key: bytes
    member_id: int
    power: int
    node_id: bytes
    since_block: int

    @property
    def key_base64(self) -> str:
        """The key as CometBFT writes it (`pub_key.value`)."""
        return base64.b64encode(self.consensus_key).decode()


@dataclass(frozen=True)
class ValidatorHome:
    """What a validator home holds that governance needs: its consensus key and node id."""

    consensus_key: Ed25519PrivateKey
    public_key: bytes
    node_id: bytes


def pop_message(chain_id: int, consortium: str, member_id: int, consensus_key: bytes) -> bytes:
    """The 32 bytes a new consensus key signs: binds the key to one member of one Consortium on
    one chain, so a proof cannot be replayed elsewhere or for another member."""
    return bytes(keccak(encode(
        ["string", "uint256", "address", "uint256", "bytes32"],
        [POP_DOMAIN, chain_id, to_checksum_address(consortium), member_id, consensus_key],
    )))


def sign_proof_of_possession(key: Ed25519PrivateKey, chain_id: int, consortium: str,
                             member_id: int) -> bytes:
    """The 64-byte ed25519 proof of possession of `key` for `member_id`."""
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key.sign(pop_message(chain_id, consortium, member_id, public))


def parse_consensus_key(text: str) -> bytes:
    """A 32-byte ed25519 public key from base64 (as CometBFT writes it) or 0x-hex."""
    value = text.strip()
    try:
        raw = bytes.fromhex(value[2:]) if value.lower().startswith("0x") else base64.b64decode(
            value, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise CoLedgerValueError(f"consensus key {text!r} is neither base64 nor 0x-hex") from exc
    if len(raw) != 32:
        raise CoLedgerValueError(f"consensus key {text!r} is {len(raw)} bytes, want 32 (ed25519)")
    return raw


def _check_power(power: int) -> int:
    if not 1 <= power <= MAX_POWER:
        raise CoLedgerValueError(f"voting power {power} is outside 1..{MAX_POWER}")
    return power


def _ed25519_file(path: Path) -> Ed25519PrivateKey:
    """The key of a CometBFT key file: `priv_key.value` is base64 of seed(32) || public(32)."""
    try:
        raw = base64.b64decode(json.loads(path.read_text())["priv_key"]["value"], validate=True)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} does not exist") from exc
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ConfigError(f"{path} is not a CometBFT ed25519 key file: {exc!r}") from exc
    if len(raw) != 64:
        raise ConfigError(f"{path}: priv_key is {len(raw)} bytes, want 64 (seed || public key)")
    key = Ed25519PrivateKey.from_private_bytes(raw[:32])
    if key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) != raw[32:]:
        raise ConfigError(f"{path}: the public half does not belong to the seed")
    return key


def node_id_of(node_key: Ed25519PrivateKey) -> bytes:
    """CometBFT's p2p node id: the first 20 bytes of SHA-256 of the node key's public key."""
    return hashlib.sha256(node_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).digest()[:20]


def load_validator_home(home: Path) -> ValidatorHome:
    """The consensus key and node id of the validator home `home` (node.json's `node_id` if it
    records one, else derived from `cometbft/config/node_key.json`)."""
    config = Path(home) / "cometbft" / "config"
    key = _ed25519_file(config / "priv_validator_key.json")
    node_id: bytes | None = None
    node_file = Path(home) / "node.json"
    if node_file.is_file():
        try:
            recorded = json.loads(node_file.read_text()).get("node_id")
            if recorded is not None:
                node_id = bytes.fromhex(str(recorded).removeprefix("0x"))
        except (OSError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{node_file} is malformed: {exc!r}") from exc
        if node_id is not None and len(node_id) != 20:
            raise ConfigError(f"{node_file}: node_id is {len(node_id)} bytes, want 20")
    if node_id is None:
        node_id = node_id_of(_ed25519_file(config / "node_key.json"))
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return ValidatorHome(key, public, node_id)


class ValidatorsClient:
    """Reads and governs the validator registry of one Consortium (writes need its pipeline)."""

    def __init__(self, consortium: ConsortiumClient) -> None:
        self.consortium = consortium
        self._fn: Any = consortium.contract.functions

    def validators(self) -> list[ValidatorInfo]:
        return [ValidatorInfo(bytes(k), int(m), int(p), bytes(n), int(s))
                for k, m, p, n, s in self._fn.validators().call()]

    def validator_count(self) -> int:
        return int(self._fn.validatorCount().call())

    def is_consortium_node(self, node_id: bytes) -> bool:
        return bool(self._fn.isConsortiumNode(node_id).call())

    def add_validator_args(self, member_id: int, home: ValidatorHome, power: int = 10) -> bytes:
        """The AddValidator arguments, with the proof of possession signed by the home's key."""
        if member_id < 1:
            raise CoLedgerValueError(f"member id must be >= 1, got {member_id}")
        chain_id = int(self.consortium.w3.eth.chain_id)
        proof = sign_proof_of_possession(home.consensus_key, chain_id, self.consortium.address, member_id)
        return encode(["uint256", "bytes32", "uint64", "bytes20", "bytes"],
                      [member_id, home.public_key, _check_power(power), home.node_id, proof])

    def propose_add_validator(self, member_id: int, home: ValidatorHome, power: int = 10) -> ProposalOutcome:
        return self.consortium.propose(ActionKind.ADD_VALIDATOR, self.add_validator_args(member_id, home, power))

    def propose_remove_validator(self, consensus_key: bytes) -> ProposalOutcome:
        return self.consortium.propose(ActionKind.REMOVE_VALIDATOR, encode(["bytes32"], [_key(consensus_key)]))

    def propose_set_validator_power(self, consensus_key: bytes, power: int) -> ProposalOutcome:
        args = encode(["bytes32", "uint64"], [_key(consensus_key), _check_power(power)])
        return self.consortium.propose(ActionKind.SET_VALIDATOR_POWER, args)


def _key(consensus_key: bytes) -> bytes:
    if len(consensus_key) != 32:
        raise CoLedgerValueError(f"consensus key is {len(consensus_key)} bytes, want 32")
    return consensus_key
