"""The cells of a report table, written in Python (``{{ cells|report_cells:"td" }}``).

PERF: a report table can hold tens of thousands of numbers, each a link (客户拜访统计 of
500 people over a month: 33,000); rendered through template tags, one cell costs about ten
node renders. These filters write the same markup with one format per cell (escaped like
the template would: ``conditional_escape``; numbers localised like ``{{ value }}``)."""

from __future__ import annotations

from functools import lru_cache

from django import template
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

register = template.Library()


def _number(value) -> str:
    if type(value) is int:  # what localize gives an int without a thousands separator
        return str(value)
    return conditional_escape(localize(value))


@lru_cache(maxsize=4096)
def _column_attrs(key: str, label: str) -> str:
    """A column's escaped ``data-label`` / ``data-column`` attributes (made once a column,
    not once a cell)."""
    return f'data-label="{conditional_escape(label)}" data-column="{conditional_escape(key)}"'


@register.filter
def report_cells(cells, tag: str = "td") -> str:
    """``(column, value, link)`` cells (reports.tables.Row.cells) as ``<td>`` (or ``<th>``):
    "—" for a figure that does not exist, a link when the number has one and is not 0."""
    out = []
    for column, value, link in cells:
        if value is None:
            body = "—"
        elif link and value:
            body = f'<a href="{conditional_escape(link)}">{_number(value)}</a>'
        else:
            body = _number(value)
        out.append(
            f'<{tag} class="num" {_column_attrs(column.key, str(column.label))}>{body}</{tag}>'
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


def _pair_number(value, link: str, measure: str) -> str:
    if not value:
        return "0"
    return f'<a href="{conditional_escape(link)}" data-measure="{measure}">{_number(value)}</a>'


@register.filter
def pair_cells(pairs, tag: str = "td") -> str:
    """``(group, times, link, subjects, link)`` cells (reports.followups.pairs) as
    "次数 / 客户数", each number a link to what it counts (0 without one)."""
    out = []
    for group, n, n_link, c, c_link in pairs:
        out.append(
            f'<{tag} class="num nowrap" data-label="{conditional_escape(group.label)}" '
            f'data-group="{conditional_escape(group.key)}">'
            f"{_pair_number(n, n_link, 'n')} / {_pair_number(c, c_link, 'c')}</{tag}>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped
