"""The auditor's self-contained HTML page: inline CSS, charts as hand-made inline SVG."""

from __future__ import annotations

import html
from typing import Any

from client.audit.charts import multi_line_chart, yuan
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

#: the summary's keys as a reader names them; amounts (fen) are shown in yuan beside the integer
_SUMMARY_LABELS = {
    "members": "members", "threshold": "governance threshold (M of N)",
    "proposals": "proposals", "products": "products", "lines": "credit lines", "loans": "loans",
    "outstanding": "outstanding principal", "npl_ratio_bp": "NPL ratio",
    "accounts": "virtual accounts", "flows": "fund flows", "accounts_closed": "accounts closed",
    "repaid_to_other_lenders": "repaid to other lenders (debt rolling)",
    "events": "events replayed",
}
_AMOUNTS = {"outstanding", "repaid_to_other_lenders"}


def _words(name: str) -> str:
    """An enum name as words: ``SPECIAL_MENTION`` -> ``special mention``."""
    return name.lower().replace("_", " ")


def _summary_table(summary: dict[str, Any]) -> str:
    """Label / value rows (a one-row table of every key was wider than a laptop's window)."""
    rows = []
    for key, value in summary.items():
        if key in _AMOUNTS:
            shown = f"{yuan(int(value))} <small>({int(value):,} fen)</small>"
        elif key == "npl_ratio_bp":
            shown = f"{int(value) // 100}.{int(value) % 100:02d}% <small>({int(value)} bp)</small>"
        else:
            shown = html.escape(f"{value:,}" if isinstance(value, int) else str(value))
        rows.append(f"<tr><th style='text-align:left'>{html.escape(_SUMMARY_LABELS.get(key, key))}"
                    f"</th><td>{shown}</td></tr>")
    return f"<table class='summary'>{''.join(rows)}</table>"


def render_html(
    ledger: Ledger, results: list[InvariantResult], mismatches: list[dict[str, Any]], meta: dict[str, Any]
) -> str:
    snaps = ledger.snapshots
    end = snaps[-1].block if snaps else None
    # step charts: the book and the ratio change at events and hold in between
    book = multi_line_chart([("outstanding principal", [(s.block, s.outstanding) for s in snaps])],
                            "Loan book: outstanding principal", yuan, x_end=end)
    npl = multi_line_chart(
        [("NPL ratio", [(s.block, s.non_performing / s.outstanding if s.outstanding else 0.0)
                        for s in snaps])],
        "NPL ratio (substandard + doubtful + loss)", "{:.1%}", x_end=end)
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
        ["from \\ to", *[_words(c.name) for c in cats]],
        [[_words(c.name), *[ledger.migrations.get((c, d), 0) for d in cats]] for c in cats],
    )
    verdicts = list(Verdict)
    rules = _table(
        ["rule", *[_words(v.name) for v in verdicts]],
        [[_words(r.name), *[ledger.rule_verdicts.get((r, v), 0) for v in verdicts]] for r in Rule]
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
    summary = _summary_table(ledger.summary())
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
