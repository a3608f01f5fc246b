"""Report tables and their xlsx export: the filters line, header, rows, total; numbers as
numbers; formulas neutralised; a safe Chinese file name."""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO
from urllib.parse import quote

from django.utils import translation
from openpyxl import load_workbook

from reports.tables import Column, Row, Table, filters_line, safe_filename, xlsx_response


def _table():
    return Table(
        title="客户增量",
        label_header="姓名",
        columns=[
            Column("created", "手动新建"),
            Column("rate", "跟进率（%）"),
            Column("note", "备注", numeric=False),
        ],
        rows=[
            Row(
                "张三",
                {"created": 3, "rate": Decimal("12.5"), "note": "=1+1"},
                links={"created": "/c/?o=1"},
            ),
            Row("李四", {"created": 0, "rate": None, "note": "@SUM(A1)"}, inactive=True),
        ],
        total=Row("合计", {"created": 3, "rate": Decimal("12.5"), "note": ""}),
    )


def _sheet(response):
    return load_workbook(BytesIO(response.content)).active


def test_export_lines_are_filters_header_rows_total():
    filters = [("期间", "本月（2026-12-01 至 2026-12-31）"), ("部门", "销售部")]
    with translation.override("en"):
        response = xlsx_response(_table(), filters, "客户增量 2026-12.xlsx")
    rows = [list(r) for r in _sheet(response).iter_rows(values_only=True)]
    assert rows[0][0] == "期间: 本月（2026-12-01 至 2026-12-31） · 部门: 销售部"
    assert rows[1] == ["姓名", "手动新建", "跟进率（%）", "备注"]
    assert rows[2] == ["张三", 3, 12.5, "'=1+1"]
    assert rows[3] == ["李四 (deactivated)", 0, None, "'@SUM(A1)"]
    assert rows[4] == ["合计", 3, 12.5, None]
    assert len(rows) == 5


def test_numbers_are_numbers_and_no_cell_is_a_formula():
    response = xlsx_response(_table(), [("部门", "=cmd|' /C calc'!A0")], "x")
    sheet = _sheet(response)
    assert sheet["B3"].data_type == "n" and sheet["B3"].value == 3
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f"
    assert sheet.title == "客户增量"


def test_download_name_is_rfc5987_for_chinese():
    response = xlsx_response(_table(), [], "客户增量 2026-12")
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert f"filename*=utf-8''{quote('客户增量 2026-12.xlsx')}" in disposition


def test_safe_filename():
    assert safe_filename("../../etc/passwd") == "etc-passwd.xlsx"
    assert safe_filename('a\r\nb"c.xlsx') == "a-b-c.xlsx"
    assert safe_filename("") == "report.xlsx"
    assert safe_filename("报表.XLSX") == "报表.XLSX"


def test_filters_line_translated():
    with translation.override("en"):
        assert filters_line([("A", "1"), ("B", "2")]) == "A: 1 · B: 2"
    assert filters_line([]) == ""


def test_cells_in_column_order_with_links():
    table = _table()
    cells = table.rows[0].cells(table.columns)
    assert [(c.key, v, link) for c, v, link in cells] == [
        ("created", 3, "/c/?o=1"),
        ("rate", Decimal("12.5"), None),
        ("note", "=1+1", None),
    ]


def test_empty_table_exports_header_only():
    table = Table(title="空", columns=[Column("n", "数量")])
    with translation.override("en"):
        rows = list(
            _sheet(xlsx_response(table, [("期间", "今天")], "空")).iter_rows(values_only=True)
        )
    assert rows == [("期间: 今天", None), ("Name", "数量")]
