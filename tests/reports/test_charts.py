"""Server-side SVG charts: well-formed, scalable, accessible, escaped, CSP-clean, and robust
with empty data, one value, zeros, negatives and long Chinese names."""

from __future__ import annotations

import datetime
import re
import xml.etree.ElementTree as ET

import pytest
from django.utils import translation

from reports.charts import bar_chart, line_chart, nice_ceiling, truncate

NS = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(str(svg))
    assert root.tag == f"{NS}svg"
    assert re.fullmatch(r"0 0 \d+(\.\d+)? \d+(\.\d+)?", root.get("viewBox"))
    assert root.get("width") == "100%"
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby").split()
    assert root.find(f"{NS}title").get("id") == title_id
    assert root.find(f"{NS}desc").get("id") == desc_id
    return root


def _csp_clean(svg: str) -> None:
    assert "style=" not in svg
    assert "<script" not in svg.lower()
    assert not re.search(r"\son\w+=", svg)
    assert "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in svg


def _bars(root):
    return [r for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]


def test_bar_chart_groups_a_bar_per_series_per_person():
    svg = bar_chart(["张三", "李四"], [("新增", [3, 6]), ("减少", [1, 0])], title="客户增量")
    _csp_clean(svg)
    root = _parse(svg)
    assert root.find(f"{NS}title").text == "客户增量"
    bars = _bars(root)
    assert [b.find(f"{NS}title").text for b in bars] == [
        "张三 · 新增: 3",
        "张三 · 减少: 1",
        "李四 · 新增: 6",
        "李四 · 减少: 0",
    ]
    widths = [float(b.get("width")) for b in bars]
    assert widths[2] == pytest.approx(2 * widths[0])  # 6 is twice 3
    assert widths[3] == 0
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "张三" in texts and "6" in texts and "新增" in texts  # legend with two series


def test_bar_chart_escapes_names():
    svg = bar_chart(['<script>alert("x")</script>'], [("a&b", [1])], title="<b>t</b>")
    _csp_clean(svg)
    root = _parse(svg)
    assert root.find(f"{NS}title").text == "<b>t</b>"
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def test_long_chinese_names_are_truncated_with_an_ellipsis_and_kept_whole_in_the_title():
    name = "华东大区上海浦东新区第三销售组组长欧阳娜娜"
    root = _parse(bar_chart([name], [("新增", [2])], title="t"))
    label = next(t for t in root.iter(f"{NS}text") if t.find(f"{NS}title") is not None)
    assert label.text.endswith("…") and len(label.text) < len(name)
    assert label.find(f"{NS}title").text == name


def test_truncate_and_nice_ceiling():
    assert truncate("张三", 20) == "张三"
    assert truncate("abcdefghijkl", 6) == "abcde…"
    assert truncate("一二三四五六", 6) == "一二…"
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 11, 240, 0.3)] == [1, 1, 5, 10, 20, 250, 0.5]


@pytest.mark.parametrize(
    ("labels", "series"),
    [
        ([], [("新增", [])]),
        (["张三"], []),
    ],
)
def test_empty_data_is_a_small_chart_saying_so(labels, series):
    with translation.override("en"):
        svg = bar_chart(labels, series, title="t")
        line = line_chart(labels, series, title="t")
    for markup in (svg, line):
        _csp_clean(markup)
        root = _parse(markup)
        assert root.find(f"{NS}desc").text == "No data"


def test_all_zeros_and_none_draw_empty_bars():
    root = _parse(bar_chart(["a", "b"], [("n", [0, None])], title="t"))
    assert [float(b.get("width")) for b in _bars(root)] == [0, 0]


def test_negative_values_grow_left_of_zero():
    root = _parse(bar_chart(["a", "b"], [("实际增量", [4, -2])], title="t"))
    plus, minus = _bars(root)
    assert float(minus.get("x")) + float(minus.get("width")) == pytest.approx(
        float(plus.get("x")), abs=0.2
    )
    assert float(minus.get("width")) == pytest.approx(float(plus.get("width")) / 2, abs=0.2)


def test_line_chart_per_day():
    days = [datetime.date(2026, 12, 1) + datetime.timedelta(days=n) for n in range(31)]
    values = [n % 5 for n in range(31)]
    svg = line_chart(days, [("拜访", values), ("电话", [1] * 31)], title="每日拜访")
    _csp_clean(svg)
    root = _parse(svg)
    lines = list(root.iter(f"{NS}polyline"))
    assert len(lines) == 2
    points = [tuple(map(float, p.split(","))) for p in lines[0].get("points").split()]
    assert len(points) == 31
    assert points[0][0] < points[-1][0]
    # Larger values are higher up (smaller y): day 5 (value 4) above day 1 (value 0).
    assert points[4][1] < points[0][1]
    dots = [c.find(f"{NS}title").text for c in root.iter(f"{NS}circle")]
    assert dots[4] == "12-5 · 拜访: 4"
    x_labels = [t.text for t in root.iter(f"{NS}text") if t.text and t.text.startswith("12-")]
    assert "12-1" in x_labels and len(x_labels) <= 9


def test_line_chart_with_one_value_is_a_dot():
    root = _parse(line_chart([datetime.date(2026, 12, 1)], [("拜访", [3])], title="t"))
    circles = list(root.iter(f"{NS}circle"))
    assert len(circles) == 1
    assert float(circles[0].get("cx")) == pytest.approx(
        float(root.get("viewBox").split()[2]) / 2 + 14
    )


def test_each_chart_has_its_own_ids():
    first, second = (
        bar_chart(["a"], [("n", [1])], title="t"),
        bar_chart(["a"], [("n", [1])], title="t"),
    )
    assert _parse(first).get("aria-labelledby") != _parse(second).get("aria-labelledby")
