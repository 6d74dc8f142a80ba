"""coledger embedded private-chain node: py-evm + durable SQLite store + JSON-RPC."""

from .keccak import use_fast_keccak

use_fast_keccak()  # before py-evm hashes anything: same Keccak-256, in C (see node.keccak)

from ._guard import sane_recursion_limit  # noqa: E402
from .config import NodeConfig  # noqa: E402
from .errors import NodeError  # noqa: E402
from .evm import chain_class, genesis_header_params, genesis_state  # noqa: E402
from .node import EmbeddedNode  # noqa: E402

sane_recursion_limit()  # py_ecc raised it to 100,000 on import: a C-stack overflow waiting to happen

__all__ = [
    "EmbeddedNode",
    "NodeConfig",
    "NodeError",
    "chain_class",
    "genesis_header_params",
    "genesis_state",
]
