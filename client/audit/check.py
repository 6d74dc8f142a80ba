"""`coledger audit check`: domain replay from events, comparison with the views, invariants,
and the report (audit.json + audit.html)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from client.audit.errors import AuditError
from client.audit.events import CONTRACTS, fetch_events
from client.audit.fetch import RpcClient
from client.audit.invariants import check_events
from client.audit.portfolio_html import render_html
from client.audit.report_evidence import evidence_report
from client.audit.report_npl import npl_over_time
from client.audit.views import compare_with_views

__all__ = ["CheckOptions", "run_check"]


@dataclass
class CheckOptions:
    rpc: str
    deployment: Path
    out: Path
    to_block: int | None = None


def _addresses(path: Path) -> dict[str, str]:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AuditError(f"cannot read the deployment record {path}: {exc}") from exc
    contracts = record.get("contracts", record)
    missing = [n for n in CONTRACTS[:4] if n not in contracts]
    if missing:
        raise AuditError(f"{path} names no address for {', '.join(missing)}")
    return {n: str(contracts[n]) for n in CONTRACTS if contracts.get(n)}


def run_check(opts: CheckOptions) -> dict[str, Any]:
    """Run the check; writes DIR/audit.json and DIR/audit.html; returns the JSON report."""
    addresses = _addresses(opts.deployment)
    rpc = RpcClient(opts.rpc)
    try:
        t0 = time.perf_counter()
        events, head = fetch_events(rpc, addresses, opts.to_block)
        t1 = time.perf_counter()
    finally:
        rpc.close()
    w3 = Web3(Web3.HTTPProvider(opts.rpc, request_kwargs={"timeout": 120}))
    cap = int(w3.eth.contract(address=Web3.to_checksum_address(addresses["CreditLines"]), abi=[{
        "type": "function", "name": "borrowerExposureCap", "inputs": [], "stateMutability": "view",
        "outputs": [{"type": "uint64", "name": ""}]}]).functions.borrowerExposureCap().call(
        block_identifier=head))
    chain_id = int(w3.eth.chain_id)  # the EIP-712 domain of award signatures
    t2 = time.perf_counter()
    ledger, results = check_events(events, addresses, cap, chain_id=chain_id)
    t3 = time.perf_counter()
    mismatches = [m.as_dict() for m in compare_with_views(w3, ledger, head)]
    ok = all(r.passed for r in results) and not mismatches
    report: dict[str, Any] = {
        "result": "ok" if ok else "fail", "head": head, "contracts": addresses,
        "summary": ledger.summary(), "exposure_cap_at_head": cap,
        "invariants": [r.as_dict() for r in results], "view_mismatches": mismatches,
        "membership_timeline": [m.__dict__ for m in ledger.timeline],
        "portfolio": [{"block": s.block, "timestamp": s.timestamp, "outstanding": s.outstanding,
                       "non_performing": s.non_performing} for s in ledger.snapshots],
        "migrations": [{"from": a, "to": b, "loans": n} for (a, b), n in sorted(ledger.migrations.items())],
        "npl_over_time": npl_over_time(ledger), "evidence": evidence_report(ledger),
        "timing": {"fetch_s": round(t1 - t0, 3), "replay_s": round(t3 - t2, 3),
                   "events_per_s": round(len(events) / (t3 - t2)) if t3 > t2 else None},
    }
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "audit.json").write_text(json.dumps(report, indent=2, default=_default) + "\n")
    (opts.out / "audit.html").write_text(render_html(ledger, results, mismatches, {
        "head": head, "result": report["result"], "events": len(events)}))
    return report


def _default(v: Any) -> Any:
    if isinstance(v, bytes):
        return "0x" + v.hex()
    raise TypeError(type(v).__name__)
