"""Record test vectors from a running coledger network's real CometBFT binary.

Why recorded vectors: the auditor's and the arbitrator's commit checks (``client/bft``) rebuild
CometBFT's header hash and vote sign bytes by hand; the unit tests compare them with blocks and
signatures the real binary produced, without needing a network to run. Re-record after a CometBFT
upgrade:

    coledger network init --dir /tmp/vec && coledger network start /tmp/vec   # another shell
    python scripts/make_bft_vectors.py --network /tmp/vec --heights 1-20 \
        --out tests/bft/vectors/cometbft-v0.38.26.json

Blocks made while one validator was stopped (SIGSTOP its cometbft, send a transaction) give
commits with an absent signature; the script records whatever the chain has.
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from pathlib import Path


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["result"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", type=Path, required=True, help="the network's directory")
    parser.add_argument("--heights", default="1-10", help="FIRST-LAST")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    home = args.network / "validator-0"
    genesis = json.loads((home / "cometbft" / "config" / "genesis.json").read_text())
    node = json.loads((home / "node.json").read_text())
    engine = f"http://{node['host']}:{node['ports']['engine_rpc']}"
    first, last = (int(x) for x in args.heights.split("-"))
    version = _get(f"{engine}/status")["node_info"]["version"]
    blocks = [_get(f"{engine}/commit?height={h}")["signed_header"] for h in range(first, last + 1)]
    doc = {
        "cometbft_version": version,
        "genesis": {"chain_id": genesis["chain_id"], "validators": genesis["validators"]},
        "signed_headers": blocks,
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    absent = sum(1 for b in blocks for s in b["commit"]["signatures"] if s["block_id_flag"] == 1)
    print(f"{len(blocks)} signed headers from CometBFT {version} at {engine} "
          f"({absent} absent signatures) -> {args.out}")


if __name__ == "__main__":
    main()
