"""coledger embedded private-chain node: py-evm + durable SQLite store + JSON-RPC."""

from .config import NodeConfig
from .errors import NodeError
from .evm import chain_class, genesis_header_params, genesis_state
from .node import EmbeddedNode

__all__ = [
    "EmbeddedNode",
    "NodeConfig",
    "NodeError",
    "chain_class",
    "genesis_header_params",
    "genesis_state",
]
