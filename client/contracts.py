"""Contract bindings from the committed artifacts, and the deploy routine.

The Consortium is always the first contract the bootstrap key creates (its nonce 0): the embedded
node derives the Consortium's address from that rule for admission, and `deploy_consortium` is
idempotent by checking the code at that address.
"""

from __future__ import annotations

from typing import Any

import rlp
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract

from client._abi import encode_constructor_args
from client.artifacts import load_artifact
from client.errors import DeploymentError
from client.tx import Call, TransactionPipeline

__all__ = ["bind", "create_address", "deploy", "deploy_call"]


def create_address(sender: str, nonce: int) -> str:
    """The address a CREATE from `sender` at `nonce` deploys to."""
    raw = keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:]
    return str(to_checksum_address(raw))


def bind(w3: Web3, name: str, address: str) -> Contract:
    """A web3 contract object for artifact `name` at `address` (checked to have code)."""
    checksum = to_checksum_address(address)
    if not w3.eth.get_code(checksum):
        raise DeploymentError(f"no contract code at {checksum} (expected {name})")
    return w3.eth.contract(address=checksum, abi=load_artifact(name).abi)


def deploy_call(name: str, *args: Any) -> Call:
    """The creation `Call` for artifact `name` with constructor `args`."""
    artifact = load_artifact(name)
    data = artifact.bytecode + encode_constructor_args(artifact.abi, tuple(args))
    return Call(to=None, data=data, label=name)


def deploy(pipeline: TransactionPipeline, name: str, *args: Any) -> str:
    """Deploy artifact `name`; returns its address once the creation is in a durable block."""
    receipt = pipeline.transact(deploy_call(name, *args))
    address = receipt.get("contractAddress")
    if not address:
        raise DeploymentError(f"deploying {name} produced no contract address")
    return str(to_checksum_address(address))
