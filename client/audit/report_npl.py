"""NPL ratio over time by product and by lender (the lead bank and each partner), from the
per-block portfolio snapshots of :class:`~client.audit.domain.Ledger`: the series audit.json
carries (exact integers, a point where a series changes) and the charts audit.html shows."""

from __future__ import annotations

from typing import Any

from client.audit.charts import multi_line_chart
from client.audit.domain import Ledger

__all__ = ["npl_over_time", "npl_over_time_html"]


def _bp(total: int, npl: int) -> int:
    return (20_000 * npl + total) // (2 * total) if total else 0


def _series(ledger: Ledger, by: str) -> dict[int, list[tuple[int, int, int, int]]]:
    """key -> [(block, timestamp, outstanding, non-performing)] at each change of that key."""
    out: dict[int, list[tuple[int, int, int, int]]] = {}
    for s in ledger.snapshots:
        for key, (total, npl) in getattr(s, by).items():
            pts = out.setdefault(key, [])
            if not pts or pts[-1][2:] != (total, npl):
                pts.append((s.block, s.timestamp, total, npl))
    return out


def _names(ledger: Ledger, by: str) -> dict[int, str]:
    if by == "by_product":
        return {k: f"product {k} {p.name}" for k, p in ledger.products.items()}
    return {k: f"#{k} {m.name}" for k, m in ledger.members.items()}


def npl_over_time(ledger: Ledger) -> dict[str, Any]:
    """{"by_product": {id: {name, points}}, "by_lender": ...}; a point is block, timestamp,
    outstanding, non_performing (fen) and npl_ratio_bp (rounded half up)."""
    report: dict[str, Any] = {}
    for by in ("by_product", "by_lender"):
        names = _names(ledger, by)
        report[by] = {
            str(k): {"name": names.get(k, str(k)), "points": [
                {"block": b, "timestamp": t, "outstanding": total, "non_performing": npl,
                 "npl_ratio_bp": _bp(total, npl)} for b, t, total, npl in pts]}
            for k, pts in sorted(_series(ledger, by).items())}
    return report


def npl_over_time_html(ledger: Ledger) -> str:
    """Two step charts: NPL ratio over time per product and per lender."""
    end = ledger.snapshots[-1].block if ledger.snapshots else None
    charts = []
    for by, title in (("by_product", "NPL ratio over time by product"),
                      ("by_lender", "NPL ratio over time by lender (lead bank and partners)")):
        names = _names(ledger, by)
        series = [(names.get(k, str(k)), [(b, npl / total if total else 0.0) for b, _, total, npl in pts])
                  for k, pts in sorted(_series(ledger, by).items())]
        charts.append(multi_line_chart(series, title, "{:.1%}", x_end=end))
    return "".join(charts)
