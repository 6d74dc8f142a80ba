"""`coledger node start`: keys, embedded node, first-start deployment, then serve.

First start on an empty data dir: copy the consortium config in, create the encrypted keystores
(validator + every member), start the embedded node, deploy the Consortium from the bootstrap key
with the config's members as its founding charter, and record the deployment. Later starts reuse
all of it and deploy nothing (the Consortium's address is fixed by the bootstrap key's nonce 0).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from client.config import DEMO_CONFIG, ConsortiumConfig, DataDir, load_consortium_config
from client.connection import connect
from client.consortium import CharterMember, ConsortiumClient, deploy_consortium
from client.datadir_check import require_chain_if_deployed
from client.errors import ConfigError, NodeStartError
from client.keys import Keystore, demo_password
from client.private_files import ensure_private_dir
from client.suite import deploy_evidence, deploy_flows, deploy_lending
from client.tx import TransactionPipeline

__all__ = ["Deployment", "NodeStartOptions", "ensure_deployed", "prepare_and_start"]


@dataclass(frozen=True)
class NodeStartOptions:
    data_dir: Path
    config: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8545
    block_period: float | None = None
    allow_time_travel: bool = False
    cors_origins: tuple[str, ...] = ()
    ws_max_connections: int = 128


def _config_for(data: DataDir, requested: Path | None) -> ConsortiumConfig:
    if data.config.is_file():
        if requested is not None and requested.resolve() != data.config.resolve():
            if requested.read_text() != data.config.read_text():
                raise ConfigError(
                    f"{data.root} was created with another consortium config ({data.config}); "
                    "a data dir keeps the charter it was founded with"
                )
        return load_consortium_config(data.config)
    source = requested or DEMO_CONFIG
    config = load_consortium_config(source)  # validate before copying
    ensure_private_dir(data.root)
    data.write_file(data.config, source.read_bytes())
    return config


def prepare_and_start(options: NodeStartOptions, out: TextIO = sys.stdout):  # type: ignore[no-untyped-def]
    """Start the node and make sure the consortium is deployed; returns the running node."""
    from node import EmbeddedNode, NodeConfig  # the node is only needed by this command
    from node.errors import NodeError

    data = DataDir(options.data_dir)
    require_chain_if_deployed(data)  # before anything is created: a lost chain is not a first start
    config = _config_for(data, options.config)
    ensure_private_dir(data.root)  # keystores and evidence live here: owner only
    keystore = Keystore(data.keystore, demo_password(data.keystore))
    validator = keystore.load_or_create(config.validator)
    accounts = {m.key: keystore.load_or_create(m.key) for m in config.members}
    bootstrap = accounts[config.bootstrap]

    node_config = (
        NodeConfig(
            data_dir=data.chain,
            validator_key=bytes(validator.key),
            bootstrap_address=bootstrap.address,
            chain_id=config.chain_id,
            host=options.host,
            port=options.port,
            block_period=config.block_period if options.block_period is None else options.block_period,
            allow_time_travel=options.allow_time_travel,
            cors_origins=options.cors_origins,
            ws_max_connections=options.ws_max_connections,
        )
    )
    deployed_privately = False
    if not data.deployment.is_file():
        # First start: deploy through a private loopback port, so that the public port opens
        # only once the consortium exists (a script polling eth_blockNumber never races it).
        print("first start: deploying the consortium before opening the JSON-RPC port", file=out)
        out.flush()
        deployed_privately = _deploy_privately(replace(node_config, host="127.0.0.1", port=0),
                                               data, config, accounts).deployed_now
    node = EmbeddedNode(node_config)
    try:
        node.start()
    except NodeError as exc:  # e.g. StoreCorruptError: the message names what and the recovery
        raise NodeStartError(str(exc)) from exc
    try:  # finds what is deployed (and finishes a deployment an earlier start left half-done)
        deployment = ensure_deployed(node.url, data, config, accounts)
    except BaseException:
        node.stop()
        raise
    if deployed_privately:
        deployment = replace(deployment, deployed_now=True)
    deployment.print_summary(f"coledger node serving JSON-RPC at {node.url} "
                             f"(chain id {config.chain_id})", out)
    print(f"keys: {data.keystore} (encrypted); data: {data.chain}; stop with Ctrl-C", file=out)
    out.flush()
    return node


def _deploy_privately(node_config: Any, data: DataDir, config: ConsortiumConfig,
                      accounts: dict[str, Any]) -> Deployment:
    """Run the node on ``node_config`` (an ephemeral loopback port) just long enough to deploy."""
    from node import EmbeddedNode
    from node.errors import NodeError

    node = EmbeddedNode(node_config)
    try:
        node.start()
    except NodeError as exc:
        raise NodeStartError(str(exc)) from exc
    try:
        return ensure_deployed(node.url, data, config, accounts)
    finally:
        node.stop()


@dataclass(frozen=True)
class Deployment:
    """What :func:`ensure_deployed` found or deployed."""

    consortium: str
    deployed_now: bool
    lending: dict[str, str]
    flows: str
    evidence: dict[str, str]
    members: list[Any]

    def print_summary(self, headline: str, out: TextIO) -> None:
        verb = "deployed" if self.deployed_now else "found"
        print(headline, file=out)
        print(f"Consortium {verb} at {self.consortium}; {len(self.members)} active members:",
              file=out)
        for m in self.members:
            roles = ",".join(sorted(r.name.lower().replace("_", "-") for r in m.roles))
            print(f"  #{m.member_id} {m.name:<24} {m.key}  {roles}", file=out)
        print(f"lending contracts: {', '.join(f'{k} {v}' for k, v in self.lending.items())}, "
              f"FundFlows {self.flows}", file=out)
        print(f"evidence contracts: {', '.join(f'{k} {v}' for k, v in self.evidence.items())}",
              file=out)


def ensure_deployed(rpc_url: str, data: DataDir, config: ConsortiumConfig,
                    accounts: dict[str, Any], extra: dict[str, Any] | None = None,
                    validators: Sequence[Any] = ()) -> Deployment:
    """Deploy the Consortium and the contract suite from the bootstrap key unless already there
    (a fixed address per bootstrap nonce), and write the deployment record. ``validators``: a
    network's genesis validators, registered in the Consortium at its deployment."""
    w3 = connect(rpc_url)
    pipeline = TransactionPipeline(w3, accounts[config.bootstrap])
    charter = [CharterMember(m.name, accounts[m.key].address, m.roles) for m in config.members]
    address, deployed_now = deploy_consortium(
        pipeline, charter, config.threshold, config.proposal_lifetime, validators=validators
    )
    recorded = data.read_deployment()["contracts"] if data.deployment.is_file() else {}
    lending, _ = deploy_lending(pipeline, address, recorded)
    flows = deploy_flows(pipeline, address, lending.LoanLedger, recorded)
    evidence = deploy_evidence(pipeline, address, lending.LoanLedger, recorded)
    data.write_deployment({
        "chain_id": config.chain_id,
        "rpc_url": rpc_url,
        "contracts": {"Consortium": address, **lending.as_dict(), "FundFlows": flows,
                      **evidence.as_dict()},
        **(extra or {}),
    })
    members = ConsortiumClient(w3, address).members()
    return Deployment(address, deployed_now, lending.as_dict(), flows, evidence.as_dict(),
                      members)
