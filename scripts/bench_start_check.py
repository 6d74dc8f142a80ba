"""Time the node's start-time store check (quick_check + head walk) on a chain of many blocks.

    python scripts/bench_start_check.py --blocks 5000 --txs-per-block 10 [--dir DIR] [--repeat 3]

Builds the chain in process into DIR (a temporary directory by default; an existing DIR/chain is
reused), then opens it ``--repeat`` times as the node does (``ChainCore``) and prints the
check's share of each open: SQLite ``PRAGMA quick_check``, the head walk, and the whole open.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.core import ChainCore  # noqa: E402
from tests.node._chain_file import CHAIN_ID, GAS_LIMIT, build_chain  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--blocks", type=int, default=5000)
    p.add_argument("--txs-per-block", type=int, default=10)
    p.add_argument("--dir", type=Path, default=None)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench-start-check-"))
    chain = root / "chain"
    if not (chain / "chain.sqlite").exists():
        t = time.perf_counter()
        head, txs = build_chain(chain, args.blocks, args.txs_per_block)
        print(f"built {head} blocks, {txs} transactions in {time.perf_counter() - t:.1f} s")
    size = os.path.getsize(chain / "chain.sqlite") / 1e6
    for i in range(args.repeat):
        t = time.perf_counter()
        core = ChainCore(chain, CHAIN_ID, GAS_LIMIT)
        total = time.perf_counter() - t
        c = core.start_check
        core.close()
        print(f"open {i + 1}: head {c.head}, {c.transactions} transactions, {size:.1f} MB: quick_check "
              f"{c.quick_check_seconds * 1000:.0f} ms, head walk {c.walk_seconds * 1000:.0f} ms, "
              f"whole open {total * 1000:.0f} ms")
    print(f"store: {chain / 'chain.sqlite'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
