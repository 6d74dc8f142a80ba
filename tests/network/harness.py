"""Start a real consortium network for tests: CometBFT validators with the node as their app.

Each network gets its own random block of loopback addresses (127.X.Y.11 and up), so test runs
never collide with each other or with a network a developer is running on the default ports.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from pathlib import Path

from client.network import NetworkRunner
from client.validators import GenesisValidator
from node.cometbft.home import create_network, load_validator_spec
from node.cometbft.toolchain import ensure_cometbft

__all__ = ["start_test_network", "random_first_host", "genesis_validators"]


def random_first_host() -> str:
    return f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.11"


def start_test_network(root: Path, bootstrap: str, validators: int = 4, chain_id: int = 1337,
                       extra_env: dict[int, dict[str, str]] | None = None,
                       before_start: Callable[[Path], None] | None = None) -> NetworkRunner:
    """Create and start a network of ``validators``; every validator's JSON-RPC answers."""
    binary = ensure_cometbft(None)
    monikers = [f"bank-{i}" for i in range(validators)]
    create_network(root, binary, monikers, chain_id=chain_id, bootstrap_address=bootstrap,
                   first_host=random_first_host())
    if before_start is not None:
        before_start(root)
    runner = NetworkRunner(root, extra_env=extra_env)
    try:
        runner.start()
    except BaseException:
        runner.stop()
        raise
    return runner


def genesis_validators(root: Path, first_member: int) -> list[GenesisValidator]:
    """The network's genesis validators for the Consortium's constructor: validator i belongs to
    member ``first_member + i`` (one institution, one validator, power 10 as in the genesis)."""
    out = []
    for home in sorted(root.glob("validator-*"), key=lambda p: int(p.name.split("-")[1])):
        spec = load_validator_spec(home)
        key = json.loads((home / "cometbft" / "config" / "priv_validator_key.json").read_text())
        out.append(GenesisValidator(first_member + spec.index,
                                    base64.b64decode(key["pub_key"]["value"]), 10,
                                    bytes.fromhex(spec.node_id)))
    return out
