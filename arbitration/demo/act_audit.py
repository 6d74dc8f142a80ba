"""Act 6, the auditor: trust nothing the node says about state — replay the signed transactions
from genesis and compare every root; then rebuild the ledger from contract events, compare it
with the contracts' views and check the invariants; write `audit.html`.
"""

from __future__ import annotations

from client.audit.check import CheckOptions, run_check
from client.audit.replay import ReplayOptions, run_replay
from client.private_files import ensure_private_dir

from .context import Story

__all__ = ["ACT", "STEPS", "play"]

ACT = "audit"
STEPS = 2


def play(story: Story) -> None:
    out = ensure_private_dir(story.paths.audit)
    replay = run_replay(ReplayOptions(rpc=story.rpc_url, out=out, progress=False))
    story.expect(replay.result == "ok", f"the replay found a divergence: {replay.divergence or replay.error} "
                                        f"(see {out / 'replay.json'})")
    story.step(ACT, f"replay from genesis: {replay.blocks} blocks, {replay.transactions} transactions "
                    f"re-executed on a fresh EVM, every root, receipt and seal as served: clean "
                    f"({out / 'replay.json'})")
    report = run_check(CheckOptions(story.rpc_url, story.data.deployment, out))
    invariants = report["invariants"]
    failed = [r["name"] for r in invariants if not r["passed"]]
    story.expect(not failed and not report["view_mismatches"],
                 f"audit check failed: {failed or report['view_mismatches'][:3]}")
    s = report["summary"]
    bp = int(s["npl_ratio_bp"])
    story.step(ACT, f"ledger rebuilt from {s['events']} events ({s['loans']} loans, {s['accounts']} accounts): "
                    f"{len(invariants)} invariants PASS, views match; NPL ratio {bp // 100}.{bp % 100:02d}%; "
                    f"report {out / 'audit.html'}")
    story.results["audit"] = {"replay": str(out / "replay.json"), "html": str(out / "audit.html"),
                              "result": replay.result, "blocks": replay.blocks,
                              "transactions": replay.transactions, "invariants": len(invariants)}
