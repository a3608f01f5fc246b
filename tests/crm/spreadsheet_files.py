"""Messy spreadsheet files, generated as bytes, for the tests of crm.spreadsheets and of the
imports built on it.

Every generator takes the headers and rows it should write, so that an import test can build
the case it needs (a GB18030 CSV of customers, an xlsx with a merged title above the header…).
openpyxl writes the ordinary xlsx; the quirks openpyxl cannot produce (cached formula values,
inline strings, a million declared rows, WPS rich text, Google Sheets' styled grid, legacy xls,
encrypted packages, zip bombs) are built by hand from the XML and binary formats.
"""

from __future__ import annotations

import csv
import datetime
import functools
import io
import random
import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

CUSTOMER_HEADERS = [
    "客户名称",
    "手机",
    "电话",
    "省份",
    "城市",
    "地址",
    "行业",
    "来源",
    "级别",
    "邮箱",
    "备注",
    "下次跟进时间",
]
_PROVINCES = [
    ("浙江省", "杭州市"),
    ("江苏省", "南京市"),
    ("广东省", "深圳市"),
    ("上海市", "上海市"),
]


def customer_rows(count: int, *, seed: int = 1) -> Iterable[list]:
    """``count`` realistic rows for CUSTOMER_HEADERS: mobiles as floats (what Excel stores),
    landlines, Chinese text, an Excel serial date for the next follow-up."""
    rng = random.Random(seed)
    for i in range(count):
        province, city = _PROVINCES[i % len(_PROVINCES)]
        yield [
            f"{city}某某科技有限公司{i}",
            float(13800000000 + i),
            f"0571-8{i % 10_000_000:07d}",
            province,
            city,
            f"{city}文三路{i}号",
            rng.choice(["软件", "制造", "零售"]),
            rng.choice(["展会", "转介绍", "官网"]),
            rng.choice(["A", "B", "C"]),
            f"u{i}@example.com",
            f"老客户介绍，需要回访 {i % 100}",
            45322.0 + i % 365,
        ]


# --- xlsx with openpyxl ------------------------------------------------------------------


def xlsx_bytes(
    headers: Sequence,
    rows: Iterable[Sequence],
    *,
    title_rows: Sequence = (),
    merged_title: bool = False,
    blank_rows_above: int = 0,
    first_column: int = 1,
    trailing_blank_rows: int = 0,
    hidden_sheet_first: bool = False,
    sheet_title: str = "客户",
) -> bytes:
    """An xlsx as Excel users make them: optional title rows above the header (merged across
    the header's width with ``merged_title``), blank rows above, data starting in a later
    column, and ``trailing_blank_rows`` formatted but empty rows below (cells with a style
    and no value, as left behind by deleting the contents of rows)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = sheet_title
    if hidden_sheet_first:
        hidden = workbook.create_sheet("说明", 0)
        hidden.append(["这是隐藏的说明页", "不是数据"])
        hidden.sheet_state = "hidden"
    row_number = 1
    for title in title_rows:
        values = [title] if isinstance(title, str) else list(title)
        for offset, value in enumerate(values):
            sheet.cell(row=row_number, column=first_column + offset, value=value)
        if merged_title and isinstance(title, str):
            sheet.merge_cells(
                start_row=row_number,
                start_column=first_column,
                end_row=row_number,
                end_column=first_column + max(len(headers), 1) - 1,
            )
        row_number += 1
    row_number += blank_rows_above
    for values in [headers, *rows]:
        for offset, value in enumerate(values):
            if value is not None:
                sheet.cell(row=row_number, column=first_column + offset, value=value)
        row_number += 1
    bold = Font(bold=True)
    for _ in range(trailing_blank_rows):
        for offset in range(len(headers)):
            sheet.cell(row=row_number, column=first_column + offset).font = bold
        row_number += 1
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def workbook_xlsx(
    sheets: Sequence[tuple[str, Sequence[Sequence]]],
    *,
    merges: dict[str, Sequence[str]] | None = None,
    hidden: Sequence[str] = (),
) -> bytes:
    """An xlsx of several sheets, (name, rows) each, as openpyxl writes it (formulas given as
    "=…" text are saved without a value); ``merges``: sheet name → ranges such as "A2:A4"
    (the value stays in the first cell, the others are emptied as Excel does)."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets:
        sheet = workbook.create_sheet(name)
        for values in rows:
            sheet.append(list(values))
        for ref in (merges or {}).get(name, ()):
            sheet.merge_cells(ref)
        if name in hidden:
            sheet.sheet_state = "hidden"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def ods_workbook(
    sheets: Sequence[tuple[str, Sequence[Sequence]]],
    *,
    spans: dict[str, dict[tuple[int, int], int]] | None = None,
) -> bytes:
    """An OpenDocument spreadsheet as LibreOffice writes it: each (name, rows) a table, texts
    and numbers typed, repeated empty cells and the trailing empty rows of the grid written
    once with number-*-repeated. ``spans``: sheet name → {(row, column) 0-based: rows} cells
    merged down over that many rows (the cells below written as covered cells)."""
    tables = []
    for name, rows in sheets:
        merged = (spans or {}).get(name, {})
        covered = {(r + k, c) for (r, c), count in merged.items() for k in range(1, count)}
        parts = [f'<table:table table:name="{escape(name)}">']
        for r, values in enumerate(rows):
            cells = []
            for c, value in enumerate(values):
                span = f' table:number-rows-spanned="{merged[r, c]}"' if (r, c) in merged else ""
                if (r, c) in covered:
                    cells.append("<table:covered-table-cell/>")
                elif value is None:
                    cells.append("<table:table-cell/>")
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    cells.append(
                        f'<table:table-cell{span} office:value-type="float" '
                        f'office:value="{value}"><text:p>{value}</text:p></table:table-cell>'
                    )
                else:
                    cells.append(
                        f'<table:table-cell{span} office:value-type="string">'
                        f"<text:p>{escape(str(value))}</text:p></table:table-cell>"
                    )
            cells.append('<table:table-cell table:number-columns-repeated="1000"/>')
            parts.append(f"<table:table-row>{''.join(cells)}</table:table-row>")
        parts.append(
            '<table:table-row table:number-rows-repeated="1048000">'
            '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
        )
        parts.append("</table:table>")
        tables.append("".join(parts))
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f"<office:body><office:spreadsheet>{''.join(tables)}</office:spreadsheet>"
        "</office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    return _zip(
        {
            "mimetype": "application/vnd.oasis.opendocument.spreadsheet",
            "content.xml": content,
            "META-INF/manifest.xml": manifest,
        },
        stored_first="mimetype",
    )


# --- xlsx by hand --------------------------------------------------------------------------

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
# Style 0: General; 1: a date (numFmt 14); 2: date and time (numFmt 22); 3: bold.
_STYLES = (
    _XML_DECL + f'<styleSheet xmlns="{_MAIN_NS}"><fonts count="2"><font><sz val="11"/></font>'
    '<font><b/><sz val="11"/></font></fonts><fills count="1"><fill><patternFill '
    'patternType="none"/></fill></fills><borders count="1"><border/></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    '</cellStyleXfs><cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" '
    'xfId="0"/><xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" '
    'applyNumberFormat="1"/><xf numFmtId="22" fontId="0" fillId="0" borderId="0" xfId="0" '
    'applyNumberFormat="1"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" '
    'applyFont="1"/></cellXfs></styleSheet>'
)


class Formula:
    """A formula cell with the value cached by the application that saved it (None: no
    cached value, as openpyxl and other scripts write formulas)."""

    def __init__(self, formula: str, cached=None):
        self.formula = formula
        self.cached = cached


def column_letter(index: int) -> str:
    """1 → A, 27 → AA."""
    return get_column_letter(index)


def _cell_xml(ref: str, value, shared: dict[str, int] | None, style: str = "") -> str:
    # ``style`` is an attribute (' s="3"') for every cell but dates, which have their own.
    if isinstance(value, Formula):
        formula = f"<f>{escape(value.formula)}</f>"
        if value.cached is None:
            return f'<c r="{ref}"{style}>{formula}</c>'
        if isinstance(value.cached, str):
            return f'<c r="{ref}"{style} t="str">{formula}<v>{escape(value.cached)}</v></c>'
        return f'<c r="{ref}"{style}>{formula}<v>{value.cached!r}</v></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}"{style} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, datetime.datetime):
        serial = (value - datetime.datetime(1899, 12, 30)).total_seconds() / 86400
        return f'<c r="{ref}" s="2"><v>{serial!r}</v></c>'
    if isinstance(value, datetime.date):
        return f'<c r="{ref}" s="1"><v>{(value - datetime.date(1899, 12, 30)).days}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"{style}><v>{value!r}</v></c>'
    text = str(value)
    if shared is None:
        return (
            f'<c r="{ref}"{style} t="inlineStr"><is><t xml:space="preserve">'
            f"{escape(text)}</t></is></c>"
        )
    index = shared.setdefault(text, len(shared))
    return f'<c r="{ref}"{style} t="s"><v>{index}</v></c>'


def sheet_rows_xml(
    rows: Iterable[Sequence],
    *,
    shared: dict[str, int] | None = None,
    first_row: int = 1,
    style: str = "",
) -> str:
    """<row> elements for ``rows`` (None cells are left out); strings go to ``shared`` (a
    dict being filled: text → index) or are written inline when it is None."""
    letters = [column_letter(i) for i in range(1, 65)]
    parts = []
    for number, values in enumerate(rows, start=first_row):
        cells = "".join(
            _cell_xml(
                f"{letters[i] if i < 64 else column_letter(i + 1)}{number}", value, shared, style
            )
            for i, value in enumerate(values)
            if value is not None
        )
        parts.append(f'<row r="{number}">{cells}</row>')
    return "".join(parts)


def raw_xlsx(
    sheet_data: str | Iterable[str],
    *,
    dimension: str | None = None,
    shared_strings: Sequence[str] | str | None = None,
    sheets: Sequence[tuple[str, str]] = (),
    worksheet_open: str = f'<worksheet xmlns="{_MAIN_NS}">',
    worksheet_close: str = "</worksheet>",
    sheet_data_tags: tuple[str, str] = ("<sheetData>", "</sheetData>"),
    compresslevel: int = 6,
) -> bytes:
    """A minimal xlsx from the XML of its first sheet's <sheetData> (a string, or pieces
    streamed into the zip), with optional shared strings (a list of texts, or the whole
    <sst> XML) and further (name, sheetData XML) sheets."""
    names = ["Sheet1", *(name for name, _xml in sheets)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, len(names) + 1)
        )
        zf.writestr(
            "[Content_Types].xml",
            _XML_DECL + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
            'sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/><Override '
            'PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
            f'officedocument.spreadsheetml.sharedStrings+xml"/>{overrides}</Types>',
        )
        zf.writestr(
            "_rels/.rels",
            _XML_DECL + f'<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" '
            f'Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        sheet_tags = "".join(
            f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>'
            for i, name in enumerate(names, start=1)
        )
        zf.writestr(
            "xl/workbook.xml",
            _XML_DECL + f'<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}"><sheets>'
            f"{sheet_tags}</sheets></workbook>",
        )
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" '
            f'Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(names) + 1)
        )
        n = len(names)
        zf.writestr(
            "xl/_rels/workbook.xml.rels",
            _XML_DECL + f'<Relationships xmlns="{_PKG_REL_NS}">{rels}'
            f'<Relationship Id="rId{n + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId{n + 2}" Type="{_REL_NS}/sharedStrings" '
            'Target="sharedStrings.xml"/></Relationships>',
        )
        zf.writestr("xl/styles.xml", _STYLES)
        if isinstance(shared_strings, str):
            sst = shared_strings
        else:
            items = "".join(
                f'<si><t xml:space="preserve">{escape(text)}</t></si>'
                for text in shared_strings or ()
            )
            count = len(shared_strings or ())
            sst = (
                _XML_DECL
                + f'<sst xmlns="{_MAIN_NS}" count="{count}" uniqueCount="{count}">{items}</sst>'
            )
        zf.writestr("xl/sharedStrings.xml", sst)
        head = _XML_DECL + worksheet_open
        if dimension:
            head += f'<dimension ref="{dimension}"/>'
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as stream:
            stream.write((head + sheet_data_tags[0]).encode())
            pieces = [sheet_data] if isinstance(sheet_data, str) else sheet_data
            for piece in pieces:
                stream.write(piece.encode())
            stream.write((sheet_data_tags[1] + worksheet_close).encode())
        for i, (_name, xml) in enumerate(sheets, start=2):
            zf.writestr(
                f"xl/worksheets/sheet{i}.xml",
                f'{_XML_DECL}<worksheet xmlns="{_MAIN_NS}"><sheetData>{xml}</sheetData>'
                "</worksheet>",
            )
    return buffer.getvalue()


def shared_strings_xlsx(headers: Sequence, rows: Iterable[Sequence], **kwargs) -> bytes:
    """Excel's own layout: every text in xl/sharedStrings.xml, cells refer to it by index.
    Fast enough for 100,000-row files (plain string building)."""
    shared: dict[str, int] = {}
    data = sheet_rows_xml([headers, *rows], shared=shared)
    return raw_xlsx(data, shared_strings=list(shared), **kwargs)


def inline_strings_xlsx(headers: Sequence, rows: Iterable[Sequence], **kwargs) -> bytes:
    """Texts written in the cells (t="inlineStr"), as openpyxl's write-only mode, many
    reporting tools and some WPS versions do; no <dimension>."""
    return raw_xlsx(sheet_rows_xml([headers, *rows]), shared_strings=(), **kwargs)


def formula_xlsx(headers: Sequence, rows: Iterable[Sequence]) -> bytes:
    """Cells given as ``Formula(formula, cached)`` are written as Excel/WPS save them: the
    formula and its last computed value, e.g. <c r="B2"><f>A2</f><v>13800138000</v></c>."""
    return inline_strings_xlsx(headers, rows)


def wps_rich_text_xlsx(headers: Sequence, rows: Iterable[Sequence]) -> bytes:
    """Shared strings as WPS writes text pasted with formatting: runs (<r><rPr>…<t>) instead of
    one <t>; every text is split into two runs, the second in red."""
    shared: dict[str, int] = {}
    data = sheet_rows_xml([headers, *rows], shared=shared)
    items = []
    for text in shared:
        half = len(text) // 2
        items.append(
            f'<si><r><t xml:space="preserve">{escape(text[:half])}</t></r><r><rPr><sz val="11"/>'
            f'<color rgb="FFFF0000"/><rFont val="宋体"/></rPr><t xml:space="preserve">'
            f"{escape(text[half:])}</t></r></si>"
        )
    sst = (
        f'{_XML_DECL}<sst xmlns="{_MAIN_NS}" count="{len(items)}" uniqueCount="{len(items)}">'
        f"{''.join(items)}</sst>"
    )
    return raw_xlsx(data, shared_strings=sst, dimension=f"A1:{column_letter(len(headers))}9")


def google_sheets_xlsx(headers: Sequence, rows: Sequence[Sequence], *, grid_rows: int = 1000):
    """Google Sheets' export: shared strings, a style on every cell, no <dimension>, and the
    sheet's whole formatted grid (A:Z × ``grid_rows``) written as empty styled cells."""
    shared: dict[str, int] = {}
    data = sheet_rows_xml([headers, *rows], shared=shared, style=' s="3"')
    grid = "".join(
        f'<row r="{number}">'
        + "".join(f'<c r="{column_letter(c)}{number}" s="3"/>' for c in range(1, 27))
        + "</row>"
        for number in range(len(rows) + 2, grid_rows + 1)
    )
    return raw_xlsx(data + grid, shared_strings=list(shared))


def million_row_dimension_xlsx(
    headers: Sequence, rows: Sequence[Sequence], *, last_row: int = 1_048_576
) -> bytes:
    """LibreOffice's habit: <dimension ref="A1:C1048576"/>, an empty <row> element for every
    row down to the last one of the sheet (streamed into the zip: ~60 MB of XML) and, in the
    last row, formatted cells without a value."""
    last_column = column_letter(max(len(headers), 1))

    def pieces():
        yield sheet_rows_xml([headers, *rows])
        empty = '<row r="{}" s="1" customFormat="1" ht="12.8" customHeight="1"/>'.format
        for start in range(len(rows) + 2, last_row, 50_000):
            yield "".join(map(empty, range(start, min(start + 50_000, last_row))))
        styled = f'<c r="A{last_row}" s="3"/><c r="{last_column}{last_row}" s="3"/>'
        yield f'<row r="{last_row}">{styled}</row>'

    return raw_xlsx(pieces(), dimension=f"A1:{last_column}{last_row}", shared_strings=())


def filled_down_formula_xlsx(
    headers: Sequence, rows: Sequence[Sequence], *, last_row: int = 200_000
) -> bytes:
    """A template whose last column holds a formula filled down to ``last_row``; below the
    data its cached value is "" (a cell with a value for the reader, a blank row for us)."""
    width = len(headers)
    letter = column_letter(width)

    def pieces():
        yield sheet_rows_xml([headers, *rows])
        for start in range(len(rows) + 2, last_row + 1, 50_000):
            yield "".join(
                f'<row r="{n}"><c r="{letter}{n}" t="str"><f>IF(A{n}="","",A{n})</f><v></v></c>'
                "</row>"
                for n in range(start, min(start + 50_000, last_row + 1))
            )

    return raw_xlsx(pieces(), dimension=f"A1:{letter}{last_row}", shared_strings=())


def sparse_xlsx(headers: Sequence, rows: Sequence[Sequence], *, far_cell: str = "XFD1048576"):
    """A tiny file with one empty inline string in ``far_cell``: a reader that allocates the
    rectangle up to the last cell asks for 17 billion cells."""
    data = sheet_rows_xml([headers, *rows])
    number = "".join(ch for ch in far_cell if ch.isdigit())
    data += f'<row r="{number}"><c r="{far_cell}" t="inlineStr"><is><t></t></is></c></row>'
    return raw_xlsx(data, shared_strings=())


def rless_cells_xlsx(headers: Sequence, rows: Sequence[Sequence], *, far_row=0, far_cells=0):
    """Cells without r="" attributes (some generators omit them; a reader numbers them from
    the row and their order), with ``far_cells`` empty strings in row ``far_row``."""
    parts = []
    for number, values in enumerate([headers, *rows], start=1):
        cells = "".join(
            "<c/>" if value is None else _cell_xml("X", value, None).replace(' r="X"', "")
            for value in values
        )
        parts.append(f'<row r="{number}">{cells}</row>')
    if far_row:
        empty = '<c t="inlineStr"><is><t></t></is></c>'
        parts.append(f'<row r="{far_row}">{empty * far_cells}</row>')
    return raw_xlsx("".join(parts), shared_strings=())


def prefixed_xlsx(headers: Sequence, rows: Sequence[Sequence]) -> bytes:
    """The worksheet written with a namespace prefix (<x:c>), as the .NET Open XML SDK does."""
    data = sheet_rows_xml([headers, *rows])
    for tag in ("row", "c", "is", "t", "v", "f"):
        data = data.replace(f"<{tag} ", f"<x:{tag} ").replace(f"<{tag}>", f"<x:{tag}>")
        data = data.replace(f"</{tag}>", f"</x:{tag}>")
    return raw_xlsx(
        data,
        shared_strings=(),
        worksheet_open=f'<x:worksheet xmlns:x="{_MAIN_NS}">',
        worksheet_close="</x:worksheet>",
        sheet_data_tags=("<x:sheetData>", "</x:sheetData>"),
    )


def corrupt_sheet_xlsx() -> bytes:
    """A well-formed zip whose worksheet is not XML."""
    return raw_xlsx('<row r="1"><c r="A1" t="inlineStr"><is><t>客户名称</t></is></c></row><row')


def truncated_xlsx(headers: Sequence = ("客户名称", "手机"), rows=(("甲公司", 13800138000),)):
    """The first half of a valid xlsx: an upload cut off on the way."""
    data = xlsx_bytes(headers, rows)
    return data[: len(data) // 2]


# --- other zips ------------------------------------------------------------------------------


def _zip(members: dict[str, bytes | str], *, stored_first: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        if stored_first:
            zf.writestr(stored_first, members[stored_first], compress_type=zipfile.ZIP_STORED)
        for name, content in members.items():
            if name != stored_first:
                zf.writestr(name, content)
    return buffer.getvalue()


def numbers_zip() -> bytes:
    """An Apple Numbers document (a zip of .iwa protobuf parts, a plist and a preview)."""
    return _zip(
        {
            "Index/Document.iwa": b"\x00\x1b\x00\x00\x08\x01\x12\x05" + bytes(64),
            "Index/Tables/DataList.iwa": bytes(32),
            "Metadata/Properties.plist": b"bplist00" + bytes(40),
            "Metadata/DocumentIdentifier": b"7E1A3B5C-0000-4000-8000-000000000000",
            "preview.jpg": b"\xff\xd8\xff\xe0" + bytes(60),
        }
    )


def docx_bytes() -> bytes:
    """A Word document: a zip, but not a workbook."""
    return _zip(
        {
            "[Content_Types].xml": '<?xml version="1.0"?><Types/>',
            "word/document.xml": '<?xml version="1.0"?><w:document/>',
        }
    )


def ods_bytes() -> bytes:
    """An OpenDocument spreadsheet (LibreOffice's own format)."""
    return _zip(
        {
            "mimetype": "application/vnd.oasis.opendocument.spreadsheet",
            "content.xml": '<?xml version="1.0"?><office:document-content/>',
        },
        stored_first="mimetype",
    )


def xlsb_zip() -> bytes:
    """An Excel binary workbook (.xlsb)."""
    return _zip({"[Content_Types].xml": "<Types/>", "xl/workbook.bin": bytes(64)})


@functools.cache
def zip_bomb(size: int = 400 * 1024 * 1024) -> bytes:
    """An "xlsx" whose worksheet unpacks to ``size`` bytes of zeros (about 1.8 MB for 400 MB).
    Written in 1 MB chunks at the fastest compression level: quick, and little memory."""
    buffer = io.BytesIO()
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as stream:
            for _ in range(size // len(chunk)):
                stream.write(chunk)
    return buffer.getvalue()


def ratio_bomb(size: int = 20 * 1024 * 1024) -> bytes:
    """A worksheet of zeros compressed ~1000:1: small in total, but no real sheet compresses
    that well."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", bytes(size))
    return buffer.getvalue()


# --- OLE2: legacy xls, encrypted packages ----------------------------------------------------

_FREE, _END, _FAT_SECTOR = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def ole2_bytes(streams: dict[str, bytes], *, pad_small: bool = False) -> bytes:
    """A compound file (OLE2, version 3, 512-byte sectors) holding ``streams``. Streams under
    4096 bytes live in the mini stream (64-byte sectors), as in real files, unless
    ``pad_small`` pads them to 4096 bytes."""
    sector, mini = 512, 64
    if pad_small:
        streams = {name: data + bytes(max(0, 4096 - len(data))) for name, data in streams.items()}
    small = {name: data for name, data in streams.items() if len(data) < 4096}
    big = {name: data for name, data in streams.items() if len(data) >= 4096}

    minifat: list[int] = []
    mini_starts: dict[str, int] = {}
    container = b""
    for name, data in small.items():
        padded = data + bytes(-len(data) % mini)
        first, count = len(minifat), max(len(padded) // mini, 1)
        mini_starts[name] = first
        minifat += [*range(first + 1, first + count), _END]
        container += padded.ljust(count * mini, b"\0")
    minifat_bytes = struct.pack(f"<{len(minifat)}I", *minifat) if minifat else b""
    minifat_bytes += struct.pack("<I", _FREE) * (-len(minifat) % 128)
    blobs = [minifat_bytes, container, *big.values()]
    blobs = [blob + bytes(-len(blob) % sector) for blob in blobs]

    dir_sectors = (len(streams) + 1 + 3) // 4
    data_sectors = sum(len(blob) // sector for blob in blobs)
    fat_sectors = 1
    while fat_sectors * 128 < fat_sectors + dir_sectors + data_sectors:
        fat_sectors += 1
    fat = [_FAT_SECTOR] * fat_sectors
    dir_start = len(fat)
    fat += [*range(dir_start + 1, dir_start + dir_sectors), _END]
    starts = []
    for blob in blobs:
        count = len(blob) // sector
        if not count:
            starts.append(_END)
            continue
        starts.append(len(fat))
        fat += [*range(len(fat) + 1, len(fat) + count), _END]
    fat += [_FREE] * (fat_sectors * 128 - len(fat))
    minifat_start, container_start, *big_starts = starts

    def entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return struct.pack(
            "<64sHBBIII16sIQQIQ",
            encoded,
            len(encoded),
            kind,
            1,  # black
            _FREE,
            right,
            child,
            bytes(16),
            0,
            0,
            0,
            start,
            size,
        )

    names = list(streams)
    big_start = dict(zip(big, big_starts, strict=True))
    directory = entry(
        "Root Entry", 5, 1 if names else _FREE, _FREE, container_start, len(container)
    )
    for i, name in enumerate(names):
        right = i + 2 if i + 1 < len(names) else _FREE
        start = mini_starts[name] if name in small else big_start[name]
        directory += entry(name, 2, _FREE, right, start, len(streams[name]))
    directory += bytes(dir_sectors * sector - len(directory))
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        bytes.fromhex("D0CF11E0A1B11AE1"),
        bytes(16),
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        bytes(6),
        0,
        fat_sectors,
        dir_start,
        0,
        4096,
        minifat_start,
        len(minifat_bytes) // sector,
        _END,
        0,
    )
    header += struct.pack("<109I", *range(fat_sectors), *[_FREE] * (109 - fat_sectors))
    return header + struct.pack(f"<{len(fat)}I", *fat) + directory + b"".join(blobs)


def _record(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack("<HH", kind, len(payload)) + payload


def _bof(kind: int) -> bytes:
    return _record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 6))


def xls_bytes(
    headers: Sequence,
    rows: Iterable[Sequence],
    *,
    sheet: str = "客户",
    password: bool = False,
    far_cell: tuple[int, int] | None = None,
    pad_small: bool = False,
    merges: Sequence[tuple[int, int, int, int]] = (),
) -> bytes:
    """A legacy Excel 97–2003 workbook (BIFF8): texts in the shared string table, numbers as
    NUMBER records, dates as their serial numbers. ``password`` adds the FILEPASS record of a
    password-protected file; ``far_cell`` (row, column), 0-based, adds an empty text there.
    A small workbook stream
    lives in the OLE2 mini stream, unless ``pad_small``. The texts must fit one SST record
    (about 8 KB: no CONTINUE records are written), so keep them few and repeated.
    ``merges`` are (first row, last row, first column, last column), 0-based: a MERGEDCELLS
    record (WPS .et files are this same format)."""
    strings: dict[str, int] = {}
    cells = []
    all_rows = [headers, *rows]
    for r, values in enumerate(all_rows):
        for c, value in enumerate(values):
            if value is None:
                continue
            if isinstance(value, str):
                index = strings.setdefault(value, len(strings))
                cells.append(_record(0x00FD, struct.pack("<HHHI", r, c, 0, index)))
            else:
                if isinstance(value, datetime.date):  # as a serial number: no XF records
                    value = (value - datetime.date(1899, 12, 30)).days
                cells.append(_record(0x0203, struct.pack("<HHHd", r, c, 0, float(value))))
    if far_cell:
        index = strings.setdefault("", len(strings))
        cells.append(_record(0x00FD, struct.pack("<HHHI", *far_cell, 0, index)))
    sst = _record(
        0x00FC,
        struct.pack("<II", len(strings), len(strings))
        + b"".join(struct.pack("<HB", len(s), 1) + s.encode("utf-16-le") for s in strings),
    )
    filepass = _record(0x002F, struct.pack("<HHH", 1, 1, 1) + bytes(48)) if password else b""

    def boundsheet(position: int) -> bytes:
        name = sheet.encode("utf-16-le")
        return _record(0x0085, struct.pack("<IBBBB", position, 0, 0, len(sheet), 1) + name)

    globals_size = len(_bof(5)) + len(filepass) + len(boundsheet(0)) + len(sst) + 4
    workbook = _bof(5) + filepass + boundsheet(globals_size) + sst + _record(0x000A)
    width = max(len(values) for values in all_rows)
    dimensions = _record(0x0200, struct.pack("<IIHHH", 0, len(all_rows), 0, width, 0))
    merged = b""
    if merges:
        merged = _record(
            0x00E5,
            struct.pack("<H", len(merges)) + b"".join(struct.pack("<HHHH", *m) for m in merges),
        )
    workbook += _bof(0x10) + dimensions + b"".join(cells) + merged + _record(0x000A)
    return ole2_bytes({"Workbook": workbook}, pad_small=pad_small)


def encrypted_bytes() -> bytes:
    """An xlsx saved with a password to open: an OLE2 container with the EncryptionInfo and
    EncryptedPackage streams (the package itself is random bytes here)."""
    rng = random.Random(5)
    return ole2_bytes(
        {
            "EncryptionInfo": struct.pack("<HHI", 4, 4, 0x40) + bytes(200),
            "EncryptedPackage": struct.pack("<Q", 9000) + rng.randbytes(9000),
        }
    )


def word_doc_bytes() -> bytes:
    """A Word 97–2003 .doc: OLE2 as well, without a workbook stream."""
    return ole2_bytes({"WordDocument": b"\xec\xa5\xc1\x00" + bytes(500), "1Table": bytes(100)})


# --- text ------------------------------------------------------------------------------------


def csv_bytes(
    headers: Sequence,
    rows: Iterable[Sequence],
    *,
    encoding: str = "utf-8",
    bom: bool = False,
    delimiter: str = ",",
    title_rows: Sequence[str] = (),
    sep_line: bool = False,
) -> bytes:
    """A CSV as spreadsheets save it: CRLF line ends; ``encoding`` "gb18030" is Chinese
    Excel's "CSV (逗号分隔)", "utf-8" with ``bom`` its "CSV UTF-8", "utf-16" its "Unicode
    text" (tab-delimited). ``sep_line`` starts with Excel's "sep=;" line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    if sep_line:
        buffer.write(f"sep={delimiter}\r\n")
    for title in title_rows:
        writer.writerow([title])
    writer.writerow(headers)
    for values in rows:
        writer.writerow(["" if value is None else value for value in values])
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def pdf_bytes() -> bytes:
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"


def png_bytes() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"


def html_xls_bytes(headers: Sequence, rows: Iterable[Sequence]) -> bytes:
    """What many web systems download as "客户.xls": an HTML table."""
    cells = "".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in values) + "</tr>"
        for values in [headers, *rows]
    )
    return (
        '<html xmlns:x="urn:schemas-microsoft-com:office:excel"><head><meta charset="utf-8">'
        f"</head><body><table>{cells}</table></body></html>"
    ).encode()


# --- zips whose directory lies -----------------------------------------------------------------

_BOMB_UNITS = {
    # One shared string of "甲" repeated (a 3-byte period: deflate's best ratio, ~1000:1):
    # calamine would hold it whole.
    "xl/sharedStrings.xml": (
        f'{_XML_DECL}<sst xmlns="{_MAIN_NS}"><si><t>客户名称</t></si><si><t>',
        "甲",
        "</t></si></sst>",
    ),
    # A cell in row 2 holding "甲" repeated.
    "xl/worksheets/sheet1.xml": (
        f'{_XML_DECL}<worksheet xmlns="{_MAIN_NS}"><sheetData><row r="1">'
        '<c r="A1" t="inlineStr"><is><t>客户名称</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>',
        "甲",
        "</t></is></c></row></sheetData></worksheet>",
    ),
}


def _raw_deflate_repeated(head: bytes, unit: bytes, tail: bytes, size: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``head``, ``unit`` repeated to about ``size`` bytes, ``tail``,
    and the length it inflates to. One 1 MiB block is compressed once and repeated: after a
    full flush a block refers to nothing before it, so copies of it are a valid stream."""
    chunk = unit * (1024 * 1024 // len(unit))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.compress(tail) + compressor.flush(zlib.Z_FINISH)
    count = max(1, size // len(chunk))
    return start + block * count + end, len(head) + len(chunk) * count + len(tail)


def _crc_repeated(head: bytes, unit: bytes, tail: bytes, size: int) -> int:
    chunk = unit * (1024 * 1024 // len(unit))
    crc = zlib.crc32(head)
    for _ in range(max(1, size // len(chunk))):
        crc = zlib.crc32(chunk, crc)
    return zlib.crc32(tail, crc)


def raw_zip(members: Sequence[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip written byte by byte from (name, raw deflate data, CRC-32, declared size,
    method): whatever the directory declares, true or not."""
    out = io.BytesIO()
    directory = []
    for name, data, crc, declared, method in members:
        encoded = name.encode()
        offset = out.tell()
        out.write(
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(data),
                declared,
                len(encoded),
                0,
            )
        )
        out.write(encoded)
        out.write(data)
        directory.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(data),
                declared,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    start = out.tell()
    for entry in directory:
        out.write(entry)
    size = out.tell() - start
    out.write(
        struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), size, start, 0)
    )
    return out.getvalue()


@functools.cache
def lying_bomb_xlsx(
    member: str = "xl/sharedStrings.xml",
    *,
    inflated: int = 1536 * 1024 * 1024,
    honest: bool = False,
    padding: int = 0,
) -> bytes:
    """A valid xlsx (the header 客户名称 in A1) whose ``member`` is a deflate stream of
    ~1.5 MB that inflates to ``inflated`` bytes (1.5 GB), while the zip's directory and local
    header declare the size of an honest, tiny version of the member: a reader that trusts the
    declared sizes lets it through. ``honest``: the real size is declared; ``padding`` bytes
    after the stream make the declared compressed size larger than the stream."""
    small = raw_xlsx('<row r="1"><c r="A1" t="s"><v>0</v></c></row>', shared_strings=["客户名称"])
    head, unit, tail = (part.encode() for part in _BOMB_UNITS[member])
    data, real = _raw_deflate_repeated(head, unit, tail, inflated)
    crc = _crc_repeated(head, unit, tail, inflated)
    members = []
    with zipfile.ZipFile(io.BytesIO(small)) as archive:
        for info in archive.infolist():
            content = archive.read(info)
            if info.filename == member:
                size = real if honest else len(content)
                members.append((member, data + bytes(padding), crc, size, zipfile.ZIP_DEFLATED))
                continue
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            packed = compressor.compress(content) + compressor.flush()
            members.append(
                (info.filename, packed, zlib.crc32(content), len(content), zipfile.ZIP_DEFLATED)
            )
    return raw_zip(members)
