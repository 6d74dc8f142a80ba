"""Create the validator homes of a coledger network: keys, one shared genesis, configs.

Each validator gets ``<dir>/validator-<i>/`` holding ``cometbft/`` (CometBFT's home: its node
key, consensus key, genesis and config), ``chain/`` (the ledger's SQLite store, created on first
start) and ``node.json`` (its addresses). Every validator listens on its own loopback address
(``127.0.0.x``) with the same ports, as separate hosts would.

Why the genesis is built here rather than by ``cometbft testnet``: testnet writes one port for all
peers and lists a node among its own peers; building the document from each ``cometbft init``'s
keys is shorter than repairing it, and it lets the genesis carry the ledger's own genesis
(``app_state``, see :mod:`node.cometbft.genesis`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_utils import encode_hex

from ..errors import NodeError
from ..evm import GenesisSpec
from .engine import BROADCAST_BATCH
from .genesis import NetworkGenesis, cometbft_chain_id, ethereum_genesis_hash

__all__ = [
    "HomeError",
    "ValidatorPorts",
    "ValidatorSpec",
    "create_network",
    "load_validator_spec",
    "patch_toml",
    "NODE_FILE",
]

NODE_FILE = "node.json"
#: consensus timing for a small consortium on one LAN (or one machine): a block every
#: ~0.3 s under load, nothing while idle
_CONSENSUS = {
    "timeout_propose": '"3s"',
    "timeout_prevote": '"1s"',
    "timeout_precommit": '"1s"',
    "timeout_commit": '"100ms"',
    "create_empty_blocks": "false",
}


class HomeError(NodeError):
    """A validator home cannot be created or read."""


@dataclass(frozen=True)
class ValidatorPorts:
    rpc: int = 8545  # the ledger's JSON-RPC (what clients use)
    engine_rpc: int = 26657  # CometBFT's RPC (loopback, this validator's app only)
    p2p: int = 26656


@dataclass(frozen=True)
class ValidatorSpec:
    """What ``node.json`` records about one validator (read by its process and the network)."""

    index: int
    moniker: str
    host: str
    ports: ValidatorPorts
    node_id: str
    validator_address: str  # CometBFT address (hex): the blocks' coinbase

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.ports.rpc}"

    @property
    def engine_url(self) -> str:
        return f"http://{self.host}:{self.ports.engine_rpc}"

    @property
    def p2p_address(self) -> str:
        return f"{self.node_id}@{self.host}:{self.ports.p2p}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def load_validator_spec(home: Path) -> ValidatorSpec:
    path = Path(home) / NODE_FILE
    try:
        raw = json.loads(path.read_text())
        return ValidatorSpec(index=int(raw["index"]), moniker=str(raw["moniker"]),
                             host=str(raw["host"]), ports=ValidatorPorts(**raw["ports"]),
                             node_id=str(raw["node_id"]),
                             validator_address=str(raw["validator_address"]))
    except FileNotFoundError as exc:
        raise HomeError(f"{home} is not a validator home: no {NODE_FILE} "
                        f"(create one with `coledger network init`)") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HomeError(f"{path} is unreadable or malformed: {exc!r}") from exc


def patch_toml(text: str, changes: dict[str, dict[str, str]]) -> str:
    """Set ``key = value`` lines inside ``[section]``s of CometBFT's config.toml ("" = top).

    Values are TOML literals. Every key must already exist: a key CometBFT renamed fails loudly
    instead of being silently ignored.
    """
    pending = {(sec, key) for sec, keys in changes.items() for key in keys}
    section = ""
    out = []
    for line in text.splitlines():
        header = re.match(r"^\[([A-Za-z0-9_.]+)\]\s*$", line)
        if header:
            section = header.group(1)
        else:
            m = re.match(r"^([A-Za-z0-9_]+)\s*=", line)
            if m and m.group(1) in changes.get(section, {}):
                key = m.group(1)
                line = f"{key} = {changes[section][key]}"
                pending.discard((section, key))
        out.append(line)
    if pending:
        raise HomeError(f"CometBFT config.toml has no {sorted(pending)}: version mismatch?")
    return "\n".join(out) + "\n"


def _hosts(first_host: str, count: int) -> list[str]:
    first = ipaddress.IPv4Address(first_host)
    if not first.is_loopback:
        raise HomeError(f"--first-host {first_host} is not a loopback address (127.0.0.0/8)")
    hosts = [str(first + i) for i in range(count)]
    if not ipaddress.IPv4Address(hosts[-1]).is_loopback:
        raise HomeError(f"{count} validators from {first_host} leave 127.0.0.0/8")
    return hosts


def _run(binary: Path, *args: str) -> str:
    try:
        done = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60,
                              check=False)
    except OSError as exc:
        raise HomeError(f"cannot run {binary}: {exc}") from exc
    if done.returncode != 0:
        raise HomeError(f"`cometbft {' '.join(args)}` failed: {done.stderr.strip()[-500:]}")
    return done.stdout.strip()


def _genesis_time() -> tuple[str, int]:
    """Now, whole seconds (the Ethereum genesis timestamp is the same instant)."""
    seconds = int(time.time())
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000000000Z")
    return text, seconds


def create_network(
    out: Path,
    cometbft: Path,
    monikers: list[str],
    *,
    chain_id: int,
    bootstrap_address: str,
    block_gas_limit: int = 60_000_000,
    first_host: str = "127.0.0.11",
    ports: ValidatorPorts | None = None,
) -> list[ValidatorSpec]:
    """Create one home per moniker under ``out`` sharing one genesis; return their specs."""
    ports = ports or ValidatorPorts()
    out = Path(out)
    if any(out.glob("validator-*")):
        raise HomeError(f"{out} already holds validator homes; choose an empty directory")
    hosts = _hosts(first_host, len(monikers))
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)  # consensus keys inside
    homes = [out / f"validator-{i}" for i in range(len(monikers))]
    specs: list[ValidatorSpec] = []
    validators: list[dict[str, Any]] = []
    for i, (home, moniker, host) in enumerate(zip(homes, monikers, hosts, strict=True)):
        engine_home = home / "cometbft"
        home.mkdir(mode=0o700)
        _run(cometbft, "init", "--home", str(engine_home))
        node_id = _run(cometbft, "show-node-id", "--home", str(engine_home))
        key = json.loads((engine_home / "config" / "priv_validator_key.json").read_text())
        validators.append({"address": key["address"], "pub_key": key["pub_key"], "power": "10",
                           "name": moniker})
        specs.append(ValidatorSpec(index=i, moniker=moniker, host=host, ports=ports,
                                   node_id=node_id, validator_address=key["address"].lower()))

    genesis_time, seconds = _genesis_time()
    spec = GenesisSpec(chain_id=chain_id, gas_limit=block_gas_limit, timestamp=seconds,
                       extra_data=encode_hex(b"coledger"))
    ledger = NetworkGenesis(spec=spec, genesis_hash=ethereum_genesis_hash(spec),
                            bootstrap=bootstrap_address, chain_id=cometbft_chain_id(chain_id),
                            node_ids=tuple(s.node_id.lower() for s in specs))
    template = json.loads((homes[0] / "cometbft" / "config" / "genesis.json").read_text())
    params = template["consensus_params"]
    params["block"]["max_gas"] = str(block_gas_limit)  # proposals never exceed a block's gas
    params["block"]["max_bytes"] = str(8 * 1024 * 1024)
    params["version"]["app"] = "1"
    genesis = {
        "genesis_time": genesis_time,
        "chain_id": ledger.chain_id,
        "initial_height": "1",
        "consensus_params": params,
        "validators": validators,
        "app_hash": "",
        "app_state": ledger.app_state(),
    }
    genesis_text = json.dumps(genesis, indent=2) + "\n"

    for home, vspec in zip(homes, specs, strict=True):
        engine_config = home / "cometbft" / "config"
        (engine_config / "genesis.json").write_text(genesis_text)
        peers = ",".join(s.p2p_address for s in specs if s.index != vspec.index)
        config_path = engine_config / "config.toml"
        config_path.write_text(patch_toml(config_path.read_text(), engine_config_changes(
            home, vspec, peers)))
        (home / NODE_FILE).write_text(vspec.to_json())
    return specs


def engine_config_changes(home: Path, spec: ValidatorSpec, peers: str) -> dict[str, dict[str, str]]:
    """The config.toml settings coledger needs (everything else stays CometBFT's default)."""
    from .producer import abci_socket_path  # the one place that knows the socket's path

    return {
        "": {
            "proxy_app": json.dumps(f"unix://{abci_socket_path(home)}"),
            "moniker": json.dumps(spec.moniker),
            # every peer is asked of the app first: only the consortium's nodes may connect
            "filter_peers": "true",
            "log_level": json.dumps("info"),
        },
        "rpc": {"laddr": json.dumps(f"tcp://{spec.host}:{spec.ports.engine_rpc}"),
                # the node forwards a JSON-RPC batch of raw transactions in batches this size
                "max_request_batch_size": str(BROADCAST_BATCH)},
        "p2p": {
            "laddr": json.dumps(f"tcp://{spec.host}:{spec.ports.p2p}"),
            "external_address": json.dumps(f"{spec.host}:{spec.ports.p2p}"),
            "persistent_peers": json.dumps(peers),
            "addr_book_strict": "false",  # loopback and private addresses are real peers here
            "allow_duplicate_ip": "true",  # every validator of one machine shares 127/8
            "pex": "false",  # the consortium's validators are listed; no discovery
            "persistent_peers_max_dial_period": json.dumps("5s"),
        },
        "mempool": {"size": "20000"},
        "consensus": dict(_CONSENSUS),
        "tx_index": {"indexer": json.dumps("null")},  # the ledger serves receipts itself
    }


def add_joining_home(out: Path, cometbft: Path, moniker: str) -> ValidatorSpec:
    """A new validator home beside a network's existing ones, for an institution that joins.

    It gets its own keys, the network's genesis byte for byte, the next loopback host and the
    existing validators as persistent peers. It syncs as a full node; it validates from two
    heights after governance adds its key to the Consortium's registry (``coledger consortium
    propose add-validator --validator-home …``), and until the registry lists its node id the
    others refuse it as a peer — so propose first, then start it.
    """
    out = Path(out)
    existing = sorted(out.glob("validator-*"), key=lambda p: int(p.name.split("-")[1]))
    if not existing:
        raise HomeError(f"{out} holds no network to join")
    specs = [load_validator_spec(h) for h in existing]
    index = max(s.index for s in specs) + 1
    last = ipaddress.IPv4Address(max((s.host for s in specs), key=ipaddress.IPv4Address))
    host = str(last + 1)
    if not ipaddress.IPv4Address(host).is_loopback:
        raise HomeError(f"no loopback address left after {last}")
    home = out / f"validator-{index}"
    home.mkdir(mode=0o700)
    engine_home = home / "cometbft"
    _run(cometbft, "init", "--home", str(engine_home))
    node_id = _run(cometbft, "show-node-id", "--home", str(engine_home))
    key = json.loads((engine_home / "config" / "priv_validator_key.json").read_text())
    spec = ValidatorSpec(index=index, moniker=moniker, host=host, ports=specs[0].ports,
                         node_id=node_id, validator_address=key["address"].lower())
    genesis = (existing[0] / "cometbft" / "config" / "genesis.json").read_text()
    (engine_home / "config" / "genesis.json").write_text(genesis)
    config_path = engine_home / "config" / "config.toml"
    peers = ",".join(s.p2p_address for s in specs)
    config_path.write_text(patch_toml(config_path.read_text(), engine_config_changes(
        home, spec, peers)))
    (home / NODE_FILE).write_text(spec.to_json())
    return spec
