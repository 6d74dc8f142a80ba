"""Configuration of one embedded node (immutable, passed in by the CLI or tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["NodeConfig"]


@dataclass(frozen=True)
class NodeConfig:
    """Everything needed to open a data dir and serve it.

    The validator key only signs block seals; user keys never reach the node.
    """

    data_dir: Path
    validator_key: bytes
    bootstrap_address: str
    chain_id: int = 1337
    host: str = "127.0.0.1"
    port: int = 8545
    block_period: float = 1.0
    block_gas_limit: int = 60_000_000
    consortium_address: str | None = None
    allow_time_travel: bool = False
    max_nonce_gap: int = 64
    mempool_limit: int = 100_000
    max_log_block_range: int = 100_000
    max_log_results: int = 10_000
    #: execute with py-evm's own opcode loop instead of node.fastevm's (same results, slower)
    stock_evm: bool = False
    #: browser origins allowed to call the JSON-RPC beyond the local ones (node.cors; "*": any)
    cors_origins: tuple[str, ...] = ()
    #: WebSocket connections on the JSON-RPC port (beyond them an upgrade gets 503)
    ws_max_connections: int = 128
    #: eth_subscribe subscriptions one WebSocket connection may hold
    ws_max_subscriptions: int = 128
    #: frames queued for one WebSocket client before it counts as too slow and is cut off
    ws_send_queue: int = 4096
    #: run the start-time store check (node.integrity). False serves a store the check would
    #: refuse: for inspecting a damaged copy, and for tests that play a node serving bad data;
    #: never for a ledger in service.
    check_store: bool = True
