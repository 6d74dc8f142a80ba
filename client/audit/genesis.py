"""Rebuild the coledger genesis from block 0's header fields and check its hash.

The auditor trusts nothing the node says about state: the genesis is rebuilt with
:func:`node.evm.chain_class` and :func:`node.evm.genesis_header_params` (the exact VM and
genesis rules of the embedded node) from the header fields that a genesis spec consists of
(chain id, gas limit, timestamp, extra data, coinbase) plus, optionally, the node's
``genesis.json`` for a non-empty alloc.  Every derived field — state root, roots, hash — is
recomputed, so the rebuilt hash equals block 0's only if block 0 is what those inputs give.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from eth.abc import AtomicDatabaseAPI, BlockHeaderAPI
from eth.chains.base import MiningChain
from eth.constants import BLANK_ROOT_HASH
from eth_typing import BlockNumber
from eth_utils import encode_hex, to_checksum_address

from client.audit.errors import AuditError, GenesisMismatchError, UnsupportedChainError
from node.evm import GenesisSpec, chain_class, genesis_header_params, genesis_state

__all__ = ["RebuiltGenesis", "spec_from_block0", "rebuild_genesis", "load_genesis_file"]

_UNSUPPORTED = "unsupported chain: genesis does not match a coledger embedded-node genesis"


@dataclass
class RebuiltGenesis:
    """The fresh chain holding only the rebuilt genesis, and that genesis' header."""

    chain: MiningChain
    header: BlockHeaderAPI
    spec: GenesisSpec


def load_genesis_file(path: Path) -> GenesisSpec:
    """A node's ``DATA/genesis.json`` (needed only when the node was started with an alloc)."""
    try:
        return GenesisSpec.from_json(Path(path).read_text())
    except (OSError, ValueError, KeyError) as exc:
        raise AuditError(f"cannot read genesis file {path}: {exc}") from exc


def spec_from_block0(block0: dict[str, Any], chain_id: int,
                     alloc: dict[str, dict[str, Any]] | None = None) -> GenesisSpec:
    """Genesis spec from block 0's served header fields (only inputs, nothing derived)."""
    try:
        return GenesisSpec(
            chain_id=chain_id,
            gas_limit=int(block0["gasLimit"], 16),
            timestamp=int(block0["timestamp"], 16),
            extra_data=str(block0.get("extraData", "0x")),
            coinbase=to_checksum_address(block0.get("miner", "0x" + "00" * 20)),
            alloc=dict(alloc or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UnsupportedChainError(f"{_UNSUPPORTED}: block 0 lacks a field ({exc})") from exc


_NODE_EXTRA_DATA = encode_hex(b"coledger")  # what node.evm.load_or_create_genesis writes


def _served_form(header: BlockHeaderAPI) -> dict[str, str]:
    """The rebuilt genesis header in JSON-RPC field names and encodings."""
    out = {
        "parentHash": encode_hex(header.parent_hash), "sha3Uncles": encode_hex(header.uncles_hash),
        "miner": encode_hex(header.coinbase), "stateRoot": encode_hex(header.state_root),
        "transactionsRoot": encode_hex(header.transaction_root),
        "receiptsRoot": encode_hex(header.receipt_root), "difficulty": hex(header.difficulty),
        "gasLimit": hex(header.gas_limit), "gasUsed": hex(header.gas_used),
        "timestamp": hex(header.timestamp), "extraData": encode_hex(header.extra_data),
        "mixHash": encode_hex(header.mix_hash), "nonce": encode_hex(header.nonce),
    }
    for attr, key, enc in (
        ("base_fee_per_gas", "baseFeePerGas", hex), ("withdrawals_root", "withdrawalsRoot", encode_hex),
        ("blob_gas_used", "blobGasUsed", hex), ("excess_blob_gas", "excessBlobGas", hex),
        ("parent_beacon_block_root", "parentBeaconBlockRoot", encode_hex),
        ("requests_hash", "requestsHash", encode_hex),
    ):
        if hasattr(header, attr):
            out[key] = enc(getattr(header, attr))
    return out


def _field_differences(header: BlockHeaderAPI, block0: dict[str, Any]) -> list[str]:
    diffs = []
    for key, mine in _served_form(header).items():
        theirs = block0.get(key)
        same = (theirs is not None and (int(str(theirs), 16) == int(mine, 16)
                if key in ("difficulty", "gasLimit", "gasUsed", "timestamp", "baseFeePerGas",
                           "blobGasUsed", "excessBlobGas") else str(theirs).lower() == mine))
        if not same:
            diffs.append(f"{key} served {theirs} rebuilt {mine}")
    return diffs


def _shape_problems(block0: dict[str, Any], has_alloc: bool) -> list[str]:
    """Why block 0 cannot be a coledger genesis at all (empty list: it may be one)."""
    problems = []
    if str(block0.get("extraData", "0x")).lower() != _NODE_EXTRA_DATA:
        problems.append(f"extra data {block0.get('extraData')} (coledger: {_NODE_EXTRA_DATA})")
    if int(str(block0.get("baseFeePerGas", "0x1")), 16) != 0:
        problems.append(f"base fee {block0.get('baseFeePerGas')} (coledger: 0)")
    if int(str(block0.get("difficulty", "0x0")), 16) != 0:
        problems.append(f"difficulty {block0.get('difficulty')} (coledger: 0)")
    if "requestsHash" not in block0:
        problems.append("no requestsHash (coledger is Prague from block 0)")
    if not has_alloc and str(block0.get("stateRoot")) != encode_hex(BLANK_ROOT_HASH):
        problems.append(f"state root {block0.get('stateRoot')} is not the empty state "
                        "(pass --genesis with the node's genesis.json if it has an alloc)")
    return problems


def rebuild_genesis(db: AtomicDatabaseAPI, block0: dict[str, Any], chain_id: int,
                    spec_override: GenesisSpec | None = None) -> RebuiltGenesis:
    """Build genesis into ``db`` and require its hash to equal block 0's served hash."""
    alloc = spec_override.alloc if spec_override is not None else None
    spec = spec_from_block0(block0, chain_id, alloc)
    if spec_override is not None and spec_override.chain_id != chain_id:
        raise GenesisMismatchError(
            f"different genesis: the genesis file is for chain id {spec_override.chain_id}, "
            f"the node serves chain id {chain_id}")
    served = str(block0.get("hash"))
    try:
        chain = cast(MiningChain, chain_class(chain_id).from_genesis(
            db, genesis_header_params(spec), cast(Any, genesis_state(spec))))
    except Exception as exc:  # py-evm validation of odd header fields (e.g. long extra data)
        raise UnsupportedChainError(f"{_UNSUPPORTED}: {type(exc).__name__}: {exc}") from exc
    header = chain.get_canonical_block_header_by_number(BlockNumber(0))
    rebuilt = encode_hex(header.hash)
    if rebuilt != served:
        diffs = _field_differences(header, block0) or ["the served hash itself"]
        problems = _shape_problems(block0, bool(alloc))
        if problems:
            raise UnsupportedChainError(
                f"{_UNSUPPORTED} ({'; '.join(problems)}): expected {served}, rebuilt {rebuilt}; "
                f"differing: {'; '.join(diffs)}")
        raise GenesisMismatchError(f"different genesis: expected {served}, rebuilt {rebuilt}; "
                                   f"differing: {'; '.join(diffs)}")
    return RebuiltGenesis(chain=chain, header=header, spec=spec)
