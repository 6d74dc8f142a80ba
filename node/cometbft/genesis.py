"""What every validator must start from: CometBFT's genesis.json carries the ledger's genesis.

Why in CometBFT's genesis: it is the one file all validators of a network share byte for byte
(its hash is part of the chain's identity). Its ``app_state`` holds the Ethereum genesis spec,
the Ethereum genesis hash it must produce and the bootstrap address that may deploy the
Consortium; InitChain and the validator's start both check their own data dir against it, so a
validator started with another genesis refuses to start and says which differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth.db.atomic import AtomicDB
from eth_utils import encode_hex, to_checksum_address

from ..errors import GenesisMismatchError
from ..evm import GenesisSpec, chain_class, genesis_header_params, genesis_state

__all__ = [
    "APP_STATE_KEY",
    "NetworkGenesis",
    "ethereum_genesis_hash",
    "cometbft_chain_id",
    "read_network_genesis",
]

APP_STATE_KEY = "coledger"
_VERSION = 1


def cometbft_chain_id(eth_chain_id: int) -> str:
    """The CometBFT chain id of a coledger network (what every vote signs)."""
    return f"coledger-{eth_chain_id}"


def ethereum_genesis_hash(spec: GenesisSpec) -> str:
    """Block 0's hash for ``spec``, built in memory with the node's own chain rules."""
    chain = chain_class(spec.chain_id).from_genesis(
        AtomicDB(), genesis_header_params(spec), genesis_state(spec)  # type: ignore[arg-type]
    )
    return encode_hex(chain.get_canonical_block_header_by_number(0).hash)


@dataclass(frozen=True)
class NetworkGenesis:
    """The ledger part of a network's genesis (CometBFT genesis ``app_state.coledger``)."""

    spec: GenesisSpec
    genesis_hash: str
    bootstrap: str
    chain_id: str  # CometBFT's
    #: CometBFT node ids (lowercase hex) of the consortium's nodes: the only peers a validator
    #: accepts (empty: a genesis from before peer filtering; every peer is accepted)
    node_ids: tuple[str, ...] = ()

    def app_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "version": _VERSION,
            "ethereum_genesis": json.loads(self.spec.to_json()),
            "ethereum_genesis_hash": self.genesis_hash,
            "bootstrap": to_checksum_address(self.bootstrap),
        }
        if self.node_ids:
            state["consortium_nodes"] = list(self.node_ids)
        return {APP_STATE_KEY: state}

    @classmethod
    def from_app_state(cls, app_state: Any, chain_id: str) -> NetworkGenesis:
        """Parse ``app_state``; every problem names the field (and the hash is re-derived)."""
        if not isinstance(app_state, dict) or not isinstance(app_state.get(APP_STATE_KEY), dict):
            raise GenesisMismatchError(
                f"CometBFT genesis app_state has no {APP_STATE_KEY!r} object: not a coledger network")
        raw = app_state[APP_STATE_KEY]
        if raw.get("version") != _VERSION:
            raise GenesisMismatchError(f"genesis app_state version {raw.get('version')!r}, "
                                       f"this node understands {_VERSION}")
        try:
            spec = GenesisSpec.from_json(json.dumps(raw["ethereum_genesis"]))
            claimed = str(raw["ethereum_genesis_hash"])
            bootstrap = to_checksum_address(raw["bootstrap"])
        except (KeyError, TypeError, ValueError) as exc:
            raise GenesisMismatchError(f"genesis app_state is malformed: {exc!r}") from exc
        derived = ethereum_genesis_hash(spec)
        if derived != claimed:
            raise GenesisMismatchError(
                f"genesis app_state claims Ethereum genesis {claimed}, its spec gives {derived}")
        if chain_id != cometbft_chain_id(spec.chain_id):
            raise GenesisMismatchError(
                f"CometBFT chain id {chain_id!r} does not match Ethereum chain id {spec.chain_id} "
                f"(expected {cometbft_chain_id(spec.chain_id)!r})")
        nodes = raw.get("consortium_nodes", [])
        if not isinstance(nodes, list) or not all(
                isinstance(n, str) and len(n) == 40 and all(c in "0123456789abcdef" for c in n)
                for n in nodes):
            raise GenesisMismatchError("genesis app_state consortium_nodes must be a list of "
                                       "CometBFT node ids (40 lowercase hex digits)")
        return cls(spec=spec, genesis_hash=derived, bootstrap=bootstrap, chain_id=chain_id,
                   node_ids=tuple(nodes))


def read_network_genesis(path: Path) -> tuple[NetworkGenesis, dict[str, Any]]:
    """The ledger genesis and the whole document of a CometBFT ``genesis.json``."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise GenesisMismatchError(f"cannot read CometBFT genesis {path}: {exc}") from exc
    return NetworkGenesis.from_app_state(doc.get("app_state"), str(doc.get("chain_id"))), doc
