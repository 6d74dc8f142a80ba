"""The replay run: fetch from genesis, rebuild genesis, re-execute, checkpoint, report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import Hash32
from eth_utils import encode_hex

from client.audit.checkpoint import CHECKPOINT_FILE, CheckpointInfo, CheckpointStore
from client.audit.commits import CommitAuditor, load_network_genesis
from client.audit.errors import (
    AuditError,
    AuditRpcError,
    GenesisMismatchError,
    MissingBlockError,
)
from client.audit.fetch import BlockFetcher, RpcClient
from client.audit.genesis import load_genesis_file, rebuild_genesis
from client.audit.progress import Progress
from client.audit.reexecute import Divergence, Reexecutor
from client.audit.report import ReplayReport
from node.evm import chain_class

__all__ = ["ReplayOptions", "run_replay"]

#: beside the checkpoint: the validator sets governance scheduled (a resumed replay needs them)
COMMITS_STATE = "commits"


@dataclass
class ReplayOptions:
    """What ``coledger audit replay`` was asked to do."""

    rpc: str
    out: Path
    from_checkpoint: bool = False
    to_block: int | None = None
    keep_going: bool = False
    window: int = 50
    checkpoint_every: int = 1_000
    genesis_file: Path | None = None
    progress: bool = True
    network_genesis: Path | None = None  # a consortium network's CometBFT genesis.json


def run_replay(opts: ReplayOptions) -> ReplayReport:
    """Run the replay; always writes ``replay.json``; raises AuditError when it cannot run."""
    out = Path(opts.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AuditError(f"cannot create output directory {out}: {exc}") from exc
    report = ReplayReport(rpc=opts.rpc, to_block=opts.to_block)
    started = time.perf_counter()
    try:
        _Run(opts, report).run()
    except AuditError as exc:
        report.result, report.error = "error", str(exc)
        raise
    except KeyboardInterrupt:
        report.result, report.error = "error", "interrupted"
        raise
    except Exception as exc:  # a bug or an unforeseen input: still no traceback for the user
        report.result = "error"
        report.error = f"replay failed unexpectedly: {type(exc).__name__}: {exc}"
        raise AuditError(report.error) from exc
    finally:
        report.timings["total_s"] = round(time.perf_counter() - started, 3)
        report.write(out)
    return report


class _Run:
    def __init__(self, opts: ReplayOptions, report: ReplayReport) -> None:
        self.opts = opts
        self.report = report
        self.rpc = RpcClient(opts.rpc)
        self.fetcher = BlockFetcher(self.rpc, opts.window)
        self.consensus = self._consensus()
        self.commits: CommitAuditor | None = None
        if self.consensus == "cometbft":
            # a network's blocks are decided by CometBFT commits, not sealed by one key
            self.fetcher.seals_supported = False
            self.fetcher.want_commits = True

    def _consensus(self) -> str:
        """"solo" or "cometbft" as the node reports it (nodes without the method: solo)."""
        reply = self.rpc.batch([("coledger_nodeInfo", [])])[0]
        result = reply.get("result")
        return str(result.get("consensus", "solo")) if isinstance(result, dict) else "solo"

    def run(self) -> None:
        opts, report = self.opts, self.report
        try:
            chain_id = int(str(self.rpc.call("eth_chainId", [])), 16)
            head = int(str(self.rpc.call("eth_blockNumber", [])), 16)
        except ValueError as exc:
            raise AuditRpcError(f"{opts.rpc} does not answer eth_chainId/eth_blockNumber "
                                f"with quantities: {exc}") from exc
        last = head if opts.to_block is None else opts.to_block
        if last > head:
            raise MissingBlockError(f"--to-block {last} is beyond the node's head {head}")
        if last < 0:
            raise AuditError(f"--to-block must be >= 0, got {last}")
        report.chain_id = chain_id
        t0 = time.perf_counter()
        block0 = self.fetcher.fetch(0, 0)[0].block
        spec = load_genesis_file(opts.genesis_file) if opts.genesis_file else None
        if self.consensus == "cometbft":
            if opts.network_genesis is None:
                raise AuditError(
                    f"{opts.rpc} is a validator of a consortium network: pass --network-genesis "
                    "FILE, the network's genesis.json that your institution holds (e.g. "
                    "coledger-network/validator-0/cometbft/config/genesis.json), so that every "
                    "block's commit is checked against the validator set it names and not "
                    "against the node's word")
            vset, consortium = load_network_genesis(opts.network_genesis, str(block0.get("hash")))
            self.commits = CommitAuditor(vset, str(opts.network_genesis), consortium)
        elif opts.network_genesis is not None:
            raise AuditError(f"--network-genesis given, but {opts.rpc} is a solo node (its "
                             "blocks carry one validator's seal, checked without it)")
        store = CheckpointStore(opts.out, fresh=not opts.from_checkpoint)
        try:
            self._run_with(store, chain_id, block0, last, spec, t0)
        finally:
            store.close()
            self.rpc.close()

    def _run_with(self, store: CheckpointStore, chain_id: int, block0: dict[str, Any],
                  last: int, spec: Any, t0: float) -> None:
        opts, report = self.opts, self.report
        served_genesis = str(block0.get("hash"))
        if opts.from_checkpoint:
            info = store.load()
            if info.genesis_hash != served_genesis or info.chain_id != chain_id:
                raise GenesisMismatchError(
                    f"different genesis: the checkpoint in {opts.out} verified genesis "
                    f"{info.genesis_hash} (chain id {info.chain_id}), the node serves "
                    f"{served_genesis} (chain id {chain_id})")
            if info.last_block > last:
                raise AuditError(f"the checkpoint is at block {info.last_block}, beyond the "
                                 f"requested last block {last}")
            chain = chain_class(chain_id)(store.db)
            head_header = chain.chaindb.get_block_header_by_hash(
                Hash32(bytes.fromhex(info.last_hash[2:])))
            report.resumed_from = info.last_block
            report.blocks, report.transactions = info.last_block, info.transactions
            report.gas_used = info.gas_used
            if info.last_block > 0:
                served = self.fetcher.fetch(info.last_block, info.last_block)[0].block
                if str(served.get("hash")).lower() != info.last_hash:
                    d = Divergence(info.last_block, "hash", info.last_hash, str(served.get("hash")),
                                   f"the node now serves a different block {info.last_block} "
                                   "than the one the checkpoint verified", str(served.get("hash")))
                    report.genesis_hash = info.genesis_hash
                    report.verified_through = info.last_block - 1
                    self._diverged([d])
                    return
        else:
            rebuilt = rebuild_genesis(store.db, block0, chain_id, spec)
            chain, head_header = rebuilt.chain, rebuilt.header
            info = CheckpointInfo(chain_id, encode_hex(head_header.hash), 0,
                                  encode_hex(head_header.hash), encode_hex(head_header.state_root),
                                  0, 0)
            store.save(info)
        report.genesis_hash = info.genesis_hash
        report.timings["genesis_s"] = round(time.perf_counter() - t0, 3)
        reexec = Reexecutor(chain, head_header, check_seals=self.consensus != "cometbft")
        if self.commits is not None:
            signed = None
            if head_header.block_number > 0:
                signed = self.fetcher.fetch(head_header.block_number,
                                            head_header.block_number)[0].commit
                self.commits.load_state(store.load_extra(COMMITS_STATE))
            self.commits.start(head_header, chain.chaindb, signed)
        self._loop(store, reexec, info, last)

    def _loop(self, store: CheckpointStore, reexec: Reexecutor, info: CheckpointInfo,
              last: int) -> None:
        opts, report = self.opts, self.report
        first = reexec.head.block_number + 1
        progress = Progress(first, last, enabled=opts.progress)
        divergences: list[Divergence] = []
        seals_checked = 0
        since_checkpoint = 0
        exec_s = 0.0
        t_loop = time.perf_counter()
        stop = False
        try:
            for window in self.fetcher.windows(first, last):
                for served in window:
                    t = time.perf_counter()
                    parent_timestamp = reexec.head.timestamp
                    outcome = reexec.replay(served)
                    if self.commits is not None and outcome.header is not None and not any(
                            d.header_level for d in outcome.divergences):
                        outcome.divergences.extend(self.commits.check(
                            served.number, served.block, served.commit, outcome.header,
                            parent_timestamp, served.receipts))
                    exec_s += time.perf_counter() - t
                    report.executed_blocks += 1
                    report.executed_transactions += outcome.transactions
                    seals_checked += int(outcome.seal_checked)
                    if outcome.divergences:
                        divergences.extend(outcome.divergences)
                        header_level = any(d.header_level for d in outcome.divergences)
                        if header_level or not opts.keep_going:
                            stop = True
                            break
                    assert outcome.header is not None
                    report.blocks = outcome.number
                    report.transactions += outcome.transactions
                    report.gas_used += outcome.gas_used
                    since_checkpoint += 1
                    if not divergences and since_checkpoint >= opts.checkpoint_every:
                        self._checkpoint(store, reexec, info)
                        since_checkpoint = 0
                    progress.update(outcome.number, report.executed_blocks,
                                    report.executed_transactions)
                if stop:
                    break
        except KeyboardInterrupt:
            if not divergences:
                self._checkpoint(store, reexec, info)
            raise
        finally:
            progress.update(reexec.head.block_number, report.executed_blocks,
                            report.executed_transactions, force=report.executed_blocks > 0)
            progress.finish()
        elapsed = time.perf_counter() - t_loop
        report.timings.update({
            "replay_s": round(elapsed, 3),
            "execute_s": round(exec_s, 3),
            "blocks_per_s": round(report.executed_blocks / elapsed, 1) if elapsed else 0.0,
            "tx_per_s": round(report.executed_transactions / elapsed, 1) if elapsed else 0.0,
        })
        note = None
        if self.commits is not None:
            note = ("consortium network: blocks carry CometBFT commits, not one validator's seal; "
                    "each commit's signatures were verified (see commits)")
            report.commits = self.commits.summary(reexec.head.block_number)
        elif self.fetcher.seals_supported is False:
            note = "the RPC has no coledger_getBlockSeal: validator seals were not checked"
        report.seals = {"checked": seals_checked, "note": note}
        if divergences:
            store.discard()
        elif since_checkpoint or report.executed_blocks == 0:
            self._checkpoint(store, reexec, info)
        report.checkpoint = {"file": CHECKPOINT_FILE, "last_block": info.last_block,
                             "every": opts.checkpoint_every}
        h = reexec.head
        report.head = {"number": h.block_number, "hash": encode_hex(h.hash),
                       "state_root": encode_hex(h.state_root)}
        if divergences:
            report.verified_through = divergences[0].block - 1
            self._diverged(divergences)
        else:
            report.verified_through = h.block_number
            report.result = "ok"

    def _checkpoint(self, store: CheckpointStore, reexec: Reexecutor,
                    info: CheckpointInfo) -> None:
        h = reexec.head
        info.last_block = h.block_number
        info.last_hash = encode_hex(h.hash)
        info.state_root = encode_hex(h.state_root)
        info.transactions = self.report.transactions
        info.gas_used = self.report.gas_used
        if self.commits is not None:
            store.save_extra(COMMITS_STATE, self.commits.state_json())
        store.save(info)

    def _diverged(self, divergences: list[Divergence]) -> None:
        self.report.result = "diverged"
        self.report.divergence = divergences[0].to_json()
        self.report.divergences = [d.to_json() for d in divergences]
