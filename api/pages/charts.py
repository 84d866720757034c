"""Server-drawn SVG bar charts: each indicator's value against its target, no JavaScript needed."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # percent, 0..100; None when the denominator is zero
    target: float | None  # percent


def bar_chart(bars: list[Bar], *, title: str, value_label: str, target_label: str) -> str:
    """Horizontal bars with a target mark; the figures are also written as text, so the chart is not the
    only way to read them (screen readers get the <title> and the table beside it)."""
    row_h, label_w, bar_w, pad = 34, 230, 300, 8
    height = pad * 2 + row_h * len(bars) + 20
    width = label_w + bar_w + 70
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" aria-labelledby="chart-title"><title id="chart-title">{escape(title)}</title>',
    ]
    for i, bar in enumerate(bars):
        y = pad + i * row_h
        label = bar.label if len(bar.label) <= 34 else bar.label[:33] + "…"
        out.append(f'<text x="0" y="{y + 20}" font-size="13" fill="#1a1a1a">{escape(label)}</text>')
        out.append(f'<rect x="{label_w}" y="{y + 6}" width="{bar_w}" height="18" fill="#e6e6e6"/>')
        if bar.value is not None:
            w = max(0.0, min(100.0, bar.value)) / 100 * bar_w
            met = bar.target is None or bar.value >= bar.target
            colour = "#1b6e3a" if met else "#b3261e"
            out.append(f'<rect x="{label_w}" y="{y + 6}" width="{w:.1f}" height="18" fill="{colour}"/>')
            text = f"{bar.value:.0f}%"
        else:
            text = "—"
        if bar.target is not None:
            tx = label_w + max(0.0, min(100.0, bar.target)) / 100 * bar_w
            out.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{y + 2}" y2="{y + 28}" stroke="#1a1a1a" '
                       f'stroke-width="3"/>')
        out.append(f'<text x="{label_w + bar_w + 6}" y="{y + 20}" font-size="13" fill="#1a1a1a">{text}</text>')
    ly = height - 6
    out.append(f'<rect x="{label_w}" y="{ly - 10}" width="12" height="10" fill="#1b6e3a"/>'
               f'<text x="{label_w + 16}" y="{ly}" font-size="12">{escape(value_label)}</text>'
               f'<line x1="{label_w + 130}" x2="{label_w + 130}" y1="{ly - 12}" y2="{ly + 2}" stroke="#1a1a1a" '
               f'stroke-width="3"/><text x="{label_w + 136}" y="{ly}" font-size="12">{escape(target_label)}</text>')
    out.append("</svg>")
    return "".join(out)
