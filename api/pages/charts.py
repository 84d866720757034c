"""Server-drawn SVG bar charts: each indicator's value against its target, no JavaScript needed."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

LABEL_CHARS = 32  # what fits on one line of the label column (230 px at 13 px)
LINE_H = 15  # between the baselines of a wrapped label's lines
MIN_ROW_H = 34


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # percent, 0..100; None when the denominator is zero
    target: float | None  # percent


def _greedy(words: list[str], width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in words:
        while len(word) > width:  # a word longer than a line (rare: names are words) is split across lines
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= width:
            current = f"{current} {word}"
        else:
            lines.append(current)
            current = word
    if current or not lines:
        lines.append(current)
    return lines


def wrap_label(text: str, width: int = LABEL_CHARS) -> list[str]:
    """The label in lines of at most ``width`` characters, broken between words and never cut short: joined
    with spaces the lines give the label back, so two bars' labels differ whenever their names do. The lines
    are as few as ``width`` allows and as even as they can be ('…who / reached…', not '…who reached at / one')."""
    words = text.split()
    lines = _greedy(words, width)
    shortest = max([len(w) for w in words] + [-(-len(" ".join(words)) // len(lines))])
    for narrower in range(min(shortest, width), width):
        even = _greedy(words, narrower)
        if len(even) <= len(lines):
            return even
    return lines


def bar_chart(bars: list[Bar], *, title: str, value_label: str, target_label: str) -> str:
    """Horizontal bars with a target mark; the figures are also written as text, so the chart is not the
    only way to read them (screen readers get the <title> and the table beside it). A long label wraps onto
    as many lines as it needs, and its row grows to hold them."""
    label_w, bar_w, pad = 230, 300, 8
    labels = [wrap_label(bar.label) for bar in bars]
    row_hs = [max(MIN_ROW_H, LINE_H * len(lines) + 12) for lines in labels]
    height = pad * 2 + sum(row_hs) + 20
    width = label_w + bar_w + 70
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" aria-labelledby="chart-title"><title id="chart-title">{escape(title)}</title>',
    ]
    y = pad
    for bar, lines, row_h in zip(bars, labels, row_hs, strict=True):
        middle = y + row_h / 2
        bar_y = middle - 9  # the bar is 18 high, centred on the row; text baselines sit 5 below a line's middle
        first = middle - (len(lines) - 1) * LINE_H / 2 + 5
        spans = "".join(f'<tspan x="0" y="{first + n * LINE_H:g}">{escape(line)}</tspan>'
                        for n, line in enumerate(lines))
        out.append(f'<text x="0" y="{first:g}" font-size="13" fill="#1a1a1a">{spans}</text>')
        out.append(f'<rect x="{label_w}" y="{bar_y:g}" width="{bar_w}" height="18" fill="#e6e6e6"/>')
        if bar.value is not None:
            w = max(0.0, min(100.0, bar.value)) / 100 * bar_w
            met = bar.target is None or bar.value >= bar.target
            colour = "#1b6e3a" if met else "#b3261e"
            out.append(f'<rect x="{label_w}" y="{bar_y:g}" width="{w:.1f}" height="18" fill="{colour}"/>')
            text = f"{bar.value:.0f}%"
        else:
            text = "—"
        if bar.target is not None:
            tx = label_w + max(0.0, min(100.0, bar.target)) / 100 * bar_w
            out.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{bar_y - 4:g}" y2="{bar_y + 22:g}" stroke="#1a1a1a" '
                       f'stroke-width="3"/>')
        out.append(f'<text x="{label_w + bar_w + 6}" y="{middle + 5:g}" font-size="13" fill="#1a1a1a">{text}</text>')
        y += row_h
    ly = height - 6
    out.append(f'<rect x="{label_w}" y="{ly - 10}" width="12" height="10" fill="#1b6e3a"/>'
               f'<text x="{label_w + 16}" y="{ly}" font-size="12">{escape(value_label)}</text>'
               f'<line x1="{label_w + 130}" x2="{label_w + 130}" y1="{ly - 12}" y2="{ly + 2}" stroke="#1a1a1a" '
               f'stroke-width="3"/><text x="{label_w + 136}" y="{ly}" font-size="12">{escape(target_label)}</text>')
    out.append("</svg>")
    return "".join(out)
