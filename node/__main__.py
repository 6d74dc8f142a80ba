"""``python -m node``: run one embedded node until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .config import NodeConfig
from .errors import NodeError
from .node import EmbeddedNode

__all__ = ["main"]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m node", description="coledger embedded node")
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--port", type=int, default=8545)
    p.add_argument("--chain-id", type=int, default=1337)
    p.add_argument("--block-period", type=float, default=1.0)
    p.add_argument("--bootstrap-address", required=True)
    p.add_argument("--validator-key-file", required=True, type=Path)
    p.add_argument("--consortium-address", default=None)
    p.add_argument("--allow-time-travel", action="store_true")
    p.add_argument("--block-gas-limit", type=int, default=60_000_000)
    p.add_argument("--max-nonce-gap", type=int, default=64)
    p.add_argument("--mempool-limit", type=int, default=100_000)
    p.add_argument("--ws-max-connections", type=int, default=128,
                   help="WebSocket connections on the JSON-RPC port (default 128)")
    p.add_argument("--ws-max-subscriptions", type=int, default=128,
                   help="eth_subscribe subscriptions per WebSocket connection (default 128)")
    p.add_argument("--ws-send-queue", type=int, default=4096,
                   help="frames queued for a WebSocket client before it is cut off as too "
                        "slow (default 4096)")
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--unsafe-skip-store-check", action="store_true",
                   help="serve the store without the start-time integrity check (inspecting a "
                        "damaged copy; never a ledger in service)")
    p.add_argument("--stock-evm", action="store_true",
                   default=os.environ.get("COLEDGER_STOCK_EVM", "") not in ("", "0"),
                   help="execute with py-evm's own opcode loop (slower; same results), "
                        "default from $COLEDGER_STOCK_EVM")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        key_hex = args.validator_key_file.read_text().strip()
        key = bytes.fromhex(key_hex[2:] if key_hex.startswith("0x") else key_hex)
    except (OSError, ValueError) as exc:
        print(f"cannot read validator key from {args.validator_key_file}: {exc}",
              file=sys.stderr)
        return 2
    config = NodeConfig(
        data_dir=args.data_dir, validator_key=key, bootstrap_address=args.bootstrap_address,
        chain_id=args.chain_id, port=args.port, block_period=args.block_period,
        block_gas_limit=args.block_gas_limit, consortium_address=args.consortium_address,
        allow_time_travel=args.allow_time_travel, max_nonce_gap=args.max_nonce_gap,
        mempool_limit=args.mempool_limit, stock_evm=args.stock_evm,
        check_store=not args.unsafe_skip_store_check,
        ws_max_connections=args.ws_max_connections,
        ws_max_subscriptions=args.ws_max_subscriptions, ws_send_queue=args.ws_send_queue,
    )
    node = EmbeddedNode(config)
    try:
        node.start()
    except (NodeError, ValueError, OSError) as exc:
        print(f"cannot start node: {exc}", file=sys.stderr)
        return 1
    print(f"coledger node listening on {node.url}", flush=True)
    node.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
