"""Reading uploaded spreadsheets (crm/spreadsheets.py): every messy file of
tests/crm/spreadsheet_files.py gives exactly the rows it holds, or a specific refusal."""

from __future__ import annotations

import datetime
import decimal

import pytest
from django.utils import translation

from crm.phones import normalize_phone
from crm.spreadsheets import (
    DATE_FORMATS_HELP,
    FORMULA_WITHOUT_VALUE,
    FormulaWithoutValueError,
    SpreadsheetError,
    cell_bool,
    cell_date,
    cell_decimal,
    cell_multiline_text,
    cell_text,
    cell_texts,
    clean_header,
    formula_positions,
    formula_without_value,
    read_sheet,
)
from tests.crm import spreadsheet_files as files

HEADERS = ["客户名称", "手机", "下次跟进时间"]
ROWS = [
    ["甲公司", 13800138000, datetime.date(2024, 1, 5)],
    ["乙公司", "+86 138-0013-8001", None],
]
EXPECTED = [
    (2, ["甲公司", 13800138000.0, datetime.date(2024, 1, 5)]),
    (3, ["乙公司", "+86 138-0013-8001", None]),
]


@pytest.fixture(autouse=True)
def english():
    # Messages are asserted in English, whatever the catalogue holds.
    with translation.override("en"):
        yield


def read(data: bytes, filename: str = "客户.xlsx", *, max_rows: int = 1000, **kwargs):
    return read_sheet(data, filename, known_headers=HEADERS, max_rows=max_rows, **kwargs)


def refusal(data: bytes, filename: str = "客户.xlsx", **kwargs) -> SpreadsheetError:
    with pytest.raises(SpreadsheetError) as caught:
        read(data, filename, **kwargs)
    return caught.value


# --- xlsx ------------------------------------------------------------------------------------


def test_xlsx_from_openpyxl_reads_values_with_file_row_numbers():
    sheet = read(files.xlsx_bytes(HEADERS, ROWS))
    assert sheet.headers == HEADERS
    assert sheet.raw_headers == HEADERS
    assert sheet.header_row == 1
    assert sheet.rows == EXPECTED
    assert sheet.columns() == {"客户名称": 0, "手机": 1, "下次跟进时间": 2}


def test_header_found_under_a_merged_title_and_a_blank_row():
    data = files.xlsx_bytes(HEADERS, ROWS, title_rows=["2024年客户名单"], merged_title=True,
                            blank_rows_above=1)  # fmt: skip
    sheet = read(data)
    assert sheet.header_row == 3
    assert [number for number, _values in sheet.rows] == [4, 5]
    assert sheet.rows[0][1] == ["甲公司", 13800138000.0, datetime.date(2024, 1, 5)]


def test_title_rows_that_mention_a_column_name_lose_to_the_real_header():
    data = files.xlsx_bytes(HEADERS, ROWS, title_rows=[["说明：", "手机必填"], ["客户名称"]])
    sheet = read(data)
    assert sheet.header_row == 3
    assert [number for number, _values in sheet.rows] == [4, 5]


def test_data_starting_in_column_c_below_blank_rows_keeps_its_positions():
    sheet = read(files.xlsx_bytes(HEADERS, ROWS, first_column=3, blank_rows_above=2))
    assert sheet.header_row == 3
    assert sheet.headers == ["", "", *HEADERS]
    assert sheet.rows[0] == (4, [None, None, "甲公司", 13800138000.0, datetime.date(2024, 1, 5)])
    assert sheet.columns()["手机"] == 3


def test_formatted_blank_rows_below_the_data_are_ignored():
    sheet = read(files.xlsx_bytes(HEADERS, ROWS, trailing_blank_rows=500))
    assert sheet.rows == EXPECTED


def test_blank_rows_between_data_are_skipped_and_numbering_kept():
    rows = [ROWS[0], [None, None, None], ["", "  ", "\u3000"], ROWS[1]]
    sheet = read(files.inline_strings_xlsx(HEADERS, rows))
    assert [number for number, _values in sheet.rows] == [2, 5]


def test_short_rows_are_padded_and_cells_without_header_cut():
    rows = [["甲公司"], ["乙公司", 13800138001, None, "no header", "here"]]
    sheet = read(files.inline_strings_xlsx(HEADERS, rows))
    assert sheet.rows == [(2, ["甲公司", None, None]), (3, ["乙公司", 13800138001.0, None])]


def test_hidden_first_sheet_is_skipped():
    sheet = read(files.xlsx_bytes(HEADERS, ROWS, hidden_sheet_first=True))
    assert sheet.rows == EXPECTED


def test_formula_cells_read_as_their_cached_values():
    rows = [
        ["甲公司", files.Formula("D2", 13800138000), files.Formula("DATE(2024,1,5)", 45296)],
        [files.Formula('"乙"&"公司"', "乙公司"), "13800138001", None],
    ]
    sheet = read(files.formula_xlsx(HEADERS, rows))
    assert sheet.rows == [
        (2, ["甲公司", 13800138000.0, 45296.0]),
        (3, ["乙公司", "13800138001", None]),
    ]
    assert cell_text(sheet.rows[0][1][1]) == "13800138000"
    assert cell_date(sheet.rows[0][1][2]) == datetime.date(2024, 1, 5)


def test_formula_saved_without_a_value_is_marked_not_blank():
    # Scripts (openpyxl…) write formulas without computing them: the value is unknown, which
    # is not an empty cell.
    rows = [["甲公司", files.Formula("D2"), None]]
    sheet = read(files.formula_xlsx(HEADERS, rows))
    assert sheet.rows == [(2, ["甲公司", FORMULA_WITHOUT_VALUE, None])]
    assert formula_without_value(sheet.rows[0][1][1])
    with pytest.raises(ValueError, match="is a formula without a calculated value"):
        cell_text(sheet.rows[0][1][1])


def test_formula_without_value_from_openpyxl_is_marked_and_computed_empty_text_is_blank():
    # openpyxl writes <f>…</f><v/>; Excel writes a formula that computed "" as t="str" <v></v>.
    data = files.workbook_xlsx([("客户", [HEADERS, ["甲公司", "=A2", None]])])
    assert read(data).rows == [(2, ["甲公司", FORMULA_WITHOUT_VALUE, None])]
    sheet = read(files.filled_down_formula_xlsx(HEADERS, ROWS, last_row=10))
    assert sheet.rows == EXPECTED


def test_rows_of_nothing_but_formulas_without_values_are_blank():
    rows = [*ROWS, [None, None, files.Formula("A4")], [None, files.Formula("A5"), None]]
    assert read(files.formula_xlsx(HEADERS, rows)).rows == EXPECTED


def test_formula_without_value_is_refused_by_every_cleaner():
    assert not FORMULA_WITHOUT_VALUE and str(FORMULA_WITHOUT_VALUE) == ""
    for clean in (cell_text, cell_date, cell_decimal, cell_bool, cell_multiline_text):
        with pytest.raises(FormulaWithoutValueError):
            clean(FORMULA_WITHOUT_VALUE)
    texts = cell_texts(["甲", FORMULA_WITHOUT_VALUE, None, 1.0])
    assert texts == ["甲", "", "", "1"]
    assert [formula_without_value(t) for t in texts] == [False, True, False, False]
    assert formula_positions(texts) == [1]
    assert formula_positions(cell_texts(["甲", None])) == []
    assert not formula_without_value("") and not formula_without_value(None)


def test_inline_strings_and_shared_strings_read_the_same():
    assert read(files.inline_strings_xlsx(HEADERS, ROWS)).rows == EXPECTED
    assert read(files.shared_strings_xlsx(HEADERS, ROWS)).rows == EXPECTED


def test_wps_rich_text_runs_are_joined():
    sheet = read(files.wps_rich_text_xlsx(HEADERS, [["甲公司（杭州）", "13800138000", None]]))
    assert sheet.headers == HEADERS
    assert sheet.rows == [(2, ["甲公司（杭州）", "13800138000", None])]


def test_google_sheets_grid_of_styled_empty_cells_is_ignored():
    sheet = read(files.google_sheets_xlsx(HEADERS, ROWS))
    assert sheet.rows == EXPECTED


def test_namespace_prefixed_worksheet_is_read():
    assert read(files.prefixed_xlsx(HEADERS, ROWS)).rows == EXPECTED


def test_cells_without_references_are_placed_in_order():
    rows = [["甲公司", None, datetime.date(2024, 1, 5)]]
    sheet = read(files.rless_cells_xlsx(HEADERS, rows))
    assert sheet.rows == [(2, ["甲公司", None, datetime.date(2024, 1, 5)])]


def test_a_million_declared_rows_are_not_materialised():
    sheet = read(files.million_row_dimension_xlsx(HEADERS, ROWS))
    assert sheet.rows == EXPECTED


def test_sheet_wider_than_column_z_is_read():
    headers = [*HEADERS, *(f"备用{i}" for i in range(40))]
    sheet = read(files.shared_strings_xlsx(headers, [[*ROWS[0], *range(40)]]))
    assert sheet.rows == [(2, [*EXPECTED[0][1], *map(float, range(40))])]


def test_formula_filled_down_far_below_the_data_reads_as_blank_rows():
    sheet = read(files.filled_down_formula_xlsx(HEADERS, ROWS, last_row=200_000))
    assert sheet.rows == EXPECTED


def test_one_far_away_cell_is_refused_before_the_reader_allocates_it():
    # Without the check, calamine asks for 550 GB and the worker process aborts.
    error = refusal(files.sparse_xlsx(HEADERS, ROWS, far_cell="XFD1048576"))
    assert error.code == "sheet_too_large"
    assert "1,048,576" in error.message and "16,384 columns" in error.message


def test_far_cell_without_a_reference_is_refused_too():
    error = refusal(files.rless_cells_xlsx(HEADERS, ROWS, far_row=99_999, far_cells=100))
    assert error.code == "sheet_too_large"
    assert "99,999" in error.message


def test_cell_limit_is_a_parameter():
    error = refusal(files.xlsx_bytes(HEADERS, ROWS), max_cells=5)
    assert error.code == "sheet_too_large"


def test_type_comes_from_the_content_not_the_extension():
    assert read(files.xlsx_bytes(HEADERS, ROWS), "客户.csv").rows == EXPECTED
    assert read(files.xlsx_bytes(HEADERS, ROWS), "客户.xlsm").rows == EXPECTED
    csv_sheet = read(files.csv_bytes(HEADERS, [["甲公司", "13800138000", ""]]), "客户.xlsx")
    assert csv_sheet.rows == [(2, ["甲公司", "13800138000", None])]


# --- xls and other OLE2 files ----------------------------------------------------------------


@pytest.mark.parametrize("pad_small", [False, True], ids=["mini-stream", "regular-stream"])
def test_legacy_xls_is_read(pad_small):
    rows = [["甲公司", 13800138000, 45296], ["乙公司", "010-12345678", None]]
    sheet = read(files.xls_bytes(HEADERS, rows, pad_small=pad_small), "客户.xls")
    assert sheet.rows == [
        (2, ["甲公司", 13800138000.0, 45296.0]),
        (3, ["乙公司", "010-12345678", None]),
    ]


def test_password_protected_xls_is_refused_as_encrypted():
    error = refusal(files.xls_bytes(HEADERS, ROWS[:1], password=True), "客户.xls")
    assert error.code == "encrypted"


def test_far_away_cell_in_xls_is_refused():
    error = refusal(files.xls_bytes(HEADERS, ROWS[:1], far_cell=(65535, 255)), "客户.xls")
    assert error.code == "sheet_too_large"
    assert "16,777,216" in error.message


def test_password_protected_xlsx_is_refused_with_how_to_remove_it():
    error = refusal(files.encrypted_bytes())
    assert error.code == "encrypted"
    assert error.message.startswith("The file is protected by a password: remove the password")


def test_word_document_is_not_a_spreadsheet():
    error = refusal(files.word_doc_bytes(), "合同.doc")
    assert error.code == "not_spreadsheet"
    assert "“合同.doc” is not an Excel or CSV file" in error.message


# --- zips that are not workbooks, damaged files, bombs ------------------------------------


def test_apple_numbers_is_refused_with_how_to_export():
    error = refusal(files.numbers_zip(), "客户.numbers")
    assert error.code == "numbers"
    assert error.message == (
        "Apple Numbers files cannot be read: export it as Excel (.xlsx) first."
    )


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (files.docx_bytes(), "not_spreadsheet"),
        (files.xlsb_zip(), "xlsb"),
    ],
    ids=["docx", "xlsb"],
)
def test_other_zip_documents_are_refused(data, code):
    error = refusal(data)
    assert error.code == code
    assert ".xlsx" in error.message


def test_truncated_xlsx_is_damaged():
    error = refusal(files.truncated_xlsx())
    assert error.code == "damaged"
    assert error.message.startswith("The file is damaged or incomplete:")


def test_worksheet_that_is_not_xml_is_damaged():
    assert refusal(files.corrupt_sheet_xlsx()).code == "damaged"


def test_zip_bomb_is_refused_from_the_declared_sizes():
    data = files.zip_bomb()
    assert len(data) < 3 * 1024 * 1024  # 400 MB of zeros
    error = refusal(data)
    assert error.code == "zip_bomb"
    assert "more than 300 MB" in error.message


def test_member_compressed_too_well_is_refused_even_when_small_in_total():
    error = refusal(files.ratio_bomb(20 * 1024 * 1024))
    assert error.code == "zip_bomb"


def test_unpacked_size_limit_is_a_parameter():
    error = refusal(files.xlsx_bytes(HEADERS, ROWS), max_unzipped_bytes=1000)
    assert error.code == "zip_bomb"
    assert "more than 0.000953674 MB" in error.message


# --- size, empty, not a spreadsheet --------------------------------------------------------


def test_empty_file_is_refused():
    error = refusal(b"", "客户.xlsx")
    assert (error.code, error.message) == ("empty", "The file is empty.")


def test_file_over_the_byte_limit_is_refused_before_reading():
    error = refusal(files.xlsx_bytes(HEADERS, ROWS), max_bytes=2 * 1024 * 1024 // 1024)
    assert error.code == "too_large"
    assert "larger than 0.00195312 MB" in error.message
    error = refusal(b"x" * (51 * 1024 * 1024), "big.csv")
    assert error.message == "The file is larger than 50 MB: split it into several files."


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (files.pdf_bytes(), "客户.pdf"),
        (files.png_bytes(), "客户.png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "photo.jpg"),
        (b"name,phone\n\x00\x01\x02\x03", "客户.csv"),
    ],
    ids=["pdf", "png", "jpeg", "nul-bytes"],
)
def test_non_spreadsheets_are_refused_naming_the_file(data, name):
    error = refusal(data, name)
    assert error.code == "not_spreadsheet"
    assert error.message == (
        f"“{name}” is not an Excel or CSV file: upload an .xlsx, .xls, .et, .ods or .csv file."
    )


def test_html_table_saved_as_xls_is_refused_with_how_to_convert():
    error = refusal(files.html_xls_bytes(HEADERS, ROWS), "客户.xls")
    assert error.code == "html"
    assert "save it as Excel workbook (.xlsx)" in error.message


# --- CSV -------------------------------------------------------------------------------------

CSV_ROWS = [["甲公司", "13800138000", "2024-01-05"], ["乙公司", "+86 138-0013-8001", ""]]
CSV_EXPECTED = [
    (2, ["甲公司", "13800138000", "2024-01-05"]),
    (3, ["乙公司", "+86 138-0013-8001", None]),
]


@pytest.mark.parametrize(
    ("encoding", "bom", "delimiter"),
    [
        ("utf-8", False, ","),
        ("utf-8", True, ","),
        ("gb18030", False, ","),
        ("utf-8", False, ";"),
        ("gb18030", False, "\t"),
        ("utf-8", False, "|"),
        ("utf-16", False, "\t"),
    ],
    ids=["utf8", "utf8-bom", "gb18030", "semicolon", "tab-gb18030", "pipe", "utf16-unicode-text"],
)
def test_csv_encodings_and_delimiters(encoding, bom, delimiter):
    data = files.csv_bytes(HEADERS, CSV_ROWS, encoding=encoding, bom=bom, delimiter=delimiter)
    sheet = read(data, "客户.csv")
    assert sheet.headers == HEADERS
    assert sheet.rows == CSV_EXPECTED


def test_csv_delimiter_is_chosen_by_the_header_even_with_commas_in_a_title():
    data = files.csv_bytes(HEADERS, CSV_ROWS, delimiter=";", title_rows=["客户名单, 2024年"])
    sheet = read(data, "客户.csv")
    assert sheet.header_row == 2
    assert sheet.rows[0] == (3, ["甲公司", "13800138000", "2024-01-05"])


def test_csv_with_excel_sep_line():
    sheet = read(files.csv_bytes(HEADERS, CSV_ROWS, delimiter=";", sep_line=True), "a.csv")
    assert sheet.header_row == 2
    assert sheet.rows[0] == (3, ["甲公司", "13800138000", "2024-01-05"])


def test_csv_quoted_cell_with_line_break_counts_as_one_row():
    rows = [["甲公司", "13800138000", ""], ["乙公司\n杭州分公司", "13800138001", ""], ROWS[0]]
    sheet = read(files.csv_bytes(HEADERS, rows), "a.csv")
    assert [number for number, _values in sheet.rows] == [2, 3, 4]
    assert cell_text(sheet.rows[1][1][0]) == "乙公司 杭州分公司"


def test_csv_in_an_unknown_encoding_is_refused():
    error = refusal(b"\x80\x80,\xff\xff\r\n" * 3, "a.csv")
    assert error.code == "encoding"
    assert "CSV UTF-8" in error.message


def test_malformed_csv_is_refused_with_the_row():
    data = files.csv_bytes(HEADERS, [["甲公司", "13800138000", ""], ["x" * 200_000, "", ""]])
    error = refusal(data, "a.csv")
    assert error.code == "damaged"
    assert error.message.startswith("The CSV file cannot be read after row 2 (a cell too long")
    assert "field limit" in error.detail


# --- header row ------------------------------------------------------------------------------


def test_unknown_column_names_are_the_header_the_mapping_step_shows():
    """Another system's export whose column names nobody taught us: its first row of text
    cells is the header (a title row of one cell passed over), for the import's mapping step
    to let the user choose each column's field."""
    sheet = read(files.csv_bytes(["name", "mobile"], [["甲", "1"]]), "a.csv")
    assert (sheet.headers, sheet.header_row, len(sheet.rows)) == (["name", "mobile"], 1, 1)
    data = files.xlsx_bytes(
        ["单位全称", "移动电话号"], [["甲", "13800138000"]], title_rows=["名单"]
    )
    sheet = read(data)
    assert (sheet.headers, sheet.header_row) == (["单位全称", "移动电话号"], 2)


def test_header_not_found_names_the_expected_columns():
    # Numbers only: no row reads as column names.
    error = refusal(files.csv_bytes(["1", "2"], [["3", "4"]]), "a.csv")
    assert error.code == "no_header"
    assert error.message == (
        "The header row cannot be found: the first row should hold the column names, such as "
        "“客户名称”、“手机”、“下次跟进时间”."
    )


def test_header_beyond_row_20_is_not_searched():
    data = files.xlsx_bytes(HEADERS, ROWS, title_rows=[f"说明 {i}" for i in range(20)])
    assert refusal(data).code == "no_header"
    data = files.xlsx_bytes(HEADERS, ROWS, title_rows=[f"说明 {i}" for i in range(19)])
    assert read(data).header_row == 20


def test_empty_sheet_is_refused():
    error = refusal(files.xlsx_bytes([], []))
    assert error.code == "empty_sheet"


def test_header_cells_are_cleaned_and_raw_text_kept():
    headers = ["*客户\n名称", " 手机＊ ", "下次跟进\u200b时间", None, "备注"]
    sheet = read(files.xlsx_bytes(headers, [["甲公司", "13800138000", None, "x", "y"]]))
    assert sheet.headers == ["客户名称", "手机", "下次跟进时间", "", "备注"]
    assert sheet.raw_headers == ["*客户\n名称", " 手机＊ ", "下次跟进\u200b时间", "", "备注"]
    assert sheet.rows == [(2, ["甲公司", "13800138000", None, "x", "y"])]


def test_trailing_blank_header_cells_are_dropped():
    sheet = read(files.inline_strings_xlsx([*HEADERS, None, " "], [["甲公司", 1, None, "x"]]))
    assert sheet.headers == HEADERS
    assert sheet.rows == [(2, ["甲公司", 1.0, None])]


def test_duplicate_known_column_is_refused_naming_it():
    error = refusal(files.xlsx_bytes(["客户名称", "手机", "手机*"], [["甲", "1", "2"]]))
    assert error.code == "duplicate_header"
    assert error.message == (
        "The column “手机” appears more than once in the header row: keep one."
    )


def test_duplicate_unknown_columns_are_left_to_the_caller():
    sheet = read(files.xlsx_bytes(["客户名称", "其他", "其他"], [["甲", "1", "2"]]))
    assert sheet.headers == ["客户名称", "其他", "其他"]
    assert sheet.columns() == {"客户名称": 0, "其他": 1}


# --- data rows -------------------------------------------------------------------------------


def test_rows_up_to_the_cap_are_read():
    rows = [[f"公司{i}", 13800000000 + i, None] for i in range(5)]
    assert len(read(files.xlsx_bytes(HEADERS, rows), max_rows=5).rows) == 5


def test_more_rows_than_the_cap_are_refused_with_the_cap():
    rows = [[f"公司{i}", 13800000000 + i, None] for i in range(1001)]
    error = refusal(files.shared_strings_xlsx(HEADERS, rows), max_rows=1000)
    assert error.code == "too_many_rows"
    assert error.message == (
        "The file has more than 1,000 rows: split it into several files of at most 1,000 rows."
    )


def test_blank_rows_do_not_count_towards_the_cap():
    rows = [ROWS[0], [None, None, None], [None, "", None], ROWS[1]]
    assert len(read(files.xlsx_bytes(HEADERS, rows), max_rows=2).rows) == 2


def test_reading_stops_at_the_first_row_over_the_cap():
    # The broken row after the cap is never reached (the header search reads 20 rows).
    rows = [[f"公司{i}", str(i), ""] for i in range(30)] + [["x" * 200_000, "", ""]]
    error = refusal(files.csv_bytes(HEADERS, rows), "a.csv", max_rows=25)
    assert error.code == "too_many_rows"


def test_header_without_data_rows_is_refused():
    error = refusal(files.xlsx_bytes(HEADERS, [[None, None, None]], trailing_blank_rows=3))
    assert error.code == "no_rows"
    assert error.message == "The file has no data rows under the header row (row 1)."


def test_phones_as_excel_writes_them_normalise_through_cell_text():
    rows = [
        ["甲", 15263698652.0, None],
        ["乙", 1.5263698652e10, None],
        ["丙", "１３８ ００１３ ８０００", None],
        ["丁", "+86 138-0013-8000", None],
        ["戊", "1.5263698652E10", None],
        ["己", "0571－8888 8888", None],
    ]
    sheet = read(files.xlsx_bytes(HEADERS, rows))
    phones = [normalize_phone(cell_text(values[1])) for _number, values in sheet.rows]
    assert phones == [
        "15263698652",
        "15263698652",
        "13800138000",
        "13800138000",
        "15263698652",
        "0571-88888888",
    ]


def test_dates_as_cells_serials_and_text_all_read():
    rows = [
        ["甲", "1", datetime.datetime(2024, 1, 5, 14, 30)],
        ["乙", "1", 45296],
        ["丙", "1", "2024/1/5"],
        ["丁", "1", "２０２４年１月５日"],
    ]
    sheet = read(files.xlsx_bytes(HEADERS, rows))
    dates = [cell_date(values[2]) for _number, values in sheet.rows]
    assert dates == [
        datetime.datetime(2024, 1, 5, 14, 30),
        datetime.date(2024, 1, 5),
        datetime.date(2024, 1, 5),
        datetime.date(2024, 1, 5),
    ]


# --- cell_text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("", ""),
        (15263698652.0, "15263698652"),
        (1.5263698652e10, "15263698652"),
        (13800138000, "13800138000"),
        (1.5, "1.5"),
        (0.1 + 0.2, "0.3"),
        (-2.50, "-2.5"),
        (1.5e-7, "0.00000015"),
        (1.10101199001011e17, "110101199001011000"),
        (True, "1"),
        (False, "0"),
        (datetime.date(2024, 1, 5), "2024-01-05"),
        (datetime.datetime(2024, 1, 5, 14, 30), "2024-01-05 14:30:00"),
        (datetime.time(9, 5), "09:05:00"),
        (decimal.Decimal("12.50"), "12.50"),
        ("  甲公司  ", "甲公司"),
        ("１３８００１３８０００", "13800138000"),
        ("ＡＢＣ＠ｑｑ．ｃｏｍ", "ABC@qq.com"),
        ("杭州\u3000西湖区", "杭州 西湖区"),
        ("甲\u200b公司\ufeff", "甲公司"),
        ("a\x00b\x07c\x7f", "abc"),
        ("line one\r\nline  two\tend", "line one line two end"),
        ("某某（集团）有限公司，杭州：西湖！", "某某（集团）有限公司，杭州：西湖！"),
        ("1.5263698652E10", "15263698652"),
        ("1.5263698652e+10", "15263698652"),
        ("1.38001E+10", "1.38001E+10"),
        ("1E+3", "1E+3"),
        ("2024e1@qq.com", "2024e1@qq.com"),
        ("plain ascii", "plain ascii"),
    ],
)
def test_cell_text(value, expected):
    assert cell_text(value) == expected


def test_cell_multiline_text_keeps_line_breaks():
    assert cell_multiline_text("第一行 \r\n\r\n  第二行\u3000\n") == "第一行\n第二行"
    assert cell_multiline_text(13800138000.0) == "13800138000"


# --- cell_date -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        (datetime.date(2024, 1, 5), datetime.date(2024, 1, 5)),
        (datetime.datetime(2024, 1, 5, 9), datetime.datetime(2024, 1, 5, 9)),
        (45296, datetime.date(2024, 1, 5)),
        (45296.0, datetime.date(2024, 1, 5)),
        (45296.604166666664, datetime.datetime(2024, 1, 5, 14, 30)),
        ("45296", datetime.date(2024, 1, 5)),
        ("45296.5", datetime.datetime(2024, 1, 5, 12)),
        (20240105, datetime.date(2024, 1, 5)),
        ("2024-01-05", datetime.date(2024, 1, 5)),
        ("2024/1/5", datetime.date(2024, 1, 5)),
        ("2024.1.5", datetime.date(2024, 1, 5)),
        ("2024年1月5日", datetime.date(2024, 1, 5)),
        ("2024 年 1 月 5 日", datetime.date(2024, 1, 5)),
        ("20240105", datetime.date(2024, 1, 5)),
        ("２０２４－０１－０５", datetime.date(2024, 1, 5)),
        ("2024-01-05 14:30", datetime.datetime(2024, 1, 5, 14, 30)),
        ("2024/1/5 14:30:15", datetime.datetime(2024, 1, 5, 14, 30, 15)),
        ("2024-01-05T14:30", datetime.datetime(2024, 1, 5, 14, 30)),
        ("2024-01-05 14:30:00.000", datetime.datetime(2024, 1, 5, 14, 30)),
        ("2024年1月5日 14时30分", datetime.datetime(2024, 1, 5, 14, 30)),
        ("2024年1月5日14时30分15秒", datetime.datetime(2024, 1, 5, 14, 30, 15)),
        ("２０２４年１月５日　１４：３０", datetime.datetime(2024, 1, 5, 14, 30)),
        ("2024-01-05 00:00", datetime.datetime(2024, 1, 5)),
    ],
)
def test_cell_date(value, expected):
    assert cell_date(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "next week",
        "2024-01",
        "2024-01/05",
        "2024年1-5",
        "1/5/2024",
        "24-1-5",
        "2024-01-05 25:00",
        "2024-01-05 14:61",
        "2024-01-0514:30",
        "2024",
        2024,
        0,
        3000000,
        True,
        decimal.Decimal("NaN"),
    ],
)
def test_cell_date_refuses_with_the_accepted_formats(value):
    with pytest.raises(ValueError, match=r"^Not a date: “.*” \(accepted: 2024-01-31, 2024/1/31, "):
        cell_date(value)


@pytest.mark.parametrize("value", ["2024-02-30", "2023/2/29", "2024年13月1日", "20240230"])
def test_cell_date_refuses_days_that_do_not_exist(value):
    with pytest.raises(ValueError) as caught:
        cell_date(value)
    assert str(caught.value) == f"“{value}” is not a real date: there is no such day."


def test_every_documented_date_format_is_accepted():
    for example in DATE_FORMATS_HELP:
        assert cell_date(example) is not None
    assert cell_date("2024-01-31") == datetime.date(2024, 1, 31)


# --- cell_decimal and cell_bool ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (" ", None),
        (12, decimal.Decimal(12)),
        (1234.5, decimal.Decimal("1234.5")),
        (0.1 + 0.2, decimal.Decimal("0.3")),
        (decimal.Decimal("3.10"), decimal.Decimal("3.10")),
        ("1,234.50", decimal.Decimal("1234.50")),
        ("１２３", decimal.Decimal(123)),
        ("¥1,200", decimal.Decimal(1200)),
        ("￥ 88.8", decimal.Decimal("88.8")),
        ("1200元", decimal.Decimal(1200)),
        ("RMB 300", decimal.Decimal(300)),
        ("1.5万", decimal.Decimal(15000)),
        ("2亿", decimal.Decimal(200_000_000)),
        ("-3.5", decimal.Decimal("-3.5")),
        ("1.2E3", decimal.Decimal(1200)),
    ],
)
def test_cell_decimal(value, expected):
    assert cell_decimal(value) == expected


@pytest.mark.parametrize(
    "value", ["abc", "1,2", "12,34.5", "1.2.3", "NaN", "Infinity", "元", True, float("nan")]
)
def test_cell_decimal_refuses(value):
    with pytest.raises(ValueError, match=r"^Not a number: “"):
        cell_decimal(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        (True, True),
        (False, False),
        (1, True),
        (0.0, False),
        ("是", True),
        ("否", False),
        ("Y", True),
        ("n", False),
        ("Yes", True),
        ("NO", False),
        ("TRUE", True),
        ("false", False),
        ("1", True),
        ("０", False),
        ("√", True),
        ("×", False),
    ],
)
def test_cell_bool(value, expected):
    assert cell_bool(value) is expected


@pytest.mark.parametrize("value", ["maybe", "2", 2, "是的"])
def test_cell_bool_refuses(value):
    with pytest.raises(
        ValueError, match=r"^Not yes or no: “.*” \(accepted: 是/否, Y/N, 1/0, √/×\)"
    ):
        cell_bool(value)


# --- clean_header ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("  客户名称  ", "客户名称"),
        ("*客户名称", "客户名称"),
        ("客户名称*", "客户名称"),
        ("＊ 手机", "手机"),
        ("下次跟进\n时间", "下次跟进时间"),
        ("下次跟进时间(2024-01-31)", "下次跟进时间"),
        ("手机（必填）", "手机"),
        ("客户名称（必填）", "客户名称"),
        ("客户名称*", "客户名称"),
        ("*客户名称", "客户名称"),
        ("客户名称 必填", "客户名称"),
        ("客户名称必填", "客户名称"),
        ("客户名称(必填)", "客户名称"),
        ("【必填】客户名称", "客户名称"),
        ("必填：客户名称", "客户名称"),
        ("客户名称*（必填）", "客户名称"),
        ("手机号（11位）", "手机号"),
        ("下次跟进时间（格式：2026-01-01）", "下次跟进时间"),
        ("备注【选填】", "备注"),
        ("Customer name (required)", "Customer name"),
        # Nothing but a note, or a word that merely contains 必选/可选: kept.
        ("（备注）", "(备注)"),
        ("[备注]", "[备注]"),
        ("必填", "必填"),
        ("可选项", "可选项"),
        ("*", ""),
        # A bracketed number names the column (a second contact): kept.
        ("联系人（二）", "联系人(二)"),
        ("电话(2)", "电话(2)"),
        ("手机（二）（必填）", "手机(二)"),
        ("Customer   name", "Customer name"),
        ("ＥＭＡＩＬ", "EMAIL"),
        (2024, "2024"),
    ],
)
def test_clean_header(value, expected):
    assert clean_header(value) == expected


# ---------------------------------------------------------------- whole columns at once

_PIECES = [
    "a", "B", "公司", " ", "  ", "\u3000", "１２", "1e5", "2E3", "|", "| ", " |", "e", "E",
    "\t", "\n", "x\u200b", "é", "e\u0301", "1.5263698652E10", "", "名", "（", "）", "，", "！",
    "＂", "Ａ", "\x00", "\x7f", "\xa0", "Σ", "ﬁ", "1", "²", "-", "+86",
]  # fmt: skip


def test_cell_texts_gives_what_cell_text_gives_cell_by_cell():
    """The whole-column fast path (one search of the joined cells) against the per-cell
    cleaner, on 20,000 random columns of clean and messy cells, numbers and blanks."""
    import random

    from crm.spreadsheets import cell_texts

    rng = random.Random(20261204)
    others = [None, 1.5, 15263698652.0, 3, datetime.date(2024, 1, 5), True]
    for _ in range(20_000):
        column = [
            rng.choice(others)
            if rng.random() < 0.15
            else "".join(rng.choice(_PIECES) for _ in range(rng.randrange(0, 5)))
            for _ in range(rng.randrange(1, 9))
        ]
        assert cell_texts(column) == [cell_text(value) for value in column], column


def test_cell_texts_of_a_clean_column_keeps_the_cells_and_finds_the_few_messy_ones():
    from crm.spreadsheets import cell_texts

    messy = [" 前后空格 ", "全角１２３", "1.5263698652E10", 13800138000]
    column = ["杭州华鑫机械有限公司"] * 1000 + messy
    assert cell_texts(column) == (
        ["杭州华鑫机械有限公司"] * 1000 + ["前后空格", "全角123", "15263698652", "13800138000"]
    )


def test_the_dirty_characters_are_those_the_cleaner_changes():
    from crm.spreadsheets import _DIRTY_CHAR, _KEEP_FULL_WIDTH, _TEXT_TABLE

    assert all(_DIRTY_CHAR.match(chr(code)) for code in _TEXT_TABLE)
    assert not any(_DIRTY_CHAR.match(ch) for ch in _KEEP_FULL_WIDTH)


def test_phone_numbers_are_digits_0_to_9_once_folded():
    """Full-width digits, +86, spaces and dashes are folded; another script's digits (which
    NFKC keeps) make no phone number."""
    from django.core.exceptions import ValidationError

    from crm.phones import normalize_mobile

    assert normalize_phone("＋86 １３８-0013-8000") == "13800138000"
    assert normalize_phone("0571-88888888") == "0571-88888888"
    for typed in ("13٨٠٠١٣٨٠٠٠", "0571-٨٨٨٨٨٨٨٨"):
        with pytest.raises(ValidationError):
            normalize_phone(typed)
    with pytest.raises(ValidationError):
        normalize_mobile("13٨٠٠١٣٨٠٠٠")


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "＋86 １３８-0013-8000",
        "0086 138 0013 8000",
        "8613800138000",
        "(0571) 8888 8888",
        "+86-571-88888888",
        "010-12345678-123",
        "12345",
        "",
        "13٨٠٠١٣٨٠٠٠",
        "电话",
        "138001380001",
    ],
)
def test_phone_digits_answer_as_the_validating_functions(typed):
    """mobile_digits / phone_digits (the imports' forms: None instead of an exception) give
    what normalize_mobile / normalize_phone return, and None where they raise."""
    from django.core.exceptions import ValidationError

    from crm.phones import mobile_digits, normalize_mobile, phone_digits

    for loose, strict in ((mobile_digits, normalize_mobile), (phone_digits, normalize_phone)):
        try:
            expected = strict(typed)
        except ValidationError:
            expected = None
        assert loose(typed) == expected


# --- issue 17: the sheets admins really get ----------------------------------------------------

INSTRUCTIONS = ("填写说明", [["导入说明"], ["1. 客户名称必填"], ["2. 手机号为11位"]])


def test_annotated_headers_match_their_columns():
    headers = ["客户名称（必填）", "*手机", "下次跟进时间（格式：2026-01-01）"]
    sheet = read(files.xlsx_bytes(headers, ROWS))
    assert sheet.headers == HEADERS
    assert sheet.raw_headers == headers


def test_instruction_sheet_first_the_data_sheet_is_found_and_named():
    data = files.workbook_xlsx([INSTRUCTIONS, ("客户列表", [HEADERS, *ROWS])])
    sheet = read(data)
    assert sheet.sheet_name == "客户列表"
    assert sheet.rows == EXPECTED


def test_sheets_scoring_the_same_the_first_is_read():
    data = files.workbook_xlsx(
        [("一月", [HEADERS, ["甲公司", None, None]]), ("二月", [HEADERS, ["乙公司", None, None]])]
    )
    sheet = read(data)
    assert (sheet.sheet_name, sheet.rows) == ("一月", [(2, ["甲公司", None, None])])


def test_the_sheet_with_more_known_headers_wins_over_an_earlier_one():
    data = files.workbook_xlsx(
        [("汇总", [["客户名称", "数量"], ["合计", 3]]), ("明细", [HEADERS, *ROWS])]
    )
    assert read(data).sheet_name == "明细"


def test_hidden_data_sheet_is_not_read_when_a_visible_one_has_the_header():
    data = files.workbook_xlsx(
        [("客户", [HEADERS, *ROWS]), ("下拉选项", [HEADERS, ["丙", None, None]])],
        hidden=["下拉选项"],
    )
    assert read(data).sheet_name == "客户"


def test_csv_has_no_sheet_name():
    assert read(files.csv_bytes(HEADERS, ROWS), "客户.csv").sheet_name == ""


def test_cell_merged_over_rows_fills_every_row_it_spans():
    rows = [
        ["公司名称", "联系人", "负责人"],
        ["甲公司", "张三", "王经理"],
        [None, "李四", None],
        [None, "赵五", None],
        ["乙公司", "钱六", "周经理"],
    ]
    data = files.workbook_xlsx([("客户", rows)], merges={"客户": ["A2:A4", "C2:C4"]})
    sheet = read_sheet(data, "x.xlsx", known_headers=["公司名称", "联系人"], max_rows=100)
    assert [cells for _n, cells in sheet.rows] == [
        ["甲公司", "张三", "王经理"],
        ["甲公司", "李四", "王经理"],
        ["甲公司", "赵五", "王经理"],
        ["乙公司", "钱六", "周经理"],
    ]


def test_merged_title_above_the_header_still_works_with_merged_data():
    data = files.workbook_xlsx(
        [
            (
                "客户",
                [["2026 客户名单"], HEADERS, ["甲公司", "13800138000", None], [None, "139", None]],
            )
        ],
        merges={"客户": ["A1:C1", "A3:A4"]},
    )
    sheet = read(data)
    assert (sheet.header_row, sheet.headers) == (2, HEADERS)
    assert sheet.rows == [(3, ["甲公司", "13800138000", None]), (4, ["甲公司", "139", None])]


def test_xls_and_wps_et_merges_fill_their_rows():
    data = files.xls_bytes(
        ["公司名称", "联系人"],
        [["甲公司", "张"], [None, "李"], [None, "王"]],
        merges=[(1, 3, 0, 0)],
    )
    for name in ("客户.xls", "客户.et"):
        sheet = read_sheet(data, name, known_headers=["公司名称", "联系人"], max_rows=10)
        assert [cells[0] for _n, cells in sheet.rows] == ["甲公司"] * 3


def test_ods_is_read_with_its_data_sheet():
    data = files.ods_workbook(
        [INSTRUCTIONS, ("客户", [["*客户名称", "手机（11位）"], ["甲公司", 13800138000]])]
    )
    sheet = read(data, "客户.ods")
    assert (sheet.sheet_name, sheet.headers) == ("客户", ["客户名称", "手机"])
    assert sheet.rows == [(2, ["甲公司", 13800138000.0])]


def test_ods_cells_merged_over_rows_fill_every_row():
    rows = [
        ["公司名称", "联系人", "负责人"],
        ["甲公司", "张三", "王经理"],
        [None, "李四", None],
        [None, "赵五", None],
        ["乙公司", "钱六", "周经理"],
    ]
    data = files.ods_workbook(
        [INSTRUCTIONS, ("客户", rows)], spans={"客户": {(1, 0): 3, (1, 2): 3}}
    )
    sheet = read_sheet(data, "x.ods", known_headers=["公司名称", "联系人"], max_rows=100)
    assert [cells for _n, cells in sheet.rows] == [
        ["甲公司", "张三", "王经理"],
        ["甲公司", "李四", "王经理"],
        ["甲公司", "赵五", "王经理"],
        ["乙公司", "钱六", "周经理"],
    ]


def test_ods_zip_bomb_is_still_refused():
    assert refusal(files.ratio_bomb(20 * 1024 * 1024), "客户.ods").code == "zip_bomb"


def test_ods_with_a_cell_repeated_millions_of_times_is_refused_before_reading():
    content = (
        '<?xml version="1.0"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body>'
        '<office:spreadsheet><table:table table:name="S"><table:table-row '
        'table:number-rows-repeated="1000000"><table:table-cell '
        'table:number-columns-repeated="100" office:value-type="string"><text:p>x</text:p>'
        "</table:table-cell></table:table-row></table:table></office:spreadsheet>"
        "</office:body></office:document-content>"
    )
    data = files._zip(
        {"mimetype": "application/vnd.oasis.opendocument.spreadsheet", "content.xml": content},
        stored_first="mimetype",
    )
    error = refusal(data, "客户.ods")
    assert error.code == "sheet_too_large"
    assert "1,000,000" in error.message


def test_encrypted_ods_is_refused_as_protected():
    manifest = (
        '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
        'opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="content.xml">'
        '<manifest:encryption-data manifest:checksum="x"/></manifest:file-entry>'
        "</manifest:manifest>"
    )
    data = files._zip(
        {
            "mimetype": "application/vnd.oasis.opendocument.spreadsheet",
            "content.xml": bytes(200),
            "META-INF/manifest.xml": manifest,
        },
        stored_first="mimetype",
    )
    assert refusal(data, "客户.ods").code == "encrypted"


def test_ods_stub_without_a_table_is_not_called_a_different_format():
    # A zip that says it is an ods but holds no sheet: empty or damaged, never "convert it".
    assert refusal(files.ods_bytes(), "客户.ods").code in ("empty_sheet", "damaged")


def test_csv_with_old_mac_line_endings_is_read():
    data = files.csv_bytes(HEADERS, ROWS).replace(b"\r\n", b"\r")
    sheet = read(data, "客户.csv")
    assert [cells[0] for _n, cells in sheet.rows] == ["甲公司", "乙公司"]
    data = ("sep=;\r" + "客户名称;手机\r甲公司;1\r").encode()
    assert read(data, "客户.csv").rows == [(3, ["甲公司", "1"])]


def test_utf16_without_bom_is_read_and_nul_bytes_still_refused():
    text = "客户名称\t手机\r\n甲公司\t13800138000\r\n"
    for encoding in ("utf-16-le", "utf-16-be"):
        sheet = read(text.encode(encoding), "客户.txt")
        assert sheet.rows == [(2, ["甲公司", "13800138000"])]
    assert refusal(b"name,phone\n\x00\x01\x02\x03", "x.csv").code == "not_spreadsheet"
