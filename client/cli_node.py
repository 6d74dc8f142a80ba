"""`coledger node check | backup | restore`: prove a chain store, snapshot a data dir, re-create one.

Why beside `node start` and not in the node: these work on a data dir (the node's store plus the
keystores, consortium config and deployment record around it) and are run by an operator, with
the node running (check, backup) or not. The verification itself is the node's
(:mod:`node.store_check`); the archive format is :mod:`client.backup`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from client.backup import backup_data_dir, full_check, restore_data_dir
from client.datadir_check import CHAIN_STORE
from client.errors import ConfigError

__all__ = ["register_node_tools", "EXIT_DAMAGED"]

#: `node check` found the store damaged (2 stays "the command could not run", as everywhere).
EXIT_DAMAGED = 1


def register_node_tools(node_sub: Any, default_data_dir: Path) -> None:
    """Add check, backup and restore to the `node` command's subparsers."""
    check = node_sub.add_parser(
        "check", help="verify every block, receipt, log row and the state trie against the headers' hashes")
    check.add_argument("--data-dir", type=Path, default=default_data_dir,
                       help="the data dir (DIR/chain/chain.sqlite) or a directory holding chain.sqlite")
    check.add_argument("--json", type=Path, metavar="FILE", help="write the JSON report to FILE")
    check.add_argument("--all-states", action="store_true",
                       help="walk every block's state trie, not only the head's (slower)")
    check.add_argument("--quiet", action="store_true", help="no progress line")
    check.set_defaults(func=_cmd_check)

    backup = node_sub.add_parser(
        "backup", help="write a consistent snapshot of a data dir (node running or not) to one archive")
    backup.add_argument("--data-dir", type=Path, default=default_data_dir)
    backup.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="the archive to create (never overwritten), e.g. coledger-2026-12-05.tar.gz")
    backup.add_argument("--no-check", action="store_true",
                        help="skip the full store check of the snapshot (faster; not recommended)")
    backup.set_defaults(func=_cmd_backup)

    restore = node_sub.add_parser(
        "restore", help="re-create a data dir from a `node backup` archive (into a new or empty directory)")
    restore.add_argument("--from", dest="archive", type=Path, required=True, metavar="FILE")
    restore.add_argument("--data-dir", type=Path, required=True,
                         help="the new data dir: must not exist or be empty")
    restore.add_argument("--no-check", action="store_true",
                         help="skip the full store check of the restored chain (not recommended)")
    restore.set_defaults(func=_cmd_restore)


def _store_in(data_dir: Path) -> Path:
    for store in (data_dir / "chain" / CHAIN_STORE, data_dir / CHAIN_STORE):
        if store.is_file():
            return store
    raise ConfigError(f"no chain store in {data_dir} (looked for {data_dir / 'chain' / CHAIN_STORE} and "
                      f"{data_dir / CHAIN_STORE})")


def _cmd_check(args: argparse.Namespace) -> int:
    from client.audit.progress import Progress
    from node.store_check import StoreCheckError, check_store

    store = _store_in(args.data_dir)
    progress: Progress | None = None

    def on_block(done: int, total: int, txs: int) -> None:
        nonlocal progress
        if progress is None:
            progress = Progress(0, total - 1, enabled=not args.quiet, label="node check")
        progress.update(done - 1, done, txs, force=done == total)

    try:
        report = check_store(store, all_states=args.all_states, progress=on_block)
    except StoreCheckError as exc:
        raise ConfigError(str(exc)) from exc
    finally:
        if progress is not None:
            progress.finish()
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=1) + "\n")
    states = "every block's state trie" if args.all_states else "the head's state trie"
    state = report.state
    if report.ok:
        print(f"node check: ok: {store}: blocks 0..{report.head} ({report.blocks} blocks, "
              f"{report.transactions} transactions and receipts, {report.logs} log rows, "
              f"{report.seals} seals) and {states} ({state.get('nodes', 0)} nodes, "
              f"{state.get('accounts', 0)} accounts, {state.get('storage_slots', 0)} storage slots, "
              f"{state.get('codes', 0)} codes) match their hashes; {report.seconds:.1f} s")
        return 0
    failure = report.first_failure
    print(f"node check: DAMAGED: {store}", file=sys.stderr)
    if failure is not None:
        where = f"block {failure.block}" if failure.block is not None else "the store"
        print(f"  first bad block: {where}: {failure.what}: {failure.detail}", file=sys.stderr)
    if report.sqlite_integrity:
        print(f"  SQLite integrity_check: {'; '.join(report.sqlite_integrity[:3])}", file=sys.stderr)
    if report.head is None:
        passed = f"the head cannot be read; {report.blocks} blocks passed before it"
    elif report.blocks == report.blocks_total:
        passed = f"all {report.blocks} blocks' rows passed before the state walk"
    else:
        passed = f"{report.blocks} of {report.blocks_total} blocks passed before it"
    print(f"  {passed}. Recovery: on the solo "
          "node, `coledger node restore --from BACKUP --data-dir NEWDIR` (a `coledger node backup` "
          "archive); on a network, re-sync this validator's ledger from another validator",
          file=sys.stderr)
    return EXIT_DAMAGED


def _cmd_backup(args: argparse.Namespace) -> int:
    result = backup_data_dir(args.data_dir, args.out, check=None if args.no_check else full_check)
    for skipped in result.skipped:
        print(f"node backup: not in the archive: {skipped}", file=sys.stderr)
    checked = "checked" if result.checked else "NOT checked (--no-check)"
    print(f"node backup: {result.archive}: {result.files} files, {result.bytes:,} bytes, chain head "
          f"{result.head} {result.head_hash} ({checked}); {result.seconds:.1f} s")
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    result = restore_data_dir(args.archive, args.data_dir, check=None if args.no_check else full_check)
    checked = "checked" if result.checked else "NOT checked (--no-check)"
    print(f"node restore: {result.data_dir}: {result.files} files, chain head {result.head} "
          f"{result.head_hash} ({checked}); start it with `coledger node start --data-dir "
          f"{result.data_dir}`")
    return 0
