"""Writing .xlsx files (exports, import templates, error files) with openpyxl's write-only
mode: rows stream to disk, so memory stays flat however many rows there are."""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Iterable, Sequence
from typing import IO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# SECURITY: a text cell starting with one of these is read as a formula by Excel / WPS
# (CSV/formula injection, OWASP). Such values are written with a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="E6F2F3")
_MAX_WIDTH = 50


def neutralise(value):
    """The value made safe for a spreadsheet cell: text that a spreadsheet would run as a
    formula gets a leading apostrophe; numbers, dates and booleans pass unchanged."""
    if isinstance(value, str):
        if value.startswith(_FORMULA_STARTS):
            return "'" + value
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int | float | decimal.Decimal):
        return value
    if isinstance(value, datetime.datetime):
        # Spreadsheets have no time zones: write the local wall time.
        return value.replace(tzinfo=None) if value.tzinfo is None else _local(value)
    if isinstance(value, datetime.date):
        return value
    return neutralise(str(value))


def _local(value: datetime.datetime) -> datetime.datetime:
    from django.utils import timezone

    return timezone.localtime(value).replace(tzinfo=None)


def _widths(headers: Sequence[str]) -> list[int]:
    # CJK characters take two columns' width.
    return [
        min(_MAX_WIDTH, max(10, sum(2 if ord(ch) > 0x2E80 else 1 for ch in h) + 4)) for h in headers
    ]


def write_xlsx(
    target: IO[bytes] | str,
    headers: Sequence[str],
    rows: Iterable[Sequence],
    *,
    title: str = "Sheet1",
    extra_sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence]]] = (),
) -> int:
    """Write one sheet (bold header, then ``rows``) to ``target``; returns the row count.
    ``extra_sheets`` are further (title, headers, rows) sheets."""
    workbook = Workbook(write_only=True)
    count = 0
    for index, (sheet_title, sheet_headers, sheet_rows) in enumerate(
        [(title, headers, rows), *extra_sheets]
    ):
        sheet = workbook.create_sheet(title=str(sheet_title)[:31])
        for column, width in enumerate(_widths([str(h) for h in sheet_headers]), start=1):
            sheet.column_dimensions[_column_letter(column)].width = width
        sheet.freeze_panes = "A2"
        header_cells = []
        for header in sheet_headers:
            cell = WriteOnlyCell(sheet, value=neutralise(str(header)))
            cell.font = _HEADER_FONT
            cell.fill = _HEADER_FILL
            header_cells.append(cell)
        sheet.append(header_cells)
        for row in sheet_rows:
            sheet.append([neutralise(value) for value in row])
            if index == 0:
                count += 1
    workbook.save(target)
    return count


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)
