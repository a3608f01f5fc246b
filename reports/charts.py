"""Server-side SVG charts (wave2 §14.1 "charts"): no JavaScript, no CDN, nothing inline but
SVG presentation attributes (the CSP forbids ``style=""`` and scripts).

Each function computes the geometry here and renders ``templates/reports/components/*.html``
(autoescaped: names and labels are user data), returning markup with a ``viewBox`` and
``width="100%"`` so it scales down to a phone, an accessible ``<title>``/``<desc>``, and a
``<title>`` on every bar and point (the full name and value on hover or long-press). The data
table under a chart is the page's job.
"""

from __future__ import annotations

import datetime
import itertools
import math
from collections.abc import Sequence
from decimal import Decimal

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

# Colour-blind friendly (Okabe–Ito), the first is the site's teal family.
PALETTE = ["#0f766e", "#e69f00", "#56b4e9", "#cc79a7", "#009e73", "#d55e00", "#0072b2", "#999999"]
WIDTH = 640
_ids = itertools.count(1)

Number = int | float | Decimal | None


def text_width(text: str) -> int:
    """Width in half-em units: a CJK character counts two, anything else one."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def truncate(text: str, units: int) -> str:
    """``text`` cut to ``units`` half-ems, ending with "…" when cut."""
    text = str(text)
    if text_width(text) <= units:
        return text
    out, used = [], 1
    for ch in text:
        used += 2 if ord(ch) > 0x2E80 else 1
        if used > units:
            break
        out.append(ch)
    return "".join(out) + "…"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at least ``value`` (an axis end); 1 for 0."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover


def fmt(value: Number) -> str:
    """A value as the chart prints it (12, 12.5, -3)."""
    if value is None:
        return "0"
    number = float(value)
    if number == int(number):
        return str(int(number))
    return f"{number:.2f}".rstrip("0").rstrip(".")


def _scale(values: list[float]) -> tuple[float, float]:
    low, high = min([0.0, *values]), max([0.0, *values])
    high = nice_ceiling(high) if high > 0 else 0.0
    low = -nice_ceiling(-low) if low < 0 else 0.0
    if high == low:
        high = 1.0
    return low, high


def _series(series) -> list[tuple[str, list[float], list[Number]]]:
    return [(str(name), [float(v or 0) for v in values], list(values)) for name, values in series]


def _legend(series, top: float) -> list[dict]:
    if len(series) < 2:
        return []
    width = (WIDTH - 20) / len(series)
    units = max(4, int(width / 7) - 3)
    return [
        {
            "x": 10 + i * width,
            "y": top,
            "color": PALETTE[i % len(PALETTE)],
            "name": name,
            "short": truncate(name, units),
        }
        for i, (name, *_rest) in enumerate(series)
    ]


def _render(template: str, context: dict) -> SafeString:
    context.setdefault("chart_id", f"chart-{next(_ids)}")
    # The template autoescapes every name and label.
    return mark_safe(render_to_string(template, context))  # noqa: S308


def _describe(title: str, desc: str | None, series, count: int) -> str:
    if desc:
        return desc
    names = "、".join(name for name, *_rest in series)
    return _("%(count)s rows; series: %(names)s") % {"count": count, "names": names}


def _empty(title: str, desc: str | None) -> SafeString:
    return _render(
        "reports/components/chart_empty.html",
        {"title": title, "desc": desc or _("No data"), "width": WIDTH, "height": 60},
    )


def bar_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[Number]]],
    *,
    title: str,
    desc: str | None = None,
) -> SafeString:
    """Grouped horizontal bars: one group per label (a person), one bar per series, the
    value at the bar's end; negative values grow left of the zero line."""
    data = _series(series)
    if not labels or not data:
        return _empty(title, desc)
    bar, gap, group_gap = 14, 2, 12
    label_w, value_w = 130, 44
    legend = _legend(data, 14)
    top = 30 if legend else 8
    low, high = _scale([v for _name, values, _raw in data for v in values])
    plot_x, plot_w = label_w + 8, WIDTH - label_w - 8 - value_w

    def x_of(value: float) -> float:
        return plot_x + (value - low) / (high - low) * plot_w

    zero = x_of(0)
    group_h = len(data) * (bar + gap) - gap
    groups, y = [], top
    for index, label in enumerate(labels):
        bars = []
        for s, (name, values, raw) in enumerate(data):
            value = values[index] if index < len(values) else 0.0
            end = x_of(value)
            by = y + s * (bar + gap)
            bars.append(
                {
                    "x": round(min(zero, end), 1),
                    "y": by,
                    "w": round(abs(end - zero), 1),
                    "h": bar,
                    "color": PALETTE[s % len(PALETTE)],
                    "text": fmt(raw[index] if index < len(raw) else 0),
                    "text_x": round(end + 4 if value >= 0 else end - 4, 1),
                    "anchor": "start" if value >= 0 else "end",
                    "text_y": by + bar - 3,
                    "name": name,
                }
            )
        groups.append(
            {
                "label": str(label),
                "short": truncate(str(label), 20),
                "y": y + group_h / 2 + 4,
                "bars": bars,
            }
        )
        y += group_h + group_gap
    height = y - group_gap + 8
    return _render(
        "reports/components/bar_chart.html",
        {
            "title": title,
            "desc": _describe(title, desc, data, len(labels)),
            "width": WIDTH,
            "height": height,
            "label_x": label_w,
            "zero": round(zero, 1),
            "top": top - 4,
            "bottom": height - 4,
            "legend": legend,
            "groups": groups,
        },
    )


def _day_label(label) -> str:
    if isinstance(label, datetime.date):
        return f"{label.month}-{label.day}"
    return str(label)


def line_chart(
    labels: Sequence,
    series: Sequence[tuple[str, Sequence[Number]]],
    *,
    title: str,
    desc: str | None = None,
) -> SafeString:
    """One line per series over ``labels`` (days: dates print as "12-1"), with a dot per
    value; one value is a dot alone."""
    data = _series(series)
    if not labels or not data:
        return _empty(title, desc)
    legend = _legend(data, 14)
    left, right = 44, 16
    top = 34 if legend else 12
    height, bottom = 240 + top, 28
    plot_w, plot_h = WIDTH - left - right, 240 - bottom
    low, high = _scale([v for _name, values, _raw in data for v in values])
    count = len(labels)

    def x_of(index: int) -> float:
        if count == 1:
            return left + plot_w / 2
        return left + index * plot_w / (count - 1)

    def y_of(value: float) -> float:
        return top + plot_h - (value - low) / (high - low) * plot_h

    ticks = []
    for n in range(5):
        value = low + (high - low) * n / 4
        ticks.append({"y": round(y_of(value), 1), "text": fmt(value)})
    every = max(1, math.ceil(count / 8))
    x_labels = [
        {"x": round(x_of(i), 1), "text": truncate(_day_label(label), 10)}
        for i, label in enumerate(labels)
        if i % every == 0 or (i == count - 1 and (count - 1) % every > every / 2)
    ]
    lines = []
    for s, (name, values, raw) in enumerate(data):
        points = [
            {
                "x": round(x_of(i), 1),
                "y": round(y_of(values[i] if i < len(values) else 0.0), 1),
                "label": _day_label(labels[i]),
                "text": fmt(raw[i] if i < len(raw) else 0),
            }
            for i in range(count)
        ]
        lines.append(
            {
                "name": name,
                "color": PALETTE[s % len(PALETTE)],
                "points": points,
                "path": " ".join(f"{p['x']},{p['y']}" for p in points),
            }
        )
    return _render(
        "reports/components/line_chart.html",
        {
            "title": title,
            "desc": _describe(title, desc, data, count),
            "width": WIDTH,
            "height": height,
            "left": left,
            "right": WIDTH - right,
            "zero": round(y_of(0), 1),
            "axis_y": top + plot_h + 16,
            "ticks": ticks,
            "x_labels": x_labels,
            "legend": legend,
            "lines": lines,
            "dots": count <= 62,
        },
    )
