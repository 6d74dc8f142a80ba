"""`coledger audit replay`: re-execute the ledger from genesis (read-only); `coledger audit check`:
rebuild the ledger from contract events, compare it with the views and check the invariants.

Exit status: 0 clean replay, 1 divergence found (reported in DIR/replay.json and on stderr),
2 the replay could not run (unreachable RPC, missing block, different genesis, ...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from client.connection import DEFAULT_RPC_URL

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add `audit` to the top-level parser's subparsers."""
    audit = sub.add_parser("audit", help="auditor tools (read-only)").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION")
    replay = audit.add_parser(
        "replay", help="re-execute every block from genesis and compare with what the node serves")
    replay.add_argument("--rpc", default=DEFAULT_RPC_URL, help=f"JSON-RPC URL (default {DEFAULT_RPC_URL})")
    replay.add_argument("--out", required=True, type=Path,
                        help="output directory: replay.json and checkpoint.sqlite")
    replay.add_argument("--from-checkpoint", action="store_true",
                        help="resume after the last checkpoint in --out instead of from genesis")
    replay.add_argument("--to-block", type=int, help="stop after this block (default: the head)")
    replay.add_argument("--keep-going", action="store_true",
                        help="continue past divergences that leave the block header intact")
    replay.add_argument("--checkpoint-every", type=int, default=1_000, metavar="N",
                        help="persist the replayed state every N blocks (default 1000)")
    replay.add_argument("--batch", type=int, default=50, metavar="N",
                        help="at most N blocks per fetch window (default 50; windows are sized in transactions)")
    replay.add_argument("--genesis", type=Path,
                        help="the node's genesis.json, only needed if its genesis has an alloc")
    replay.add_argument("--network-genesis", type=Path, metavar="FILE",
                        help="on a consortium network (required there): the network's CometBFT "
                             "genesis.json; every block's commit is verified against the "
                             "validators it names")
    replay.add_argument("--quiet", action="store_true", help="no progress line")
    replay.set_defaults(func=_cmd_replay)
    check = audit.add_parser(
        "check", help="rebuild the ledger from contract events, compare with the views, check invariants")
    check.add_argument("--rpc", default=DEFAULT_RPC_URL, help=f"JSON-RPC URL (default {DEFAULT_RPC_URL})")
    check.add_argument("--deployment", required=True, type=Path,
                       help="DATA/deployment.json (written by `coledger node start`)")
    check.add_argument("--out", required=True, type=Path, help="output directory: audit.json, audit.html")
    check.add_argument("--to-block", type=int, help="stop after this block (default: the head)")
    check.set_defaults(func=_cmd_check)


def _cmd_check(args: argparse.Namespace) -> int:
    from client.audit.check import CheckOptions, run_check

    report = run_check(CheckOptions(args.rpc, args.deployment, args.out, args.to_block))
    failed = [r for r in report["invariants"] if not r["passed"]]
    for r in report["invariants"]:
        mark = "PASS" if r["passed"] else "FAIL"
        print(f"{mark} {r['name']}: {r['checked']} checked, {r['violations']} violations")
        for c in r["counterexamples"][:3]:
            print(f"     e.g. {c}")
    s = report["summary"]
    bp = s["npl_ratio_bp"]
    print(f"{s['events']} events to block {report['head']}: {s['loans']} loans, {s['accounts']} accounts, "
          f"NPL {bp // 100}.{bp % 100:02d}%; {len(report['view_mismatches'])} view mismatches; "
          f"report in {args.out / 'audit.html'}")
    ev = report.get("evidence", {}).get("summary") or {}
    if ev.get("items") or ev.get("batches") or ev.get("cases"):
        print(f"evidence: {ev['items']} single items, {ev['batches']} batches ({ev['batched_items']} items), "
              f"{ev['cases']} cases ({ev['awarded']} awarded), chain links {ev['links']}")
    for m in report["view_mismatches"][:10]:
        print(f"MISMATCH {m['what']} {m['field']}: events {m['events']} view {m['view']}", file=sys.stderr)
    return 1 if failed or report["view_mismatches"] else 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from client.audit.replay import ReplayOptions, run_replay

    if args.checkpoint_every < 1 or args.batch < 1:
        from client.audit.errors import AuditError

        raise AuditError("--checkpoint-every and --batch must be at least 1")
    report = run_replay(ReplayOptions(
        rpc=args.rpc, out=args.out, from_checkpoint=args.from_checkpoint,
        to_block=args.to_block, keep_going=args.keep_going, window=args.batch,
        checkpoint_every=args.checkpoint_every, genesis_file=args.genesis,
        progress=not args.quiet, network_genesis=args.network_genesis,
    ))
    head = report.head
    resumed = f", resumed after block {report.resumed_from}" if report.resumed_from else ""
    if report.result == "ok":
        print(f"replay ok: {report.blocks} blocks, {report.transactions} transactions verified "
              f"(chain id {report.chain_id}, genesis {report.genesis_hash}{resumed}); head "
              f"{head.get('number')} {head.get('hash')} state root {head.get('state_root')}")
        commits = report.commits
        if commits:
            missing = ", ".join(f"{k} {v}" for k, v in commits["blocks_not_signed_by"].items())
            print(f"commits: {commits['checked']} verified against the {len(commits['validators'])}"
                  f" validators of {commits['validator_set_from']}, each signed by more than 2/3 "
                  f"of the voting power (least: {commits['min_signed_power']} of "
                  f"{commits['min_signed_of']}); app hash proven through block "
                  f"{commits['app_hash_proven_through']}"
                  + (f"; blocks not signed by: {missing}" if missing else ""))
            for change in commits.get("validator_set_changes") or []:
                print(f"validator set: block {change['block']} changed it by governance, from "
                      f"height {change['effective_from']} {change['validators']} validators, "
                      f"power {change['total_power']}")
            if commits.get("note"):
                print(f"note: {commits['note']}")
        elif report.seals.get("note"):
            print(f"note: {report.seals['note']}")
        return 0
    d = report.divergence or {}
    where = f"block {d.get('block')}"
    if d.get("tx_index") is not None:
        where += f", transaction {d.get('tx_index')} ({d.get('tx_hash')})"
    print(f"DIVERGENCE at {where}, field {d.get('field')}: {d.get('message')}\n"
          f"  recomputed: {d.get('expected')}\n  served:     {d.get('served')}\n"
          f"  details in {args.out / 'replay.json'}", file=sys.stderr)
    return 1
