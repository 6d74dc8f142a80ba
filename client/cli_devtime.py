"""`coledger node advance-time`: move a dev node's clock forward (days past due in minutes).

Why a verb of its own: the delinquency story (days past due, the collection ladder, default,
arbitration) needs months to pass. A node started with `--allow-time-travel` exposes
`evm_increaseTime` / `evm_mine`; this verb calls them and seals one block at the new time, so the
next command sees the later clock. A node started without the flag (every production node, and
every CometBFT validator) refuses, and the verb says so in one line.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from client.config import DataDir
from client.connection import DEFAULT_RPC_URL, connect
from client.errors import CoLedgerError

__all__ = ["TimeTravelRefused", "add_advance_time_command", "advance_time"]

DAY = 86_400
#: JSON-RPC error code of a dev time-control method the node does not offer (node.errors).
_METHOD_UNAVAILABLE = -32601


class TimeTravelRefused(CoLedgerError):
    """The node does not allow time travel (started without `--allow-time-travel`)."""


def add_advance_time_command(node_actions: Any) -> None:
    """Add `advance-time` under `coledger node`."""
    p = node_actions.add_parser(
        "advance-time", help="move a dev node's clock forward (node started with --allow-time-travel)")
    p.add_argument("--data-dir", type=Path, default=Path("./coledger-data"),
                   help="the node's data dir (its deployment.json names the JSON-RPC URL)")
    p.add_argument("--rpc", help=f"JSON-RPC URL (default: the data dir's node, else {DEFAULT_RPC_URL})")
    amount = p.add_mutually_exclusive_group(required=True)
    amount.add_argument("--days", type=_positive, help="days to move forward")
    amount.add_argument("--seconds", type=_positive, help="seconds to move forward")
    p.set_defaults(func=_cmd_advance_time)


def _positive(text: str) -> int:
    """argparse type: a positive whole number."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def advance_time(url: str, seconds: int) -> tuple[int, int]:
    """Move the node's clock forward by `seconds` and seal a block: (block number, timestamp)."""
    w3 = connect(url)
    for method, params in (("evm_increaseTime", [seconds]), ("evm_mine", [])):
        answer = w3.provider.make_request(method, params)  # type: ignore[arg-type]
        error = answer.get("error")
        if error:
            if error.get("code") == _METHOD_UNAVAILABLE:
                raise TimeTravelRefused(
                    f"the node at {url} does not allow time travel: only a dev node started with "
                    "`coledger node start --allow-time-travel` can move its clock")
            raise CoLedgerError(f"{method} failed at {url}: {error.get('message', error)}")
    block = w3.eth.get_block("latest")
    return int(block["number"]), int(block["timestamp"])


def _cmd_advance_time(args: argparse.Namespace) -> int:
    url = args.rpc
    if url is None:
        data = DataDir(args.data_dir)
        url = data.read_deployment().get("rpc_url", DEFAULT_RPC_URL) if data.deployment.is_file() \
            else DEFAULT_RPC_URL
    seconds = args.seconds if args.seconds is not None else args.days * DAY
    number, timestamp = advance_time(url, seconds)
    when = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    print(f"chain time moved {seconds} s forward: block {number} at {when} ({timestamp})")
    return 0
