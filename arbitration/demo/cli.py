"""`coledger demo --data-dir DIR [--no-serve]`: the parser; the work is `story.run_demo`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add `demo` to the top-level subparsers (called by `arbitration.cli.register`)."""
    p = sub.add_parser(
        "demo", help="play the whole story on a dev node in a few minutes, then serve it",
        description="Start a time-travel dev node and the arbitration API in DIR, play the whole story "
                    "(consortium, governed product, credit lines, co-lent drawdowns, fund-flow verdicts, "
                    "repayments, a default through the collection ladder, evidence, a case, the award, "
                    "the auditor's replay and report), print where to look, and serve until Ctrl-C.")
    p.add_argument("--data-dir", type=Path, required=True,
                   help="a new or empty directory (or a played demo's, to serve it again)")
    p.add_argument("--no-serve", action="store_true", help="stop the node and the API right after the story")
    p.add_argument("--port", type=int, default=8545, help="node JSON-RPC port (a free one if taken)")
    p.add_argument("--api-port", type=int, default=8600, help="arbitration API port (a free one if taken)")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from .story import DemoOptions, run_demo

    return run_demo(DemoOptions(args.data_dir, serve=not args.no_serve, port=args.port,
                                api_port=args.api_port), sys.stdout)
