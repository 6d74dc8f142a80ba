"""Time the full store check (`coledger node check`) on a chain of many blocks.

    python scripts/bench_node_check.py --blocks 300 --txs-per-block 10 [--dir DIR] [--all-states]

Builds the chain in process into DIR (a temporary directory by default; an existing DIR/chain is
reused) with the same generator as ``scripts/bench_start_check.py`` (blocks of signed transfers),
then runs the check once and prints blocks and transactions per second. The default is small so
that it runs in well under a minute; ``--blocks 5000`` builds the start-check benchmark's chain.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.store_check import check_store  # noqa: E402
from tests.node._chain_file import build_chain  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--blocks", type=int, default=300)
    p.add_argument("--txs-per-block", type=int, default=10)
    p.add_argument("--dir", type=Path, default=None)
    p.add_argument("--all-states", action="store_true")
    args = p.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench-node-check-"))
    chain = root / "chain"
    if not (chain / "chain.sqlite").exists():
        t = time.perf_counter()
        head, txs = build_chain(chain, args.blocks, args.txs_per_block)
        print(f"built {head} blocks, {txs} transactions in {time.perf_counter() - t:.1f} s")
    store = chain / "chain.sqlite"
    report = check_store(store, all_states=args.all_states)
    assert report.ok, report.first_failure
    size = os.path.getsize(store) / 1e6
    print(f"node check: {report.blocks} blocks, {report.transactions} transactions, {size:.1f} MB, "
          f"{report.state_roots} state root(s) ({report.state['nodes']} nodes): {report.seconds:.1f} s "
          f"= {report.blocks / report.seconds:,.0f} blocks/s, {report.transactions / report.seconds:,.0f} tx/s")
    print(f"store: {store}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
