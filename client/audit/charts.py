"""Inline SVG charts for the auditor's page (self-contained: no script, no external file, no
plotting dependency), in the style of :mod:`client.audit.portfolio_html`'s: multi-series step
lines over blocks with a legend, and horizontal stacked bars with counts."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

__all__ = ["DASHES", "PALETTE", "multi_line_chart", "stacked_bars", "yuan"]

PALETTE = ("#2a6", "#c63", "#36c", "#a3a", "#990", "#0aa", "#b00", "#666", "#f90", "#063")
DASHES = ("", "8,4", "2,3", "12,3,2,3")  # so that series lying on each other stay visible
_MAX_POINTS = 1_000  # per series, to keep the page small


def yuan(fen: int | float) -> str:
    """Integer minor units as a person reads them: ``2,435,189`` fen -> ``24,351.89 RMB``."""
    whole = int(fen)
    sign = "-" if whole < 0 else ""
    return f"{sign}{abs(whole) // 100:,}.{abs(whole) % 100:02d} RMB"


def _label(name: str, limit: int) -> str:
    return name if len(name) <= limit else name[:limit - 1] + "\u2026"


def _thin(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    if len(points) <= _MAX_POINTS:
        return points
    step = len(points) // _MAX_POINTS + 1
    return points[::step] + [points[-1]]


def _show(fmt: str | Callable[[float], str], value: float) -> str:
    return fmt(value) if callable(fmt) else fmt.format(value)


def multi_line_chart(series: Sequence[tuple[str, list[tuple[int, float]]]], title: str,
                     fmt: str | Callable[[float], str] = "{:,.0f}",
                     step: bool = True, x_end: int | None = None) -> str:
    """Lines of (block, value) per named series; `step` holds each value until the next point
    (a ratio or a count that changes at events), extended to `x_end` (default the last block)."""
    series = [(name, pts) for name, pts in series if pts]
    if not series:
        return f"<p>{html.escape(title)}: no data</p>"
    w, pad, legend_row, per_row = 720, 50, 16, 2
    h = 240 + legend_row * ((len(series) + per_row - 1) // per_row)
    plot_h = 240 - 2 * pad
    xs = [x for _, pts in series for x, _ in pts]
    x0 = min(xs)
    x1 = max(max(xs), x_end or 0)
    y1 = max((y for _, pts in series for _, y in pts), default=0) or 1
    sx = (w - 2 * pad) / ((x1 - x0) or 1)
    sy = plot_h / y1

    def xy(x: float, y: float) -> str:
        return f"{pad + (x - x0) * sx:.1f},{240 - pad - y * sy:.1f}"

    lines, legend = [], []
    for i, (name, pts) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        pts = _thin(pts)
        coords: list[str] = []
        for j, (x, y) in enumerate(pts):
            if step and j:
                coords.append(xy(x, pts[j - 1][1]))
            coords.append(xy(x, y))
        if step:
            coords.append(xy(x1, pts[-1][1]))
        dash = DASHES[i % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        lines.append(f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash_attr} '
                     f'points="{" ".join(coords)}">'
                     f'<title>{html.escape(name)}: {html.escape(_show(fmt, pts[-1][1]))} at the end</title>'
                     f'</polyline>')
        # two legend entries per row, each with room for its whole name (a hover shows it too)
        lx, ly = pad + (i % per_row) * 330, 240 + legend_row * (i // per_row) + 4
        legend.append(f'<g><title>{html.escape(name)}</title>'
                      f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{color}"/>'
                      f'<text x="{lx + 14}" y="{ly + 9}" font-size="11">{html.escape(_label(name, 34))} '
                      f'({html.escape(_show(fmt, pts[-1][1]))})</text></g>')
    return (
        f'<svg width="{w}" height="{h}" role="img"><title>{html.escape(title)}</title>'
        f'<text x="{pad}" y="20">{html.escape(title)}</text>'
        f'<line x1="{pad}" y1="{240 - pad}" x2="{w - pad}" y2="{240 - pad}" stroke="#999"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{240 - pad}" stroke="#999"/>'
        f'<text x="2" y="{pad - 6}" font-size="10">{html.escape(_show(fmt, y1))}</text>'
        f'<text x="{pad}" y="{240 - pad + 14}" font-size="10">block {x0}</text>'
        f'<text x="{w - pad - 60}" y="{240 - pad + 14}" font-size="10">block {x1}</text>'
        f'{"".join(lines)}{"".join(legend)}</svg>'
    )


def stacked_bars(rows: Sequence[tuple[str, Sequence[int]]], legend: Sequence[str], title: str) -> str:
    """One horizontal bar per row, stacked from its counts (one per `legend` entry)."""
    if not rows:
        return f"<p>{html.escape(title)}: no data</p>"
    w, row_h, left = 720, 22, 200
    h = 50 + row_h * len(rows)
    top = max(sum(v) for _, v in rows) or 1
    scale = (w - left - 80) / top
    parts = []
    for i, (label, values) in enumerate(rows):
        y, x = 28 + i * row_h, float(left)
        parts.append(f'<text x="4" y="{y + 12}" font-size="11">{html.escape(label[:32])}</text>')
        for j, v in enumerate(values):
            if v:
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{v * scale:.1f}" height="{row_h - 6}" '
                             f'fill="{PALETTE[j % len(PALETTE)]}"><title>{html.escape(legend[j])}: {v}'
                             f'</title></rect>')
                x += v * scale
        parts.append(f'<text x="{x + 5:.1f}" y="{y + 12}" font-size="11">'
                     f'{" + ".join(str(v) for v in values)}</text>')
    keys = "".join(
        f'<rect x="{left + k * 170}" y="{h - 16}" width="10" height="10" fill="{PALETTE[k % len(PALETTE)]}"/>'
        f'<text x="{left + k * 170 + 14}" y="{h - 7}" font-size="11">{html.escape(name)}</text>'
        for k, name in enumerate(legend))
    return (f'<svg width="{w}" height="{h}" role="img"><title>{html.escape(title)}</title>'
            f'<text x="4" y="18">{html.escape(title)}</text>{"".join(parts)}{keys}</svg>')
