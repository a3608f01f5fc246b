"""Reading uploaded spreadsheets (xlsx/xlsm, legacy xls and WPS .et, OpenDocument .ods, CSV)
for the imports, and cleaning their cells.

``read_sheet`` turns the bytes of an upload into a header row and the non-blank data rows,
whatever the file really is (the extension is not trusted), and refuses with a
``SpreadsheetError`` what it cannot read: password-protected files, Apple Numbers, zip bombs,
files damaged in transit. The cell cleaners (``cell_text``, ``cell_date``, ``cell_decimal``,
``cell_bool``) turn what Excel, WPS and people type into Python values.

What real files do (research/perf.md Part 4): rows shorter than the header, a title merged over
the header row, a million trailing blank rows declared by LibreOffice, phones read as floats
(13800138000.0), dates as Excel serial numbers or as text in a dozen spellings, full-width
digits typed with a Chinese input method, CSV saved as GB18030 by Chinese Excel. And (issue
17) the lists other systems and people make: headers annotated （必填）/ * / （11位）, an
instruction sheet before the data sheet, a company merged over its contact rows, CR-only line
ends, formulas saved by a script without their value (``FormulaWithoutValue``).
"""

from __future__ import annotations

import bisect
import codecs
import csv
import datetime
import decimal
import gc
import io
import itertools
import posixpath
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.utils.translation import gettext as _

HEADER_SEARCH_ROWS = 20
MAX_COMPRESSION_RATIO = 200
# A member smaller than this is never a bomb, whatever its ratio (styles, shared strings).
_RATIO_MIN_BYTES = 1024 * 1024
# calamine allocates the whole rectangle from A1 to the last cell with a value, ~32 bytes
# a cell, before we see one row: 4M cells is ~130 MB (100,000 rows × 40 columns).
MAX_CELLS = 4_000_000

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_BINARY_MAGIC = (
    b"%PDF",
    b"\x89PNG",
    b"\xff\xd8\xff",  # JPEG
    b"GIF8",
    b"RIFF",  # WebP
    b"Rar!",
    b"7z\xbc\xaf",
    b"\x1f\x8b",  # gzip
    b"{\\rtf",
)
_CSV_DELIMITERS = (",", ";", "\t", "|")
_MARKUP_MARKERS = ("<html", "<!doctype html", "<table", "<?xml", "urn:schemas-microsoft-com")


class SpreadsheetError(Exception):
    """A file we cannot read. ``message`` is a translated sentence for the user, ``code`` a
    slug for tests and logs (``empty``, ``too_large``, ``not_spreadsheet``, ``numbers``,
    ``ods``, ``xlsb``, ``html``, ``encrypted``, ``damaged``, ``zip_bomb``, ``sheet_too_large``,
    ``encoding``, ``empty_sheet``, ``no_header``, ``duplicate_header``, ``too_many_rows``,
    ``no_rows``)."""

    def __init__(self, message, code: str, *, detail: str = ""):
        super().__init__(str(message))
        self.message = message
        self.code = code
        self.detail = detail  # what the library said, for the logs, not for the user


class FormulaWithoutValue:
    """A formula cell saved without its computed value (openpyxl and other scripts write
    formulas without computing them: <f>…</f> and no <v>). Not an empty cell: its value is
    unknown. ``str()`` gives "" (the error file writes it back blank); ``cell_text`` and the
    other cleaners raise ``FormulaWithoutValueError``, a ValueError, which the importers turn
    into a row rejection. A row holding nothing else is blank (a formula filled down below
    the data)."""

    __slots__ = ()

    def __str__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "FORMULA_WITHOUT_VALUE"

    def __bool__(self) -> bool:
        return False


FORMULA_WITHOUT_VALUE = FormulaWithoutValue()


class FormulaWithoutValueError(ValueError):
    """Raised by the cell cleaners for a ``FormulaWithoutValue`` cell."""

    def __init__(self) -> None:
        super().__init__(
            _(
                "is a formula without a calculated value: recalculate it in Excel and save "
                "the file again."
            )
        )


class _FormulaText(str):
    """What ``cell_texts`` gives for a ``FormulaWithoutValue`` cell: "" that
    ``formula_without_value`` still recognises."""

    __slots__ = ()


def formula_without_value(value) -> bool:
    """True for a formula cell saved without its value (as read, or as ``cell_texts`` gave
    it back)."""
    return type(value) is FormulaWithoutValue or type(value) is _FormulaText


@dataclass
class Sheet:
    """The header row and the non-blank data rows of the sheet that was read."""

    headers: list[str]  # clean_header() of each header cell; "" for a blank header cell
    header_row: int  # 1-based row number of the header row in the file
    rows: list[tuple[int, list]]  # (1-based row number, values padded/cut to len(headers))
    raw_headers: list[str]  # the header cells as written in the file, for the error file
    sheet_name: str = ""  # the workbook sheet that was read ("" for a CSV file)

    def columns(self) -> dict[str, int]:
        """Column index of each non-blank header (the first one if a header repeats)."""
        index: dict[str, int] = {}
        for position, header in enumerate(self.headers):
            if header:
                index.setdefault(header, position)
        return index


# ---------------------------------------------------------------------------------------------
# Cell cleaners
# ---------------------------------------------------------------------------------------------

# Kept full-width: the punctuation of Chinese prose (remarks, addresses, company names such as
# "某某（集团）有限公司"); NFKC would turn it into ASCII. Every other full-width ASCII variant
# (digits, letters, ＋ － ＠ ．, typed with a Chinese input method) is folded to ASCII.
_KEEP_FULL_WIDTH = "，（）：；！？"
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_TEXT_TABLE: dict[int, str | None] = {
    code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F) if chr(code) not in _KEEP_FULL_WIDTH
}
_TEXT_TABLE[0x3000] = " "  # ideographic space
_TEXT_TABLE.update(dict.fromkeys(map(ord, _INVISIBLE)))
# Control characters (C0 but tab/newline/carriage return, DEL, C1) are dropped.
_TEXT_TABLE.update(dict.fromkeys(c for c in range(0x20) if c not in (9, 10, 13)))
_TEXT_TABLE.update(dict.fromkeys(range(0x7F, 0xA0)))
_HEADER_DROP = {ord(c): None for c in _INVISIBLE} | dict.fromkeys(range(0x20), " ")
_BLANK_CHARS = " \t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
_BLANK_CHARS += "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000" + _INVISIBLE
# The characters _clean_text folds or drops (every whitespace but the space among them; the
# full-width punctuation it keeps is left out).
_DIRTY_CHARS = (
    r"[\x00-\x1f\x7f-\xa0\u1680\u2000-\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
    r"\uff02-\uff07\uff0a\uff0b\uff0d-\uff19\uff1c-\uff1e\uff20-\uff5e]"
)
# Non-ASCII text with none of these is already clean.
_NEEDS_CLEANING = re.compile(_DIRTY_CHARS + r"|^\s|\s$|\s\s")
_CJK_SPACE = re.compile(r"(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])")
_SCIENTIFIC = re.compile(r"([+-]?)(\d+)(?:\.(\d+))?[eE]\+?(\d{1,3})")

_EXCEL_EPOCH = datetime.date(1899, 12, 30)
# Serial numbers below 1910-01-01 are refused: a number such as 2024 in a date column is a
# year typed alone, not 1905-07-16.
_MIN_SERIAL = 3654  # 1910-01-01
_MAX_SERIAL = 2958465  # 9999-12-31
_DATE_TEXT = re.compile(
    r"(?P<y>\d{4})\s*(?P<s1>[-/.年])\s*(?P<m>\d{1,2})\s*(?P<s2>[-/.月])\s*(?P<d>\d{1,2})\s*日?"
    r"(?:(?:\s*T\s*|\s+|(?<=日))"
    r"(?P<H>\d{1,2})\s*[:时時点點]\s*(?P<M>\d{1,2})\s*分?"
    r"(?:(?:\s*:\s*|(?<=分)\s*)(?P<S>\d{1,2})(?:\.\d{1,6})?\s*秒?)?)?"
)
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?")

DATE_FORMATS_HELP: list[str] = [
    "2024-01-31",
    "2024/1/31",
    "2024.1.31",
    "2024年1月31日",
    "20240131",
    "2024-01-31 14:30",
    "2024/1/31 14:30:00",
    "2024年1月31日 14时30分",
]

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_NUMBER_UNITS = {"万": decimal.Decimal(10_000), "亿": decimal.Decimal(100_000_000)}

_TRUE = frozenset({"是", "y", "yes", "true", "1", "√", "✓", "✔"})
_FALSE = frozenset({"否", "n", "no", "false", "0", "×", "✗", "✘"})


def _clean_text(value: str) -> str:
    # PERF: called for every cell of 100,000-row files. Plain ASCII with single spaces, and
    # Chinese text with nothing to fold (most cells), return after a few C-level checks.
    if value.isascii():
        if value.isprintable():
            if "  " not in value and value[:1] != " " and value[-1:] != " ":
                return value
            return " ".join(value.split())
        return " ".join(value.translate(_TEXT_TABLE).split())
    if not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    if _NEEDS_CLEANING.search(value) is None:
        return value
    return " ".join(value.translate(_TEXT_TABLE).split())


def _float_text(value: float) -> str:
    if value.is_integer() and -1e15 < value < 1e15:
        return str(int(value))
    if value != value or value in (float("inf"), float("-inf")):
        return ""
    # Excel keeps 15 significant digits: 0.1+0.2 saved as 0.30000000000000004 shows as 0.3.
    text = f"{value:.15g}"
    if "e" in text:
        text = format(decimal.Decimal(text), "f")
    return text


def _expand_scientific(text: str) -> str:
    """Excel's scientific notation as digits when no digit was lost: "1.5263698652E10" →
    "15263698652". "1.38001E+10" (Excel showed 6 significant digits of a longer number) stays
    as it is, so that validation rejects it rather than store a made-up phone number."""
    match = _SCIENTIFIC.fullmatch(text)
    if match is None:
        return text
    sign, whole, fraction, exponent = match.groups()
    fraction = fraction or ""
    shift = int(exponent)
    if shift > len(fraction) or fraction[shift:].strip("0"):
        return text
    digits = (whole + fraction[:shift]).lstrip("0") or "0"
    return ("-" if sign == "-" and digits != "0" else "") + digits


def cell_text(value) -> str:
    """The cell as clean text: "" for an empty cell; 15263698652.0 → "15263698652"; full-width
    digits, letters and spaces folded to ASCII; zero-width and control characters removed;
    whitespace runs (newlines included) collapsed to one space; dates in ISO form."""
    kind = type(value)
    if kind is str:
        text = _clean_text(value)
        if ("E" in text or "e" in text) and text[:1].isdigit():
            return _expand_scientific(text)
        return text
    if value is None:
        return ""
    if kind is float:
        return _float_text(value)
    if kind is bool:
        return "1" if value else "0"
    if kind is int:
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f") if value.is_finite() else ""
    if kind is FormulaWithoutValue or kind is _FormulaText:
        raise FormulaWithoutValueError()
    return cell_text(str(value))


_DIRTY_CHAR = re.compile(_DIRTY_CHARS)
# A cell after the first that cell_text reads as scientific notation (a digit, then an E).
_SCIENTIFIC_CELL = re.compile(r"\|\d[^|]*[eE]")


def _dirty_positions(joined: str, first: str) -> Iterator[int]:
    """Positions in ``joined`` (text cells glued with "|") inside the cells that cell_text
    would change: a character to fold or drop, two spaces, a leading or trailing space, or
    scientific notation. Each search is a plain scan (no alternation at every position)."""
    for match in _DIRTY_CHAR.finditer(joined):
        yield match.start()
    for needle, shift in (("  ", 0), (" |", 0), ("| ", 1)):
        at = joined.find(needle)
        while at >= 0:
            yield at + shift
            at = joined.find(needle, at + 1)
    if joined[:1] == " " or (first[:1].isdigit() and ("e" in first or "E" in first)):
        yield 0
    if joined[-1:] == " ":
        yield len(joined) - 1
    for match in _SCIENTIFIC_CELL.finditer(joined):
        yield match.start() + 1


_FORMULA_TEXT = _FormulaText("")


class _Texts(list):
    """What ``cell_texts`` returns for a column holding formulas saved without a value."""

    formulas: list[int]


def formula_positions(texts: list) -> list[int]:
    """The positions, in a column cleaned by ``cell_texts``, of the formulas saved without a
    value (their text is ""): [] for nearly every column, at no cost. An importer adds
    ``FormulaWithoutValueError()`` as the reason of each such row::

        for index in formula_positions(texts):
            errors[index].append(f"{label}: {FormulaWithoutValueError()}")
    """
    return getattr(texts, "formulas", [])


def cell_texts(values: list) -> list[str]:
    """``[cell_text(v) for v in values]``, for a whole column; a ``FormulaWithoutValue`` cell
    gives "" for which ``formula_without_value()`` is true, and ``formula_positions()``
    lists them (it does not raise: the caller cleans a whole column at once).

    PERF: imports clean columns of 100,000 cells, nearly all of them clean already. The
    text cells are joined and searched at once for anything cell_text would change; only the
    cells where something is found (and the numbers and dates) go through cell_text."""
    try:
        out = [value if type(value) is str else cell_text(value) for value in values]
    except FormulaWithoutValueError:
        # The column stays a list of texts; formula_positions() names the formulas' cells.
        out = _Texts(
            _FORMULA_TEXT
            if type(value) is FormulaWithoutValue
            else (value if type(value) is str else cell_text(value))
            for value in values
        )
        out.formulas = [i for i, v in enumerate(values) if type(v) is FormulaWithoutValue]
    where = [index for index, value in enumerate(values) if type(value) is str]
    if not where:
        return out
    texts = [values[index] for index in where]
    joined = "|".join(texts)
    if not joined.isascii() and not unicodedata.is_normalized("NFC", joined):
        for index in where:
            out[index] = cell_text(values[index])
        return out
    # ends[k]: the position after cell k and its glue.
    ends = None
    for position in _dirty_positions(joined, texts[0]):
        if ends is None:
            ends = list(itertools.accumulate(len(text) + 1 for text in texts))
        index = where[bisect.bisect_right(ends, position)]
        out[index] = cell_text(values[index])
    return out


def cell_multiline_text(value) -> str:
    """Like ``cell_text`` but keeps line breaks (remarks typed with Alt+Enter): each line is
    cleaned, blank lines are dropped."""
    if not isinstance(value, str) or type(value) is _FormulaText:
        if type(value) is _FormulaText:
            raise FormulaWithoutValueError()
        return cell_text(value)
    lines = (_clean_text(line) for line in value.replace("\r\n", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def _shown(value) -> str:
    text = cell_text(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _not_a_date(value) -> ValueError:
    return ValueError(
        _("Not a date: “%(value)s” (accepted: %(formats)s, …)")
        % {"value": _shown(value), "formats": ", ".join(DATE_FORMATS_HELP[:4])}
    )


def _from_serial(value: float, original) -> datetime.date | datetime.datetime:
    if not _MIN_SERIAL <= value <= _MAX_SERIAL:
        raise _not_a_date(original)
    days = int(value)
    day = _EXCEL_EPOCH + datetime.timedelta(days=days)
    fraction = value - days
    if not fraction:
        return day
    try:
        return datetime.datetime.combine(day, datetime.time()) + datetime.timedelta(
            seconds=round(fraction * 86400)
        )
    except OverflowError:
        raise _not_a_date(original) from None


def _from_number(value: float, original) -> datetime.date | datetime.datetime:
    # 20240131 typed into a General cell arrives as a number, far beyond the serial range.
    if value.is_integer() and 19000101 <= value <= 99991231:
        return _compact_date(str(int(value)), original)
    return _from_serial(value, original)


def _compact_date(text: str, original) -> datetime.date:
    match = _COMPACT_DATE.fullmatch(text)
    if match is None:
        raise _not_a_date(original)
    return _make_date(int(match[1]), int(match[2]), int(match[3]), original)


def _make_date(year: int, month: int, day: int, original) -> datetime.date:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise ValueError(
            _("“%(value)s” is not a real date: there is no such day.") % {"value": _shown(original)}
        ) from None


def cell_date(value) -> datetime.date | datetime.datetime | None:
    """A date (or a datetime when a time is given) from a date cell, an Excel serial number
    (1900 system, from 1910: 45322 → 2024-01-31, 45322.5 → 2024-01-31 12:00) or text in one of
    ``DATE_FORMATS_HELP``; None for an empty cell; ValueError with a translated message for
    anything else, including days that do not exist (2024-02-30)."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime | datetime.date):
        return value
    if isinstance(value, bool):
        raise _not_a_date(value)
    if formula_without_value(value):
        raise FormulaWithoutValueError()
    if isinstance(value, int | float):
        return _from_number(float(value), value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise _not_a_date(value)
        return _from_number(float(value), value)
    text = " ".join(unicodedata.normalize("NFKC", str(value)).translate(_TEXT_TABLE).split())
    if not text:
        return None
    match = _DATE_TEXT.fullmatch(text)
    if match is not None:
        first, second = match["s1"], match["s2"]
        if (first == "年") != (second == "月") or (first != "年" and first != second):
            raise _not_a_date(value)
        day = _make_date(int(match["y"]), int(match["m"]), int(match["d"]), value)
        if match["H"] is None:
            return day
        hour, minute, second_ = int(match["H"]), int(match["M"]), int(match["S"] or 0)
        if hour > 23 or minute > 59 or second_ > 59:
            raise _not_a_date(value)
        return datetime.datetime.combine(day, datetime.time(hour, minute, second_))
    if len(text) == 8 and text.isdigit():
        return _compact_date(text, value)
    if _PLAIN_NUMBER.fullmatch(text):
        return _from_serial(float(text), value)
    raise _not_a_date(value)


def _not_a_number(value) -> ValueError:
    return ValueError(_("Not a number: “%(value)s”") % {"value": _shown(value)})


def cell_decimal(value) -> decimal.Decimal | None:
    """A number as Decimal: numeric cells, and text such as "1,234.50", "１２３", "¥1,200",
    "1200元", "1.5万" (15000); None for an empty cell; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _not_a_number(value)
    if isinstance(value, int):
        return decimal.Decimal(value)
    if isinstance(value, float):
        text = _float_text(value)
        if not text:
            raise _not_a_number(value)
        return decimal.Decimal(text)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise _not_a_number(value)
        return value
    if formula_without_value(value):
        raise FormulaWithoutValueError()
    text = "".join(unicodedata.normalize("NFKC", str(value)).translate(_TEXT_TABLE).split())
    if not text:
        return None
    number = text.upper().removeprefix("RMB").removeprefix("CNY").lstrip("¥").removesuffix("元")
    unit = _NUMBER_UNITS.get(number[-1:])
    if unit is not None:
        number = number[:-1]
    if _GROUPED_NUMBER.fullmatch(number):
        number = number.replace(",", "")
    elif not _NUMBER.fullmatch(number):
        raise _not_a_number(value)
    result = decimal.Decimal(number)
    return result * unit if unit is not None else result


def cell_bool(value) -> bool | None:
    """Yes/no from 是/否, Y/N, yes/no, true/false, 1/0, √/×, or a boolean cell; None for an
    empty cell; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if formula_without_value(value):
        raise FormulaWithoutValueError()
    text = cell_text(value).lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(
        _("Not yes or no: “%(value)s” (accepted: 是/否, Y/N, 1/0, √/×)") % {"value": _shown(value)}
    )


# The notes admins add to a header: 「客户名称（必填）」, 「*客户名称」, 「客户名称 必填」,
# 「手机号（11位）」, 「下次跟进时间（格式：2026-01-01）」, 「【必填】客户名称」 (after NFKC:
# （）→ (), ［］→ [], ＊→ *). A trailing bracketed note, 必填/选填 at either end, stars.
_TRAILING_NOTE = re.compile(r"\s*(?:\(([^()]*)\)|【([^【】]*)】|\[([^\[\]]*)\]|〔([^〔〕]*)〕)$")
# A bracketed number names a column ("联系人（二）", "电话(2)", the second contact): kept.
_ORDINAL = re.compile(r"[0-9一二三四五六七八九十]{1,3}|[A-Za-z]")
_REQUIRED_WORD = re.compile(
    r"^[(【\[](?:必填|选填)[)】\]]\s*|^(?:必填|选填)\s*[:*]\s*|\s*(?:必填|选填)$"
)


def clean_header(value) -> str:
    """A header cell as compared with the known column names: NFKC, invisible characters
    removed, whitespace collapsed (and dropped next to Chinese characters, so a header wrapped
    onto two lines still matches), the notes admins add stripped: the required-column mark
    "*" / "＊" at either end, 必填 / 选填 at either end, a trailing bracketed note
    (（必填）, (11位), 【…】, […]). A header that is nothing but a note keeps it (「（备注）」 →
    "(备注)"): a column is never nameless because of this."""
    if value is None or type(value) is FormulaWithoutValue:
        return ""
    text = value if isinstance(value, str) else cell_text(value)
    text = unicodedata.normalize("NFKC", text).translate(_HEADER_DROP)
    text = _CJK_SPACE.sub("", " ".join(text.split()))
    text = text.strip("* ")
    # PERF: headers only (a few dozen a file); nothing to do for the plain ones.
    if text and (text[-1] in ")】]〕填选" or text[0] in "(【[必选"):
        while True:
            note = _TRAILING_NOTE.search(text)
            shorter = text
            if note is not None and not _ORDINAL.fullmatch(next(filter(None, note.groups()), "")):
                shorter = text[: note.start()].strip("* ")
            shorter = _REQUIRED_WORD.sub("", shorter).strip("* ")
            if not shorter or shorter == text:
                break
            text = shorter
    return text


# ---------------------------------------------------------------------------------------------
# Reading a file
# ---------------------------------------------------------------------------------------------


def read_sheet(
    data: bytes,
    filename: str,
    *,
    known_headers: Iterable[str],
    max_rows: int,
    max_bytes: int = 50 * 1024 * 1024,
    max_unzipped_bytes: int = 300 * 1024 * 1024,
    max_cells: int = MAX_CELLS,
) -> Sheet:
    """Read the first visible sheet of an xlsx/xlsm/xls workbook, or a CSV file.

    The type comes from the content; ``filename`` only names the file in messages. The header
    row is the row among the first 20 with the most cells naming a known column (compare
    with ``clean_header(name)``). Blank rows are skipped; row numbers are those of the file.
    Raises SpreadsheetError for any file that cannot be read, before reading more than
    ``max_rows`` data rows."""
    if not data:
        raise SpreadsheetError(_("The file is empty."), "empty")
    if len(data) > max_bytes:
        raise SpreadsheetError(
            _("The file is larger than %(limit)s MB: split it into several files.")
            % {"limit": _megabytes(max_bytes)},
            "too_large",
        )
    known = [header for header in map(clean_header, known_headers) if header]
    if data.startswith(_ZIP_MAGIC):
        sheets = _zip_sheets(data, filename, max_unzipped_bytes, max_cells)
    elif data.startswith(_OLE2_MAGIC):
        sheets = _ole2_sheets(data, filename, max_cells)
    else:
        sheets = iter([("", _csv_rows(data, filename, known))])
    name, head, rows = _choose_sheet(sheets, set(known))
    sheet = _build_sheet(head, rows, known, max_rows)
    sheet.sheet_name = name
    return sheet


def _choose_sheet(sheets: Iterator[tuple[str, Iterator]], known: set[str]):
    """(name, first rows, the rest) of the sheet whose first ``HEADER_SEARCH_ROWS`` rows hold
    the best header row (the most known column names); on a tie, the first such sheet. A
    workbook whose first sheet is 填写说明 (instructions) is read from its data sheet."""
    best = None
    best_score = -1
    for name, rows in sheets:
        head = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
        score = max((_header_score(row, known) for _number, row in head), default=0)
        if score > best_score:
            best, best_score = (name, head, rows), score
    if best is None:  # a workbook without a worksheet
        return "", [], iter(())
    return best


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


def _display_name(filename: str) -> str:
    name = posixpath.basename((filename or "").replace("\\", "/"))
    return name if len(name) <= 60 else name[:59] + "…"


def _not_spreadsheet(filename: str) -> SpreadsheetError:
    return SpreadsheetError(
        _("“%(name)s” is not an Excel or CSV file: upload an .xlsx, .xls, .et, .ods or .csv file.")
        % {"name": _display_name(filename)},
        "not_spreadsheet",
    )


def _damaged(detail: str = "") -> SpreadsheetError:
    message = _(
        "The file is damaged or incomplete: open it in Excel or WPS, save it again as .xlsx "
        "and upload the new file."
    )
    return SpreadsheetError(message, "damaged", detail=detail)


def _encrypted() -> SpreadsheetError:
    return SpreadsheetError(
        _(
            "The file is protected by a password: remove the password in Excel/WPS "
            "(File → Info → Protect Workbook) and upload it again."
        ),
        "encrypted",
    )


# --- zip: xlsx / xlsm ----------------------------------------------------------------------


def _zip_sheets(
    data: bytes, filename: str, max_unzipped: int, max_cells: int
) -> Iterator[tuple[str, Iterator[tuple[int, list]]]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise _damaged(str(exc)) from None
    _refuse_zip_bomb(members, max_unzipped)
    names = {member.filename.lower().lstrip("/") for member in members}
    ods = "xl/workbook.xml" not in names and _is_ods(archive, names)
    if "xl/workbook.xml" not in names and not ods:
        raise _unsupported_zip(archive, names, filename)
    package = _Package(data, archive, max_unzipped)
    # SECURITY: every part calamine reads when it opens the workbook (shared strings, styles,
    # workbook, relationships…; an ods's content.xml, all of its sheets) is inflated here
    # first, counting the bytes that really come out; the worksheet it reads next is counted
    # by _refuse_sparse_sheet's scan.
    try:
        for member in members:
            if not _is_worksheet(member.filename):
                package.measure(member.filename)
        merges = _refuse_ods(package, names, max_cells) if ods else None
    except (zipfile.BadZipFile, zlib.error, KeyError, ValueError) as exc:
        raise _damaged(str(exc)) from None
    return _calamine_sheets(data, None if ods else package, max_cells, merges)


def _is_ods(archive: zipfile.ZipFile, names: set[str]) -> bool:
    if "mimetype" not in names or "content.xml" not in names:
        return False
    try:
        mimetype = archive.read("mimetype")[:100]
    except (zipfile.BadZipFile, KeyError, OSError, EOFError):
        return False
    return mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet")


def _bomb_error(max_unzipped: int, detail: str = "") -> SpreadsheetError:
    return SpreadsheetError(
        _(
            "The file is too large when unpacked (more than %(limit)s MB, or "
            "compressed suspiciously well): it cannot be read."
        )
        % {"limit": _megabytes(max_unzipped)},
        "zip_bomb",
        detail=detail,
    )


def _refuse_zip_bomb(members: list[zipfile.ZipInfo], max_unzipped: int) -> None:
    """A first, free look: refused from the sizes declared in the zip directory, without
    unpacking anything. The directory may lie: ``_Package`` counts what really inflates."""
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if total > max_unzipped or (
            member.file_size > _RATIO_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO
        ):
            raise _bomb_error(max_unzipped)


def _is_worksheet(name: str) -> bool:
    key = name.lower().lstrip("/")
    return key.startswith("xl/worksheets/") and key.endswith(".xml")


_LOCAL_HEADER = struct.Struct("<4s22xHH")
_INFLATE_INPUT = 1024 * 1024


class _Package:
    """SECURITY: the members of an xlsx, inflated with the bytes that really come out counted.

    A zip's directory declares each member's sizes; a crafted file declares a few hundred
    bytes for a deflate stream of 1.5 MB that inflates to gigabytes. Each member is
    inflated here from its raw deflate data (never through the declared size), in bounded
    pieces that are scanned or dropped, and refused as soon as it inflates to more than it
    declared, to more than ``MAX_COMPRESSION_RATIO`` times its compressed size (beyond
    ``_RATIO_MIN_BYTES``), or the members read so far to more than ``max_unzipped``: the
    memory used is a few megabytes whatever the file holds."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, max_unzipped: int) -> None:
        self.data = data
        self.archive = archive
        self.max_unzipped = max_unzipped
        self.sizes: dict[str, int] = {}  # what each member measured so far inflated to

    def measure(self, member: str) -> int:
        for _piece in self.stream(member):
            pass
        return self.sizes[member]

    def stream(self, member: str) -> Iterator[bytes]:
        """The member's inflated bytes, in pieces of at most ``_SCAN_CHUNK`` bytes."""
        size = _SCAN_CHUNK
        info = self.archive.getinfo(member)
        raw = self._raw(info)
        # The total of the other members measured; a member read twice counts once.
        others = sum(n for name, n in self.sizes.items() if name != member)
        limit = min(info.file_size, self.max_unzipped - others)
        ratio_limit = max(_RATIO_MIN_BYTES, MAX_COMPRESSION_RATIO * len(raw))
        out = 0
        inflate = _Inflate(info, raw, size)
        for piece in inflate:
            out += len(piece)
            if out > limit or out > ratio_limit:
                detail = f"{member}: more than {out} bytes, {info.file_size} declared"
                raise _bomb_error(self.max_unzipped, detail)
            yield piece
        # The ratio again, to the deflate stream's real length (the directory may declare
        # a compressed size longer than the stream, to pass the ratio).
        if out > _RATIO_MIN_BYTES and out > MAX_COMPRESSION_RATIO * inflate.consumed:
            raise _bomb_error(self.max_unzipped, f"{member}: {out} from {inflate.consumed}")
        self.sizes[member] = out

    def _raw(self, info: zipfile.ZipInfo) -> memoryview:
        # The local header's name and extra field lengths may differ from the directory's.
        start = info.header_offset
        header = self.data[start : start + _LOCAL_HEADER.size]
        if len(header) < _LOCAL_HEADER.size:
            raise zipfile.BadZipFile("truncated local header")
        signature, name_length, extra_length = _LOCAL_HEADER.unpack(header)
        if signature != b"PK\x03\x04":
            raise zipfile.BadZipFile("bad local header")
        begin = start + _LOCAL_HEADER.size + name_length + extra_length
        return memoryview(self.data)[begin : begin + info.compress_size]


class _Inflate:
    """Iterate over the inflated bytes of a member's raw data, ``size`` bytes at most at a
    time; then ``consumed`` is the length of its deflate stream."""

    def __init__(self, info: zipfile.ZipInfo, raw: memoryview, size: int) -> None:
        self.info, self.raw, self.size = info, raw, size
        self.consumed = len(raw)

    def __iter__(self) -> Iterator[bytes]:
        raw, size = self.raw, self.size
        if self.info.compress_type == zipfile.ZIP_STORED:
            for at in range(0, len(raw), size):
                yield bytes(raw[at : at + size])
            return
        if self.info.compress_type != zipfile.ZIP_DEFLATED or self.info.flag_bits & 0x1:
            # Excel, WPS, LibreOffice and openpyxl deflate, without encryption.
            raise zipfile.BadZipFile(f"compression method {self.info.compress_type}")
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        for at in range(0, len(raw), _INFLATE_INPUT):
            chunk = raw[at : at + _INFLATE_INPUT]
            pending = chunk
            while pending and not inflater.eof:
                piece = inflater.decompress(pending, size)
                pending = inflater.unconsumed_tail
                if piece:
                    yield piece
            if inflater.eof:
                left = len(inflater.unused_data) + len(inflater.unconsumed_tail)
                self.consumed = at + len(chunk) - left
                return
        while piece := inflater.decompress(b"", size):
            yield piece


def _unsupported_zip(archive: zipfile.ZipFile, names: set[str], filename: str):
    if "xl/workbook.bin" in names:
        return SpreadsheetError(
            _(
                "Excel binary workbooks (.xlsb) cannot be read: save it as Excel workbook "
                "(.xlsx) first."
            ),
            "xlsb",
        )
    if any(name.endswith(".iwa") for name in names) or "metadata/properties.plist" in names:
        return SpreadsheetError(
            _("Apple Numbers files cannot be read: export it as Excel (.xlsx) first."),
            "numbers",
        )
    return _not_spreadsheet(filename)


def _calamine_sheets(
    data: bytes,
    package: _Package | None,
    max_cells: int,
    ods_merges: dict[int, list] | None = None,
) -> Iterator[tuple[str, Iterator[tuple[int, list]]]]:
    """(name, rows) of each visible worksheet (every worksheet if none is visible), opened
    one after the other as they are asked for. ``ods_merges``: an ods's merged ranges by
    sheet index (calamine gives none for ods)."""
    from python_calamine import CalamineWorkbook

    workbook = _calamine_call(lambda: CalamineWorkbook.from_filelike(io.BytesIO(data)))
    for index, name in _candidate_sheets(workbook):
        marks: dict[int, list[int]] = {}
        if package is not None:
            _refuse_sparse_sheet(package, index, max_cells, marks)
        sheet = _calamine_call(lambda index=index: workbook.get_sheet_by_index(index))
        merges = ods_merges.get(index, []) if ods_merges is not None else None
        yield name, _iter_calamine(sheet, marks, merges)


def _calamine_call(call):
    from python_calamine import PasswordError

    try:
        return call()
    except SpreadsheetError:
        raise
    except PasswordError:
        raise _encrypted() from None
    except BaseException as exc:
        # calamine raises its own errors, ValueError, and pyo3's PanicException (not an
        # Exception) on malformed input.
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit | MemoryError):
            raise
        raise _damaged(repr(exc)) from None


def _candidate_sheets(workbook) -> list[tuple[int, str]]:
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    sheets = _calamine_call(lambda: workbook.sheets_metadata)
    found = [
        (index, meta.name)
        for index, meta in enumerate(sheets)
        if meta.visible == SheetVisibleEnum.Visible and meta.typ == SheetTypeEnum.WorkSheet
    ]
    if not found:
        found = [
            (index, meta.name)
            for index, meta in enumerate(sheets)
            if meta.typ == SheetTypeEnum.WorkSheet
        ]
    return found or [(0, sheets[0].name if sheets else "")]


def _iter_calamine(
    sheet, marks: dict[int, list[int]], merges: list | None = None
) -> Iterator[tuple[int, list]]:
    """The sheet's rows (1-based number, values), cells merged over several rows filled
    with the merge's value, and ``marks`` (row number → 0-based columns: formulas saved
    without a value) as ``FORMULA_WITHOUT_VALUE``."""
    start = sheet.start
    if start is None:  # an empty sheet
        return
    # iter_rows() yields the rows from row 1 (blank rows above the data included) but the
    # columns from the first used one: put back the blank columns on the left.
    pad = [""] * start[1]
    width = sheet.width
    fills = _merge_fills(sheet, merges)
    # PERF: iter_rows() converts one row at a time; to_python() would build every row of a
    # sheet that declares a million blank rows. Merges and formula marks (rare) take the
    # slower loop, only when the sheet has some.
    rows = enumerate(sheet.iter_rows(), start=1)
    if not fills and not marks:
        for number, row in rows:
            if pad and len(row) == width:
                row = pad + row
            yield number, row
        return
    values: dict[tuple[int, int], object] = {}  # the top-left cell of each merge
    for number, row in rows:
        if pad and len(row) == width:
            row = pad + row
        for column in marks.get(number, ()):
            if column >= len(row):
                row = row + [""] * (column + 1 - len(row))
            if row[column] == "":
                row[column] = FORMULA_WITHOUT_VALUE
        for column, first in fills.get(number, ()):
            if first == number:
                if column < len(row):
                    values[first, column] = row[column]
            elif column < len(row) and row[column] in ("", None):
                row[column] = values.get((first, column), "")
        yield number, row


# A merge down more rows than this is filled over this many (a merged "notes" column over a
# whole sheet is not a value for each row, and memory stays bounded).
_MAX_MERGE_ROWS = 10_000


def _merge_fills(sheet, ranges: list | None = None) -> dict[int, list[tuple[int, int]]]:
    """Row number → (0-based column, first row of its merge) for every cell merged with the
    cells above it: the value of the merge's first cell fills its first column down the
    rows it spans. Merges within one row (a title over the header) are left as they are:
    filling them across would repeat a header. calamine gives the merges of xlsx and xls
    sheets; an ods's come from ``_refuse_ods``'s scan (``ranges``)."""
    try:
        if ranges is None:
            ranges = sheet.merged_cell_ranges
    except BaseException as exc:  # a format calamine has no merges for
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit | MemoryError):
            raise
        return {}
    if not ranges:
        return {}
    fills: dict[int, list[tuple[int, int]]] = {}
    for (top, left), (bottom, _right) in ranges:
        if bottom <= top:
            continue
        first = top + 1
        for number in range(first, min(bottom + 1, top + _MAX_MERGE_ROWS) + 1):
            fills.setdefault(number, []).append((left, first))
    return fills


# SECURITY: calamine allocates a cell for every position between A1 and the last cell holding a
# value before returning a single row: a 2 KB file with one empty string in XFD1048576 asks for
# 550 GB and aborts the process. The sheet XML is scanned (streamed, nothing kept) for the
# extent of the cells with a value, and refused when it is larger than max_cells.

# Any cell but the usual <c r="A1"…> in columns A–Z and rows 1–99,999.
_UNUSUAL_CELL = re.compile(rb'<c(?! r="[A-Z]\d{1,5}")')
# A cell whose first attribute is its reference: (letters, row, "/" if it holds no value).
_REFERENCED_CELL = re.compile(rb'<c r="([A-Z]{1,3})(\d{1,7})"[^>]*?(/?)>')
_TALL_CELL = re.compile(rb'<c r="[A-Z]{1,3}(\d{6,7})"[^>]*?(/?)>')
_WIDE_LETTERS = re.compile(rb'<c r="([A-Z]{2,3})\d')
_ROW_10000_TO_99999 = re.compile(rb'<c r="[A-Z]{1,3}(\d{5})"')
_ANY_ROW_OR_CELL = re.compile(rb"<(?:[\w.-]+:)?(row|c)\b([^>]*)>")
_R_ATTRIBUTE = re.compile(rb'\sr="([A-Z]{0,3})(\d{0,7})"')
_SCAN_CHUNK = 4 * 1024 * 1024


def _refuse_sparse_sheet(
    package: _Package, index: int, max_cells: int, marks: dict[int, list[int]] | None = None
) -> None:
    """Refuse the sheet calamine would allocate too many cells for; meanwhile fill ``marks``
    with its formulas saved without a value (row number → 0-based columns)."""
    members = _sheet_members(package.archive, index)
    for member in members:
        rows, columns = _sheet_extent(
            package, member, max_cells, marks if len(members) == 1 else None
        )
        if rows * columns > max_cells:
            raise SpreadsheetError(
                _(
                    "The sheet has content down to row %(rows)s and across %(columns)s "
                    "columns: delete the empty rows below your data and the empty columns to "
                    "its right (select them, right-click, Delete), save and upload it again."
                )
                % {"rows": f"{rows:,}", "columns": f"{columns:,}"},
                "sheet_too_large",
            )


def _sheet_members(archive: zipfile.ZipFile, index: int) -> list[str]:
    """The worksheet part calamine reads as sheet ``index`` (workbook.xml order, resolved
    through its relationships); every worksheet part when that cannot be resolved."""
    names = {info.filename.lower().lstrip("/"): info.filename for info in archive.infolist()}
    all_sheets = [
        name
        for key, name in names.items()
        if key.startswith("xl/worksheets/") and key[-4:] == ".xml"
    ]
    try:
        workbook = archive.read(names["xl/workbook.xml"])
        rels = archive.read(names["xl/_rels/workbook.xml.rels"])
    except (KeyError, zipfile.BadZipFile, OSError, EOFError):
        return all_sheets
    sheet_ids = [
        _attributes(tag).get(b"id") for tag in re.findall(rb"<(?:[\w.-]+:)?sheet\s[^>]*>", workbook)
    ]
    targets = {}
    for tag in re.findall(rb"<(?:[\w.-]+:)?Relationship\s[^>]*>", rels):
        attributes = _attributes(tag)
        targets[attributes.get(b"Id")] = attributes.get(b"Target", b"").decode("utf-8", "replace")
    if index >= len(sheet_ids) or targets.get(sheet_ids[index]) is None:
        return all_sheets
    target = targets[sheet_ids[index]]
    path = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
    member = names.get(posixpath.normpath(path).lower())
    return [member] if member else all_sheets


def _attributes(tag: bytes) -> dict[bytes, bytes]:
    # Attribute names without their prefix: r:id, relationships:id → id.
    return {
        name.rsplit(b":", 1)[-1]: value
        for name, value in re.findall(rb'([\w.:-]+)\s*=\s*"([^"]*)"', tag)
    }


def _chunks(package: _Package, member: str) -> Iterator[bytes]:
    """The member's XML in pieces that never cut a tag (each ends before a "<"), counted
    by the package's limits."""
    tail = b""
    for chunk in package.stream(member):
        buffer = tail + chunk
        cut = buffer.rfind(b"<")
        if cut <= 0 or len(buffer) - cut > _SCAN_CHUNK:
            cut = len(buffer)
        yield buffer[:cut]
        tail = buffer[cut:]
    if tail:
        yield tail


def _sheet_data_chunks(package: _Package, member: str) -> Iterator[bytes]:
    """The chunks of the member's <sheetData> element (nothing if it has a prefix)."""
    started = False
    for chunk in _chunks(package, member):
        if not started:
            at = chunk.find(b"<sheetData")
            if at < 0:
                continue
            chunk, started = chunk[at:], True
        end = chunk.find(b"</sheetData>")
        if end >= 0:
            yield chunk[:end]
            return
        yield chunk


# A cell holding a formula and no value (<v> missing, or empty without t="str": Excel writes
# a formula that computed "" as t="str" with an empty <v>).
_FORMULA_WITHOUT_VALUE = re.compile(
    rb'<c r="([A-Z]{1,3})(\d{1,7})"([^>]*)>\s*<f\b[^>]*?(?:/>|>[^<]*</f>)\s*'
    rb"(<v\s*/>|<v\s*>\s*</v>)?\s*</c>"
)


def _mark_formulas(chunk: bytes, marks: dict[int, list[int]]) -> None:
    for letters, row, attributes, empty_value in _FORMULA_WITHOUT_VALUE.findall(chunk):
        if empty_value and b't="str"' in attributes:
            continue
        marks.setdefault(int(row), []).append(_column_number(letters) - 1)


def _sheet_extent(
    package: _Package, member: str, max_cells: int, marks: dict[int, list[int]] | None = None
) -> tuple[int, int]:
    """(last row, last column) of the cells with a value, or an upper bound of them.

    PERF: Excel, WPS, openpyxl and Google Sheets start every cell with r="A1"; for such a
    sheet only the cells beyond row 99,999 or column Z are looked at, in two passes over the
    bytes in C (with the decompression, ~25 % of calamine's own time). Sheets wider than Z
    take a few more passes; sheets too large for that bound have every cell reference read;
    other sheets (cells without r="", prefixed tags) are tokenised in full."""
    try:
        rows, columns, plain, seen = 99_999, 26, True, False
        for chunk in _sheet_data_chunks(package, member):
            seen = True
            # Inside <sheetData> only cells start with "<c"; a prefixed one (<x:c>) has ":c".
            if b":c" in chunk:
                plain = False
                break
            # PERF: one search in C; the regex only for sheets that hold formulas. (Sheets
            # without r="" or with prefixed tags are not looked at: their formulas read blank.)
            if marks is not None and b"<f" in chunk:
                _mark_formulas(chunk, marks)
            if _UNUSUAL_CELL.search(chunk) is None:
                continue
            if chunk.count(b"<c") != chunk.count(b'<c r="'):  # a cell without r="" first
                plain = False
                break
            letters = set(_WIDE_LETTERS.findall(chunk))
            if letters:
                columns = max(columns, *map(_column_number, letters))
            for tall in _TALL_CELL.finditer(chunk):
                if not tall[2]:
                    rows = max(rows, int(tall[1]))
        if not (seen and plain):
            return _tokenised_extent(package, member)
        if rows * columns > max_cells and rows == 99_999:  # wide: bound the rows better
            rows = 9_999
            for chunk in _sheet_data_chunks(package, member):
                found = _ROW_10000_TO_99999.findall(chunk)
                if found:
                    rows = max(rows, *map(int, found))
        if rows * columns <= max_cells:
            return rows, columns
        return _referenced_extent(package, member)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        raise _damaged(str(exc)) from None


def _referenced_extent(package: _Package, member: str) -> tuple[int, int]:
    # Every cell starts with its r="": the largest row and column of those with a value.
    max_row = max_column = 0
    columns: dict[bytes, int] = {}
    for chunk in _sheet_data_chunks(package, member):
        for letters, row, empty in _REFERENCED_CELL.findall(chunk):
            if not empty:
                max_row = max(max_row, int(row))
                if letters not in columns:
                    columns[letters] = _column_number(letters)
                    max_column = max(max_column, columns[letters])
    return max_row, max_column


def _tokenised_extent(package: _Package, member: str) -> tuple[int, int]:
    # Positions as calamine computes them: a cell without r="" follows the previous one.
    row = column = max_row = max_column = 0
    for chunk in _chunks(package, member):
        for match in _ANY_ROW_OR_CELL.finditer(chunk):
            found = _R_ATTRIBUTE.search(match[2])
            if match[1] == b"row":
                row = int(found[2]) if found and found[2] else row + 1
                column = 0
                continue
            if found and found[1] and found[2]:
                column, row = _column_number(found[1]), int(found[2])
            else:
                column += 1
            if not match[2].endswith(b"/"):
                max_row, max_column = max(max_row, row), max(max_column, column)
    return max_row, max_column


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


# --- OpenDocument: ods ---------------------------------------------------------------------

_ODS_TAG = re.compile(rb"<table:(table-row|table-cell|covered-table-cell|table)(?=[\s/>])([^>]*)>")
_ROWS_REPEATED = re.compile(rb'table:number-rows-repeated="(\d+)"')
_COLUMNS_REPEATED = re.compile(rb'table:number-columns-repeated="(\d+)"')
_ROWS_SPANNED = re.compile(rb'table:number-rows-spanned="(\d+)"')


def _refuse_ods(package: _Package, names: set[str], max_cells: int) -> dict[int, list]:
    """SECURITY: an ods is refused when encrypted, and when its sheets would make calamine
    allocate more than ``max_cells`` cells: LibreOffice writes a row or cell repeated a
    million times as one element (number-rows-repeated / number-columns-repeated); only the
    repeated cells with a value count (a self-closing cell is empty). Returns the cells
    merged over several rows (number-rows-spanned), by sheet index, as calamine gives an
    xlsx's: ((top, left), (bottom, right)), 0-based."""
    if "meta-inf/manifest.xml" in names:
        manifest = _member(package.archive, "meta-inf/manifest.xml")
        if manifest is not None and b"encryption-data" in package.archive.read(manifest):
            raise _encrypted()
    member = _member(package.archive, "content.xml")
    if member is None:
        raise _damaged("content.xml")
    total = 0
    rows = columns = row = 0
    merges: dict[int, list] = {}
    table = -1
    for chunk in _chunks(package, member):
        for match in _ODS_TAG.finditer(chunk):
            kind, attributes = match[1], match[2]
            if kind == b"table":
                total += rows * columns
                rows = columns = row = 0
                table += 1
            elif kind == b"table-row":
                found = _ROWS_REPEATED.search(attributes)
                repeat = int(found[1]) if found else 1
                row, column = row + repeat, 0
            else:
                if kind == b"table-cell" and b"rows-spanned" in attributes:
                    spanned = _ROWS_SPANNED.search(attributes)
                    if spanned and int(spanned[1]) > 1:
                        top = row - 1
                        span = ((top, column), (top + int(spanned[1]) - 1, column))
                        merges.setdefault(table, []).append(span)
                found = _COLUMNS_REPEATED.search(attributes)
                column += int(found[1]) if found else 1
                if not attributes.endswith(b"/"):
                    rows, columns = max(rows, row), max(columns, column)
                    if rows * columns + total > max_cells:
                        _refuse_ods_size(rows, columns)
    total += rows * columns
    if total > max_cells:
        _refuse_ods_size(rows, columns)
    return merges


def _refuse_ods_size(rows: int, columns: int) -> None:
    raise SpreadsheetError(
        _(
            "The sheet has content down to row %(rows)s and across %(columns)s "
            "columns: delete the empty rows below your data and the empty columns to "
            "its right (select them, right-click, Delete), save and upload it again."
        )
        % {"rows": f"{rows:,}", "columns": f"{columns:,}"},
        "sheet_too_large",
    )


def _member(archive: zipfile.ZipFile, key: str) -> str | None:
    for info in archive.infolist():
        if info.filename.lower().lstrip("/") == key:
            return info.filename
    return None


# --- OLE2: legacy xls, encrypted xlsx ----------------------------------------------------


def _ole2_sheets(
    data: bytes, filename: str, max_cells: int
) -> Iterator[tuple[str, Iterator[tuple[int, list]]]]:
    # An xlsx with a password to open is an OLE2 container holding an "EncryptedPackage".
    if _ENCRYPTED_PACKAGE in data:
        raise _encrypted()
    try:
        stream = _ole2_stream(data, ("workbook", "book"))
    except (struct.error, IndexError, ValueError, UnicodeDecodeError):
        raise _damaged("compound file") from None
    if stream is None:  # a Word .doc, an Outlook .msg…
        raise _not_spreadsheet(filename)
    cells = _biff_cells(stream)
    if cells > max_cells:
        raise SpreadsheetError(
            _(
                "The workbook's sheets span %(cells)s cells, more than can be read: delete the "
                "empty rows and columns around the data, save and upload it again."
            )
            % {"cells": f"{cells:,}"},
            "sheet_too_large",
        )
    return _calamine_sheets(data, None, max_cells)


_FREE_SECTOR, _END_OF_CHAIN = 0xFFFFFFFF, 0xFFFFFFFE


def _ole2_stream(data: bytes, names: tuple[str, ...]) -> bytes | None:
    """The content of the first stream called one of ``names`` (lower case; names compare
    case-insensitively) in an OLE2 compound file, or None. A reader of just what is needed:
    FAT, DIFAT, directory, mini stream."""
    sector_size = 1 << struct.unpack_from("<H", data, 30)[0]
    mini_size = 1 << struct.unpack_from("<H", data, 32)[0]
    fat_count, first_dir, _sig, cutoff, first_minifat = struct.unpack_from("<IIIII", data, 44)
    first_difat, difat_count = struct.unpack_from("<II", data, 68)
    per_sector = sector_size // 4
    max_sectors = len(data) // sector_size + 1

    def sector(number: int) -> bytes:
        start = (number + 1) * sector_size
        if number >= max_sectors or start >= len(data):
            raise ValueError("sector out of range")
        return data[start : start + sector_size]

    fat_sectors = list(struct.unpack_from("<109I", data, 76))
    next_difat = first_difat
    for _difat_sector in range(min(difat_count, max_sectors)):
        if next_difat in (_FREE_SECTOR, _END_OF_CHAIN):
            break
        ids = struct.unpack(f"<{per_sector}I", sector(next_difat))
        fat_sectors += ids[:-1]
        next_difat = ids[-1]
    fat_ids = [n for n in fat_sectors if n not in (_FREE_SECTOR, _END_OF_CHAIN)][:fat_count]
    fat_bytes = b"".join(sector(n) for n in fat_ids)
    fat = struct.unpack(f"<{len(fat_bytes) // 4}I", fat_bytes)

    def chain(start: int, table, read) -> bytes:
        parts, seen = [], set()
        while start not in (_FREE_SECTOR, _END_OF_CHAIN):
            if start in seen or start >= len(table):  # SECURITY: loops, bad pointers
                raise ValueError("broken sector chain")
            seen.add(start)
            parts.append(read(start))
            start = table[start]
        return b"".join(parts)

    directory = chain(first_dir, fat, sector)
    entries = [directory[i : i + 128] for i in range(0, len(directory) - 127, 128)]
    for entry in entries:
        length = min(struct.unpack_from("<H", entry, 64)[0], 64)
        name = entry[: max(length - 2, 0)].decode("utf-16-le")
        if entry[66] != 2 or name.lower() not in names:
            continue
        start, size = struct.unpack_from("<II", entry, 116)
        if size >= cutoff:
            return chain(start, fat, sector)[:size]
        root_start, root_size = struct.unpack_from("<II", entries[0], 116)
        mini_stream = chain(root_start, fat, sector)[:root_size]
        minifat_bytes = chain(first_minifat, fat, sector)
        minifat = struct.unpack(f"<{len(minifat_bytes) // 4}I", minifat_bytes)

        def mini_sector(number: int, stream: bytes = mini_stream) -> bytes:
            return stream[number * mini_size : (number + 1) * mini_size]

        return chain(start, minifat, mini_sector)[:size]
    return None


# BIFF records holding a value (blank cells are not stored by calamine): NUMBER, RK, MULRK,
# LABELSST, LABEL, RSTRING, BOOLERR, FORMULA.
_BIFF_VALUE_RECORDS = frozenset({0x0203, 0x027E, 0x00BD, 0x00FD, 0x0204, 0x00D6, 0x0205, 0x0006})


def _biff_cells(stream: bytes) -> int:
    """SECURITY: the number of cells calamine allocates when it opens the workbook (the
    rectangle up to the last value, for every sheet: it loads them all). Raises the
    password error on a FILEPASS record."""
    total, position, end = 0, 0, len(stream) - 4
    last_row = last_column = -1
    in_sheet = False
    unpack = struct.unpack_from
    while position <= end:
        kind, size = unpack("<HH", stream, position)
        body = position + 4
        if kind in _BIFF_VALUE_RECORDS and size >= 4:
            row, column = unpack("<HH", stream, body)
            if kind == 0x00BD and size >= 6:  # MULRK: the last column closes the record
                column = unpack("<H", stream, body + size - 2)[0]
            last_row, last_column = max(last_row, row), max(last_column, column)
        elif kind == 0x0809:  # BOF
            in_sheet, last_row, last_column = True, -1, -1
        elif kind == 0x000A and in_sheet:  # EOF
            total += (last_row + 1) * (last_column + 1)
            in_sheet = False
        elif kind == 0x002F:  # FILEPASS
            raise _encrypted()
        position = body + size
    return total


# --- text: CSV ---------------------------------------------------------------------------


def _csv_rows(data: bytes, filename: str, known: list[str]) -> Iterator[tuple[int, list]]:
    if data.startswith(_BINARY_MAGIC):
        raise _not_spreadsheet(filename)
    text = _decode(data, filename)
    start = text[:4096].lstrip().lower()
    if start.startswith("<") and any(marker in start for marker in _MARKUP_MARKERS):
        # Many web systems export "Excel" files that are HTML tables or Excel 2003 XML.
        raise SpreadsheetError(
            _(
                "This file is a web page or an old XML spreadsheet with an Excel name: open it "
                "in Excel or WPS, save it as Excel workbook (.xlsx) and upload the new file."
            ),
            "html",
        )
    offset = 0
    sep_line = re.match(r"sep=(.)(?:\r\n|\r|\n)", text)
    if sep_line:  # Excel's own delimiter line
        delimiter, text, offset = sep_line[1], text[sep_line.end() :], 1
    else:
        delimiter = _sniff_delimiter(text, known)
    return _iter_csv(text, delimiter, offset)


def _decode(data: bytes, filename: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text (*.txt)": UTF-16 with a BOM, tab-delimited.
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise _not_spreadsheet(filename) from None
    if b"\x00" in data[:65536]:
        # UTF-16 without its BOM (some exports): a NUL in every other byte of the text.
        # (Chinese characters have no NUL byte: only one side having NULs is the sign.)
        head = data[:4096]
        odd, even = head[1::2].count(0), head[0::2].count(0)
        encoding = "utf-16-le" if odd and not even else "utf-16-be" if even and not odd else ""
        if encoding and len(data) % 2 == 0:
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                pass
        raise _not_spreadsheet(filename)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        # Chinese Excel and WPS save "CSV" in the ANSI code page: GBK, a subset of GB18030.
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise SpreadsheetError(
            _(
                "The text encoding of the file cannot be recognised: save it as "
                "“CSV UTF-8” or as Excel workbook (.xlsx)."
            ),
            "encoding",
        ) from None


def _sniff_delimiter(text: str, known: list[str]) -> str:
    """The delimiter that gives the best header row; then the one that splits it into the
    most columns. csv.Sniffer guesses wrong on one-column and Chinese files."""
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rfind("\n")]
    best, best_score = ",", (-1, -1)
    for delimiter in _CSV_DELIMITERS:
        try:
            reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
            rows = list(itertools.islice(reader, HEADER_SEARCH_ROWS))
        except csv.Error:
            continue
        score = max(((_header_score(row, known), len(row)) for row in rows), default=(0, 0))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _iter_csv(text: str, delimiter: str, offset: int) -> Iterator[tuple[int, list]]:
    # newline="": lines end at \n, \r\n or a lone \r (old Mac files), as csv expects.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    number = offset
    try:
        for row in reader:
            number += 1
            yield number, row
    except csv.Error as exc:
        raise SpreadsheetError(
            _(
                "The CSV file cannot be read after row %(row)s (a cell too long, or a stray "
                "NUL character): save it again from Excel or WPS."
            )
            % {"row": number},
            "damaged",
            detail=str(exc),
        ) from None


# --- header row and data rows ------------------------------------------------------------


def _header_score(row: list, known: Iterable[str]) -> int:
    names = {clean_header(value) for value in row if value not in (None, "")}
    return len(names.intersection(known))


def _row_blank(values: list) -> bool:
    for value in values:
        if value is None or (type(value) is str and not value.strip(_BLANK_CHARS)):
            continue
        if value is FORMULA_WITHOUT_VALUE:
            continue
        return False
    return True


def _build_sheet(
    head: list[tuple[int, list]], rows: Iterator[tuple[int, list]], known: list[str], max_rows: int
) -> Sheet:
    known_set = set(known)
    best, best_score = -1, 0
    for position, (_number, row) in enumerate(head):
        score = _header_score(row, known_set)
        if score > best_score:
            best, best_score = position, score
    if best < 0:
        # No known column name: the first row of several text cells is taken as the header
        # (another system's export, whose columns the import's mapping step then lets the
        # user choose); a title row (one cell) is passed over.
        best = _unknown_header(head)
    if best < 0:
        if all(_row_blank(row) for _number, row in head) and next(rows, None) is None:
            raise SpreadsheetError(
                _("The sheet is empty: put the column names in the first row, the data below."),
                "empty_sheet",
            )
        raise SpreadsheetError(
            _(
                "The header row cannot be found: the first row should hold the column names, "
                "such as %(examples)s."
            )
            % {"examples": "、".join(f"“{name}”" for name in known[:3])},
            "no_header",
        )
    header_row, header_cells = head[best]
    headers = [clean_header(value) for value in header_cells]
    while headers and not headers[-1]:
        headers.pop()
    raw_headers = [
        value
        if isinstance(value, str)
        else ""
        if formula_without_value(value)
        else cell_text(value)
        for value in header_cells[: len(headers)]
    ]
    seen: set[str] = set()
    for header in headers:
        if header in seen and header in known_set:
            raise SpreadsheetError(
                _("The column “%(name)s” appears more than once in the header row: keep one.")
                % {"name": header},
                "duplicate_header",
            )
        seen.add(header)

    data = _data_rows(itertools.chain(head[best + 1 :], rows), len(headers), max_rows)
    if not data:
        raise SpreadsheetError(
            _("The file has no data rows under the header row (row %(row)s).")
            % {"row": header_row},
            "no_rows",
        )
    return Sheet(headers=headers, header_row=header_row, rows=data, raw_headers=raw_headers)


def _unknown_header(head: list[tuple[int, list]]) -> int:
    """The position in ``head`` of the first row with at least two cells, all of them text
    (column names nobody taught us), or -1."""
    for position, (_number, row) in enumerate(head):
        filled = [value for value in row if value not in (None, "")]
        if len(filled) >= 2 and all(
            isinstance(value, str) and value.strip() and not _NUMBER_TEXT.match(value.strip())
            for value in filled
        ):
            return position
    return -1


_NUMBER_TEXT = re.compile(r"^[+-]?[\d.,:/ -]+$")


def _data_rows(rows: Iterator[tuple[int, list]], width: int, max_rows: int) -> list:
    """The non-blank rows, cut or padded to ``width``, empty cells as None; refused as soon
    as there are more than ``max_rows``."""
    data: list[tuple[int, list]] = []
    append = data.append
    count = 0
    # PERF: the cyclic garbage collector would walk the growing list of rows again and again
    # (~7 % of the reading time of 100,000 rows); rows hold no reference cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for number, row in rows:
            size = len(row)
            if size > width:
                row = row[:width]
            elif size < width:
                row = row + [None] * (width - size)
            if "" in row:
                row = [None if value == "" else value for value in row]
            if _row_blank(row):
                continue
            count += 1
            if count > max_rows:
                raise SpreadsheetError(
                    _(
                        "The file has more than %(max_rows)s rows: split it into several "
                        "files of at most %(max_rows)s rows."
                    )
                    % {"max_rows": f"{max_rows:,}"},
                    "too_many_rows",
                )
            append((number, row))
    finally:
        if collecting:
            gc.enable()
    return data
