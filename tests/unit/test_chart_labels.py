"""The indicators chart's labels: long names wrap onto lines instead of being cut, so no two bars read alike."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from api.pages.charts import LABEL_CHARS, Bar, bar_chart, wrap_label
from supervision.indicators import INDICATORS

SVG = "{http://www.w3.org/2000/svg}"
# two English names that shared their first 33 characters, so both bars read "Children with disabilities who re…"
REACHED = "Children with disabilities who reached at least one service"
HEALTH = "Children with disabilities who received health care or rehabilitation"


def _labels(svg: str) -> list[list[str]]:
    """Each bar's label as the lines drawn (the <text> elements at x=0 that hold <tspan> lines)."""
    root = ET.fromstring(svg)
    return [[span.text or "" for span in text.findall(f"{SVG}tspan")]
            for text in root.iter(f"{SVG}text") if text.findall(f"{SVG}tspan")]


def test_chart_labels_wrap_whole_and_stay_distinct() -> None:
    svg = bar_chart([Bar(REACHED, 50.0, 90.0), Bar(HEALTH, 2.2, 70.0)], title="Indicators", value_label="Result",
                    target_label="Target")
    root = ET.fromstring(svg)  # well-formed
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}title").text == "Indicators"  # type: ignore[union-attr]
    assert "…" not in svg
    labels = _labels(svg)
    assert [" ".join(lines) for lines in labels] == [REACHED, HEALTH]
    assert labels[0] != labels[1]
    assert all(len(line) <= LABEL_CHARS for lines in labels for line in lines)
    assert len(labels[1]) == 3  # 69 characters: three lines


def test_chart_rows_grow_with_their_labels_and_do_not_overlap() -> None:
    svg = bar_chart([Bar(HEALTH, 40.0, 70.0), Bar("Referrals completed", 95.0, None), Bar(REACHED, None, 90.0)],
                    title="Indicators", value_label="Result", target_label="Target")
    root = ET.fromstring(svg)
    spans = [[float(s.get("y", "0")) for s in text.findall(f"{SVG}tspan")]
             for text in root.iter(f"{SVG}text") if text.findall(f"{SVG}tspan")]
    backgrounds = [float(r.get("y", "0")) for r in root.iter(f"{SVG}rect") if r.get("fill") == "#e6e6e6"]
    assert [len(s) for s in spans] == [3, 1, 2]
    for lines in spans:  # a label's lines one under another
        assert all(b - a == 15 for a, b in zip(lines, lines[1:], strict=False))
    for above, below in zip(spans, spans[1:], strict=False):  # and each label below the one before
        assert below[0] - above[-1] >= 15
    for lines, bar_y in zip(spans, backgrounds, strict=True):  # the bar beside its label's lines
        assert lines[0] - 13 <= bar_y + 9 <= lines[-1]
    _, _, _, height = (float(v) for v in root.get("viewBox", "").split())
    assert height > max(spans[-1]) + 20  # the legend still fits under the last row


def test_wrap_label_keeps_every_word() -> None:
    assert wrap_label("Referrals completed") == ["Referrals completed"]
    assert wrap_label(REACHED) == ["Children with disabilities who", "reached at least one service"]
    assert wrap_label("") == [""]
    long_word = "x" * 70
    assert wrap_label(long_word) == ["x" * 32, "x" * 32, "x" * 6]
    for meta in INDICATORS.values():  # every indicator name, in both languages, comes back whole
        for name in (meta["vi"], meta["en"]):
            lines = wrap_label(name)
            assert " ".join(lines) == name and all(len(line) <= LABEL_CHARS for line in lines)
    for lang in ("vi", "en"):  # and no two of them are drawn alike
        assert len({tuple(wrap_label(meta[lang])) for meta in INDICATORS.values()}) == len(INDICATORS)
