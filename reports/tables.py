"""A report's table as data (the page renders it, the export writes it) and its xlsx export
(wave2 §14.1 "export": the table as shown, a first line naming the filters)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from io import BytesIO

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from crm.xlsx import XLSX_CONTENT_TYPE, neutralise

FILTER_SEPARATOR = " · "


@dataclass(frozen=True)
class Column:
    """A value column: ``key`` into each row's values, its header ``label``; ``numeric``
    columns are right-aligned on the page and numbers in the export."""

    key: str
    label: str
    numeric: bool = True


@dataclass
class Row:
    """A row: its ``label`` (a person, a department, 「其他」, 总计), ``values`` by column key,
    ``links`` by column key (the drill-down of each number), ``inactive`` for a deactivated
    person (greyed)."""

    label: str
    values: dict = field(default_factory=dict)
    links: dict = field(default_factory=dict)
    inactive: bool = False
    key: object = None

    def cells(self, columns: list[Column]) -> list[tuple[Column, object, str | None]]:
        """``(column, value, link)`` in column order (a template loops over it)."""
        return [(c, self.values.get(c.key), self.links.get(c.key)) for c in columns]


@dataclass
class Table:
    title: str
    columns: list[Column]
    rows: list[Row] = field(default_factory=list)
    total: Row | None = None
    label_header: str = ""

    def header(self) -> list[str]:
        return [str(self.label_header or _("Name")), *(str(c.label) for c in self.columns)]

    def sheet_rows(self) -> list[list]:
        """The body as values (the total row last); a deactivated person's label says so."""
        out = []
        for row in [*self.rows, *([self.total] if self.total is not None else [])]:
            label = str(row.label)
            if row.inactive:
                label = _("%(name)s (deactivated)") % {"name": label}
            out.append([label, *(_sheet_value(row.values.get(c.key), c) for c in self.columns)])
        return out


def _sheet_value(value, column: Column):
    # Numbers stay numbers (sums and sorts work in the spreadsheet); anything else is text.
    if value is None:
        return None
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    return str(value)


def filters_line(filters: list[tuple[str, str]]) -> str:
    """ "期间：本月（…） · 部门：销售部 · …" from ``[(label, value), …]``."""
    return FILTER_SEPARATOR.join(
        _("%(label)s: %(value)s") % {"label": label, "value": value} for label, value in filters
    )


_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="E6F2F3")
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def safe_filename(filename: str) -> str:
    """A download name without path separators, control or reserved characters, ending
    in .xlsx."""
    name = _UNSAFE_NAME.sub("-", filename).strip(" .-") or "report"
    if not name.lower().endswith(".xlsx"):
        name += ".xlsx"
    return name[:150]


def xlsx_bytes(table: Table, filters: list[tuple[str, str]]) -> bytes:
    """The table as an .xlsx workbook: the filters line, the header, the rows, the total.
    Every cell goes through ``crm.xlsx.neutralise`` (formula injection)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _UNSAFE_NAME.sub("-", str(table.title))[:31] or "Sheet1"
    header = table.header()
    sheet.append([neutralise(filters_line(filters))])
    sheet.append([neutralise(h) for h in header])
    body = table.sheet_rows()
    for values in body:
        sheet.append([neutralise(v) for v in values])
    for cell in sheet[2]:
        cell.font, cell.fill = _BOLD, _HEADER_FILL
    if table.total is not None:
        for cell in sheet[sheet.max_row]:
            cell.font = _BOLD
    sheet.freeze_panes = "B3"
    for index, text in enumerate(header, start=1):
        width = max([_width(text), *(_width(r[index - 1]) for r in body)], default=10)
        sheet.column_dimensions[get_column_letter(index)].width = min(50, max(10, width + 2))
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _width(value) -> int:
    # CJK characters take two columns' width.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(value if value is not None else ""))


def xlsx_response(table: Table, filters: list[tuple[str, str]], filename: str) -> HttpResponse:
    """The table as an .xlsx download named ``filename`` (RFC 5987 for Chinese names)."""
    response = HttpResponse(xlsx_bytes(table, filters), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(True, safe_filename(filename))
    return response
