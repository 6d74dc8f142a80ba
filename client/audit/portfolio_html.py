"""The auditor's self-contained HTML page: inline CSS, charts as hand-made inline SVG."""

from __future__ import annotations

import html
from typing import Any

from client.audit.domain import Ledger
from client.audit.invariants import InvariantResult
from client.audit.report_evidence import evidence_html
from client.audit.report_npl import npl_over_time_html
from client.flow_rules import Rule, Verdict
from client.lending_math import Category

__all__ = ["render_html"]

_CSS = (
    "body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
    "margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}"
    ".pass{color:#070}.fail{color:#b00;font-weight:bold}svg{background:#fafafa;border:1px solid #ddd}"
    "pre{white-space:pre-wrap;font-size:12px;background:#f7f7f7;padding:4px}"
)


def _line_chart(points: list[tuple[int, float]], title: str, fmt: str = "{:,.0f}") -> str:
    w, h, pad = 640, 220, 50
    if not points:
        return f"<p>{html.escape(title)}: no data</p>"
    if len(points) > 2_000:  # keep the page small
        step = len(points) // 2_000 + 1
        points = points[::step] + [points[-1]]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) or 1
    y1 = max(ys) or 1
    sx = (w - 2 * pad) / ((x1 - x0) or 1)
    sy = (h - 2 * pad) / y1
    path = " ".join(f"{pad + (x - x0) * sx:.1f},{h - pad - y * sy:.1f}" for x, y in points)
    return (
        f'<svg width="{w}" height="{h}" role="img"><title>{html.escape(title)}</title>'
        f'<text x="{pad}" y="20">{html.escape(title)}</text>'
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#999"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#999"/>'
        f'<text x="2" y="{pad + 4}" font-size="10">{fmt.format(y1)}</text>'
        f'<text x="{pad}" y="{h - pad + 14}" font-size="10">block {x0}</text>'
        f'<text x="{w - pad - 60}" y="{h - pad + 14}" font-size="10">block {x1}</text>'
        f'<polyline fill="none" stroke="#2a6" stroke-width="2" points="{path}"/></svg>'
    )


def _bars(items: list[tuple[str, float]], title: str) -> str:
    w, row = 640, 22
    h = 30 + row * max(1, len(items))
    top = max((v for _, v in items), default=0) or 1
    bars = "".join(
        f'<text x="4" y="{40 + i * row}" font-size="11">{html.escape(k)}</text>'
        f'<rect x="200" y="{28 + i * row}" width="{380 * v / top:.1f}" height="{row - 6}" fill="#c63"/>'
        f'<text x="{205 + 380 * v / top:.1f}" y="{40 + i * row}" font-size="11">{v:.2%}</text>'
        for i, (k, v) in enumerate(items)
    )
    return f'<svg width="{w}" height="{h}"><text x="4" y="18">{html.escape(title)}</text>{bars}</svg>'


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(str(x))}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


_INV_HEAD = ["result", "invariant", "checked", "violations", "counterexamples"]


def render_html(
    ledger: Ledger, results: list[InvariantResult], mismatches: list[dict[str, Any]], meta: dict[str, Any]
) -> str:
    snaps = ledger.snapshots
    book = _line_chart([(s.block, s.outstanding) for s in snaps], "Loan book: outstanding principal (fen)")
    npl = _line_chart(
        [(s.block, s.non_performing / s.outstanding if s.outstanding else 0.0) for s in snaps],
        "NPL ratio (substandard + doubtful + loss)",
        "{:.1%}",
    )
    last = snaps[-1] if snaps else None
    by_product = _bars(
        [(f"product {k}", (n / t if t else 0.0)) for k, (t, n) in sorted(last.by_product.items())]
        if last
        else [],
        "NPL ratio by product (head)",
    )
    names = {m.member_id: m.name for m in ledger.members.values()}
    by_lender = _bars(
        [
            (f"#{k} {names.get(k, '')}"[:30], (n / t if t else 0.0))
            for k, (t, n) in sorted(last.by_lender.items())
        ]
        if last
        else [],
        "NPL ratio by lender (head)",
    )
    cats = list(Category)
    migration = _table(
        ["from \\ to", *[c.name for c in cats]],
        [[c.name, *[ledger.migrations.get((c, d), 0) for d in cats]] for c in cats],
    )
    verdicts = list(Verdict)
    rules = _table(
        ["rule", *[v.name for v in verdicts]],
        [[r.name, *[ledger.rule_verdicts.get((r, v), 0) for v in verdicts]] for r in Rule]
        + [["all flows", *[ledger.verdicts.get(v, 0) for v in verdicts]]],
    )
    inv_rows = []
    for r in results:
        cls, word = ("pass", "PASS") if r.passed else ("fail", "FAIL")
        ex = html.escape("\n".join(str(c) for c in r.as_dict()["counterexamples"][:5]))
        inv_rows.append(
            [
                f'<span class="{cls}">{word}</span>',
                html.escape(r.name),
                r.checked,
                r.violations,
                f"<pre>{ex}</pre>" if ex else "",
            ]
        )
    mm = _table(
        ["what", "field", "events", "view"],
        [[html.escape(str(m[k])) for k in ("what", "field", "events", "view")] for m in mismatches[:200]],
    )
    summary = _table(
        list(ledger.summary().keys()), [[html.escape(str(v)) for v in ledger.summary().values()]]
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>coledger audit</title>"
        f"<style>{_CSS}</style></head><body><h1>coledger audit</h1>"
        f"<p>{' &middot; '.join(f'{html.escape(str(k))}: {html.escape(str(v))}' for k, v in meta.items())}"
        f"</p>{summary}"
        f"<h2>Invariants</h2>{_table(_INV_HEAD, inv_rows)}"
        f"<h2>Event replay vs. contract views</h2><p>{len(mismatches)} mismatches</p>{mm}"
        f"<h2>Loan book</h2>{book}<h2>NPL ratio</h2>{npl}{by_product}{by_lender}{npl_over_time_html(ledger)}"
        f"<h2>Classification migration</h2>{migration}<h2>Verdicts by rule</h2>{rules}{evidence_html(ledger)}"
        f"</body></html>"
    )
