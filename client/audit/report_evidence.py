"""The evidence part of the auditor's report: ``evidence`` in audit.json and the Evidence section of
audit.html (anchoring over time, evidence per case, cases, per-loan hash chains, kinds)."""

from __future__ import annotations

import html
from typing import Any

from client.audit.charts import multi_line_chart, stacked_bars
from client.audit.domain import Ledger
from client.audit.evidence import CASE_AWARDED, KIND_NAMES, EvidenceLedger, loan_number

__all__ = ["MAX_LISTED_ITEMS", "evidence_html", "evidence_report"]

MAX_LISTED_ITEMS = 20_000
"""audit.json lists at most this many single items (every chain and case is always listed)."""
_MAX_TIMELINE = 2_000


def _who(ledger: Ledger, address: str) -> str:
    m = ledger.members.get(ledger.member_of_key.get(address.lower(), 0))
    if m is None:  # a removed member or a rotated key: search the timeline
        mid = next((c.member_id for c in reversed(ledger.timeline) if c.key.lower() == address.lower()), 0)
        m = ledger.members.get(mid)
    return f"#{m.member_id} {m.name}" if m else address


def _kind(k: int) -> str:
    return KIND_NAMES[k] if 0 <= k < len(KIND_NAMES) else f"kind {k}"


def _timeline(ev: EvidenceLedger) -> list[tuple[int, int, int, int, int]]:
    rows = ev.timeline
    if len(rows) > _MAX_TIMELINE:
        step = len(rows) // _MAX_TIMELINE + 1
        rows = rows[::step] + [rows[-1]]
    return rows


def evidence_report(ledger: Ledger) -> dict[str, Any]:
    """The ``evidence`` object of audit.json (bytes stay bytes; the JSON writer hex-encodes them)."""
    ev = ledger.evidence
    by_kind: dict[str, int] = {}
    for it in ev.items.values():
        by_kind[_kind(it.kind)] = by_kind.get(_kind(it.kind), 0) + 1
    cases = []
    for c in ev.cases.values():
        d = c.as_dict(ev)
        d["opener_member"], d["arbitrator_member"] = _who(ledger, c.opener), _who(ledger, c.arbitrator)
        checked = c.status == CASE_AWARDED and ev.chain_id is not None  # None: no award, or no chain id
        d["award_signature_valid"] = (c.award_signer == c.arbitrator) if checked else None
        cases.append(d)
    return {
        "summary": ev.summary(),
        "by_kind": by_kind,
        "chains": [{"loan_id": loan_number(ch.loan), "loan": ch.loan, "items": len(ch.items), "head": ch.head,
                    "links": ch.links} for ch in ev.chains.values()],
        "cases": cases,
        "access_logs_outside_cases": [
            {"block": a.block, "timestamp": a.timestamp, "head": a.head, "entries": a.entries,
             "operator": a.operator, "tx": a.tx_hash} for a in ev.access_logs.get(0, [])],
        "batches": [b.as_dict() for b in ev.batches.values()],
        "reader_keys": [{"member": m, "who": _who(ledger, m), "key": k, "block": b}
                        for m, (k, b) in ev.reader_keys.items()],
        "items": [it.as_dict() for _, it in zip(range(MAX_LISTED_ITEMS), ev.items.values(), strict=False)],
        "items_listed": min(len(ev.items), MAX_LISTED_ITEMS),
        "over_time": [{"block": b, "timestamp": t, "items": i, "batches": n, "batched_items": bi}
                      for b, t, i, n, bi in _timeline(ev)],
    }


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(str(x))}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _short(b: bytes) -> str:
    return "0x" + b.hex()[:12] + "…"


def evidence_html(ledger: Ledger) -> str:
    """The Evidence section of audit.html, or "" when no evidence contract has any event."""
    ev = ledger.evidence
    if not ev.active:
        return ""
    s = ev.summary()
    summary = _table(["single items", "batches", "items in batches", "loans with items", "chain links",
                      "reader keys", "cases", "awarded", "access-log anchors"],
                     [[s["items"], s["batches"], s["batched_items"], s["loans_with_items"],
                       ", ".join(f"{k} {v}" for k, v in sorted(s["links"].items())) or "-", s["reader_keys"],
                       s["cases"], s["awarded"], s["access_log_anchors"]]])
    rows = ev.timeline
    end = ledger.snapshots[-1].block if ledger.snapshots else None
    over_time = multi_line_chart([
        ("single items", [(b, float(i)) for b, _, i, _, _ in rows]),
        ("batches", [(b, float(n)) for b, _, _, n, _ in rows]),
        ("items in batches", [(b, float(bi)) for b, _, _, _, bi in rows]),
    ], "Evidence anchored over time (cumulative)", x_end=end)
    per_case = stacked_bars(
        [(f"case {c.case_id} (loan {c.loan_id})",
          [min(c.singles_at_open, c.frozen_count), max(0, c.frozen_count - c.singles_at_open),
           ev.later_items(c)]) for c in ev.cases.values()],
        ["frozen: single items", "frozen: batched items", "later single items"], "Evidence per case")
    cases = _table(
        ["case", "loan", "status", "opened by", "arbitrator", "opened in block", "frozen items", "frozen head",
         "later items", "award hash", "award signature", "access log (entries @ block)"],
        [[c.case_id, c.loan_id, "awarded" if c.status == CASE_AWARDED else "open", _who(ledger, c.opener),
          _who(ledger, c.arbitrator), c.opened_block, c.frozen_count,
          c.frozen_status + (f": {c.frozen_problem}" if c.frozen_problem else ""), ev.later_items(c),
          _short(c.award_hash) if c.status == CASE_AWARDED else "-",
          ("-" if c.status != CASE_AWARDED else "valid (arbitrator)" if c.award_signer == c.arbitrator
           else "unchecked" if c.award_signer is None and ev.chain_id is None else "INVALID"),
          ", ".join(f"{a.entries} @ {a.block}" for a in ev.access_logs.get(c.case_id, [])) or "-"]
         for c in ev.cases.values()])
    chains = _table(["loan", "single items", "genesis", "linked", "via batch (unverifiable)", "broken", "head"],
                    [[loan_number(ch.loan) or _short(ch.loan), len(ch.items), ch.links.get("genesis", 0),
                      ch.links.get("linked", 0), ch.links.get("via-batch", 0), ch.links.get("broken", 0),
                      _short(ch.head)] for ch in list(ev.chains.values())[:500]])
    kinds: dict[str, int] = {}
    for it in ev.items.values():
        kinds[_kind(it.kind)] = kinds.get(_kind(it.kind), 0) + 1
    kinds_table = _table(["kind", "single items"], [[k, v] for k, v in sorted(kinds.items())])
    return (f"<h2>Evidence</h2>{summary}{over_time}<h3>Evidence per case</h3>{per_case}{cases}"
            f"<h3>Per-loan hash chains (single items)</h3>{chains}<h3>Single items by kind</h3>{kinds_table}")
