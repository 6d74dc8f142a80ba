"""`coledger network …`: create, run and inspect a consortium network on this machine."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["register", "cmd_node_start_validator"]

DEFAULT_NETWORK_DIR = Path("./coledger-network")


def register(sub: Any) -> None:
    net = sub.add_parser("network", help="a consortium network: one CometBFT validator per institution")
    net_sub = net.add_subparsers(dest="network_command", required=True, metavar="ACTION")

    init = net_sub.add_parser("init", help="create validator keys, the shared genesis and configs")
    init.add_argument("--validators", type=int, default=4,
                      help="number of validators (default 4; at least 4, or 1 for benchmarks)")
    init.add_argument("--dir", type=Path, default=DEFAULT_NETWORK_DIR,
                      help="where the network lives (default ./coledger-network)")
    init.add_argument("--config", type=Path, help="consortium config (default: the demo consortium)")
    init.add_argument("--first-host", default="127.0.0.11",
                      help="loopback address of validator 0; the others follow (default 127.0.0.11)")
    init.add_argument("--rpc-port", type=int, default=8545,
                      help="each validator's JSON-RPC port, on its own address (default 8545)")
    init.add_argument("--p2p-port", type=int, default=26656, help="CometBFT p2p (default 26656)")
    init.add_argument("--engine-rpc-port", type=int, default=26657,
                      help="CometBFT's own RPC (default 26657)")
    init.set_defaults(func=_cmd_init)

    start = net_sub.add_parser("start", help="run every validator; deploy the consortium on first start")
    start.add_argument("dir", type=Path, nargs="?", default=DEFAULT_NETWORK_DIR)
    start.set_defaults(func=_cmd_start)

    status = net_sub.add_parser("status", help="height, peers and last commit of each validator")
    status.add_argument("dir", type=Path, nargs="?", default=DEFAULT_NETWORK_DIR)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_cmd_status)


def _cmd_init(args: argparse.Namespace) -> int:
    from client.network import init_network

    specs = init_network(args.dir, args.validators, args.config, args.first_host, args.rpc_port,
                         args.p2p_port, args.engine_rpc_port)
    print(f"network of {len(specs)} validators created in {args.dir}:")
    for s in specs:
        print(f"  validator {s.index} {s.moniker:<12} JSON-RPC {s.rpc_url}  "
              f"p2p {s.host}:{s.ports.p2p}  home {args.dir / f'validator-{s.index}'}")
    print(f"start it with: coledger network start {args.dir}")
    return 0


def _cmd_start(args: argparse.Namespace) -> int:
    from client.network import NetworkRunner, deploy_network

    runner = NetworkRunner(args.dir)
    done = threading.Event()

    def _handler(signum: int, frame: Any) -> None:
        done.set()

    old = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    print(f"starting {len(runner.validators)} validators (the first start builds CometBFT if "
          f"needed)...", flush=True)
    try:
        runner.start()
        deploy_network(args.dir, runner.urls[0], runner.urls, sys.stdout)
        print("validators (JSON-RPC; any of them serves the same chain):")
        for v in runner.validators:
            print(f"  validator {v.index}: {v.rpc_url}   log {v.home / 'validator.log'}")
        print("stop with Ctrl-C", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        print("stopping validators...", flush=True)
        runner.stop()
        for s, h in old.items():
            signal.signal(s, h)
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from client.network import network_status

    rows = network_status(args.dir)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'#':<3}{'moniker':<13}{'JSON-RPC':<26}{'height':>8}{'peers':>7}{'validators':>11}  "
          f"last commit")
    for r in rows:
        height = "-" if r["height"] is None else str(r["height"])
        peers = "-" if r["peers"] is None else str(r["peers"])
        vals = "-" if r["validators"] is None else str(r["validators"])
        last = r["last_commit"] or r.get("error", "-")
        print(f"{r['validator']:<3}{r['moniker']:<13}{r['rpc_url']:<26}{height:>8}{peers:>7}"
              f"{vals:>11}  {last}")
    return 0 if all(r["height"] is not None for r in rows) else 1


def cmd_node_start_validator(home: Path) -> int:
    """`coledger node start --consensus cometbft --home DIR`: one validator in the foreground."""
    import logging

    from node.cometbft.__main__ import run_validator

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_validator(home)
