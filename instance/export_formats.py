"""Writers of the exports: CSV, JSON, XLSX (openpyxl) and ODS (odfpy), all streamed.

Each writer takes a ``Document`` (columns, headers and the notes on the method,
translated beforehand) and the batches of rows, and yields bytes. CSV and JSON
are written batch by batch. XLSX goes through openpyxl's write-only workbook and
ODS through odfpy elements serialised one row at a time, both into a temporary
file (memory while small, then disk) that is sent back in chunks.
"""

import csv
import io
import json
import secrets
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import IO, Any

from odf import teletype
from odf.element import Element
from odf.namespaces import OFFICENS
from odf.number import DateStyle, Day, Hours, Minutes, Month, Number, NumberStyle, Seconds, Year
from odf.number import Text as NumberText
from odf.opendocument import OpenDocumentSpreadsheet
from odf.style import Style, TableCellProperties, TextProperties
from odf.table import Table, TableCell, TableColumn, TableRow
from odf.text import P
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from instance.errors import Invalid
from instance.i18n import _
from instance.valuation import euros

#: ODS files are built with odfpy, which has no streaming mode: exports stop there.
ODS_MAX_ROWS = 100_000
#: The rows of one XLSX sheet, minus the header row.
XLSX_MAX_ROWS = 1_048_575
CHUNK = 64 * 1024
SPOOL_BYTES = 8 * 1024 * 1024
#: What makes spreadsheets read a CSV cell as a formula.
FORMULA_STARTS = "=+-@\t\r"
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
}
Rows = Iterable[Sequence[Sequence[Any]]]


@dataclass(frozen=True)
class Column:
    """One column of an export: its JSON key, its header (a msgid) and the kind of value."""

    key: str
    header: str
    kind: str  # text, date, datetime, integer, hours, money, distance, status

    @property
    def label(self) -> str:
        """The header in the current language."""
        return _(self.header)


@dataclass(frozen=True)
class Document:
    """Everything of an export but its rows, translated while the request is known."""

    key: str  # the JSON array: "actions" or "rows"
    title: str  # the first sheet's name
    columns: Sequence[Column]
    headers: Sequence[str]
    meta: Mapping[str, Any]  # the JSON "meta" object
    about: Sequence[tuple[str, str]]  # lines of the "Method" sheet
    about_title: str
    statuses: Mapping[str, str]


def check_size(fmt: str, rows: int) -> None:
    """Refuse a spreadsheet export with more rows than its format holds; raise Invalid."""
    if fmt == "ods" and rows > ODS_MAX_ROWS:
        message = _(
            "An ODS file holds at most {limit} actions and this export has {count}. "
            "Choose a shorter period, or download it as CSV or XLSX."
        )
    elif fmt == "xlsx" and rows > XLSX_MAX_ROWS:
        message = _(
            "An XLSX sheet holds at most {limit} actions and this export has {count}. "
            "Choose a shorter period, or download it as CSV or JSON."
        )
    else:
        return
    limit = ODS_MAX_ROWS if fmt == "ods" else XLSX_MAX_ROWS
    raise Invalid({"format": message.format(limit=f"{limit:,}", count=f"{rows:,}")})


def safe_text(value: str | None) -> str:
    """Text for a CSV cell: a leading =, +, -, @ gets a ' so spreadsheets show, not run, it."""
    if not value:
        return ""
    return "'" + value if value[0] in FORMULA_STARTS else value


def hours_of(minutes: int | None) -> str:
    """Minutes as decimal hours with 2 decimals ('1.50').

    A whole number of minutes is never an exact half hundredth of an hour, so the
    float formatting rounds exactly like valuation.hours_text.
    """
    return "" if minutes is None else f"{minutes / 60:.2f}"


def hundredths(value: int) -> str:
    """Cents (or hundredths of a km) as a decimal string: 1250 -> '12.50'."""
    if value < 0:
        return "-" + hundredths(-value)
    return f"{value // 100}.{value % 100:02d}"


# The same few thousand durations and amounts come back on every page of rows.
_hours = lru_cache(maxsize=4096)(hours_of)
_hundredths = lru_cache(maxsize=16384)(hundredths)


def _indexes(document: Document, *kinds: str) -> list[int]:
    return [number for number, column in enumerate(document.columns) if column.kind in kinds]


class _Plan:
    """Where each kind of value sits in a row; rows are converted in place, kind by kind."""

    def __init__(self, document: Document) -> None:
        self.text = _indexes(document, "text")
        self.hours = _indexes(document, "hours")
        self.decimal = _indexes(document, "money", "distance")
        self.status = _indexes(document, "status")
        self.dates = _indexes(document, "date")
        self.stamps = _indexes(document, "datetime")
        self.statuses = document.statuses

    def _numbers(self, out: list[Any]) -> None:
        for number in self.hours:
            if out[number] is not None:
                out[number] = _hours(out[number])
        for number in self.decimal:
            if out[number] is not None:
                out[number] = _hundredths(out[number])

    def csv(self, row: Sequence[Any]) -> list[Any]:
        """A row for the csv module (which writes None as empty, dates as ISO 8601)."""
        out = list(row)
        self._numbers(out)
        for number in self.text:
            value = out[number]
            if value and value[0] in FORMULA_STARTS:
                out[number] = "'" + value
        for number in self.status:
            out[number] = self.statuses.get(out[number], out[number])
        for number in self.stamps:
            if out[number] is not None:
                out[number] = out[number].isoformat(" ")[:19]
        return out

    def json(self, row: Sequence[Any]) -> list[Any]:
        """A row of JSON values: ISO 8601 dates (with offset), decimals as strings."""
        out = list(row)
        self._numbers(out)
        for number in self.dates:
            if out[number] is not None:
                out[number] = out[number].isoformat()
        for number in self.stamps:
            if out[number] is not None:
                out[number] = out[number].isoformat()
        return out


def write_csv(document: Document, batches: Rows) -> Iterator[bytes]:
    """CSV (RFC 4180, comma, UTF-8 with a byte order mark so Excel reads accents)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_text(header) for header in document.headers])
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    convert = _Plan(document).csv
    for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([convert(row) for row in batch])
        yield buffer.getvalue().encode("utf-8")


def write_json(document: Document, batches: Rows) -> Iterator[bytes]:
    """A JSON object {"meta": {...}, "<key>": [one object per row]}, written as it goes."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    yield f'{{"meta":{encode(document.meta)},"{document.key}":['.encode()
    keys = [column.key for column in document.columns]
    convert = _Plan(document).json
    separator = "\n"
    for batch in batches:
        if batch:
            items = [dict(zip(keys, convert(row), strict=True)) for row in batch]
            yield (separator + encode(items)[1:-1]).encode("utf-8")
            separator = ",\n"
    yield b"\n]}\n"


def _spooled() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115


def _send_back(handle: IO[bytes]) -> Iterator[bytes]:
    with handle:
        handle.seek(0)
        while chunk := handle.read(CHUNK):
            yield chunk


def clean(value: str) -> str:
    """Text without the control characters that XML (so XLSX and ODS) cannot hold."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)


def _xlsx_text(sheet: Any, value: str) -> Any:
    """A cell that holds text as text, even '=...' (openpyxl would make it a formula)."""
    cell = WriteOnlyCell(sheet, value=clean(value))
    cell.data_type = "s"
    return cell


def _xlsx_cells(document: Document, sheet: Any) -> list[Callable[[Any], Any]]:
    statuses = document.statuses

    def text(value: str | None) -> Any:
        if not value:
            return None
        value = clean(value)
        if value.startswith("=") or value in ERROR_CODES:
            return _xlsx_text(sheet, value)
        return value

    def hours(minutes: int | None) -> Any:
        if minutes is None:
            return None
        if minutes % 3 == 0:  # whole hundredths of an hour: exact as written
            return minutes / 60
        cell = WriteOnlyCell(sheet, value=minutes / 60)
        cell.number_format = "0.00"
        return cell

    makers: dict[str, Callable[[Any], Any]] = {
        "text": text,
        "date": lambda v: v,
        "datetime": lambda v: v.replace(tzinfo=None) if v else None,
        "integer": lambda v: v,
        "hours": hours,
        "money": lambda v: None if v is None else v / 100,
        "distance": lambda v: None if v is None else v / 100,
        "status": lambda v: statuses.get(v, v),
    }
    return [makers[column.kind] for column in document.columns]


def _xlsx_header(sheet: Any, headers: Sequence[str]) -> list[Any]:
    found = []
    for header in headers:
        cell = _xlsx_text(sheet, header)
        cell.font = Font(bold=True)
        found.append(cell)
    return found


def write_xlsx(document: Document, batches: Rows) -> Iterator[bytes]:
    """An XLSX workbook (openpyxl, write-only): the rows, then a "Method" sheet."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(clean(document.title)[:31])
    for number, column in enumerate(document.columns, 1):
        width = 40 if column.key == "description" else 18
        sheet.column_dimensions[get_column_letter(number)].width = width
    sheet.freeze_panes = "A2"
    sheet.append(_xlsx_header(sheet, document.headers))
    cells = _xlsx_cells(document, sheet)
    for batch in batches:
        for row in batch:
            sheet.append([make(v) for make, v in zip(cells, row, strict=True)])
    about = book.create_sheet(clean(document.about_title)[:31])
    about.column_dimensions["A"].width = 36
    about.column_dimensions["B"].width = 100
    for label, value in document.about:
        note = _xlsx_text(about, value)
        note.alignment = Alignment(wrap_text=True, vertical="top")
        label_cell = _xlsx_text(about, label)
        label_cell.font = Font(bold=True)
        about.append([label_cell, note])
    handle = _spooled()
    book.save(handle)
    yield from _send_back(handle)


def _date_style(name: str, parts: Sequence[Any]) -> Element:
    style = DateStyle(name=name)
    for part in parts:
        style.addElement(NumberText(text=part) if isinstance(part, str) else part(style="long"))
    return style


def _ods_styles(document: OpenDocumentSpreadsheet) -> dict[str, Element]:
    day = (Year, "-", Month, "-", Day)
    numbers = [
        _date_style("N_DAY", day),
        _date_style("N_STAMP", (*day, " ", Hours, ":", Minutes, ":", Seconds)),
        NumberStyle(name="N_DEC"),
    ]
    numbers[2].addElement(Number(decimalplaces=2, minintegerdigits=1))
    styles = {
        "date": Style(name="C_DAY", family="table-cell", datastylename="N_DAY"),
        "datetime": Style(name="C_STAMP", family="table-cell", datastylename="N_STAMP"),
        "decimal": Style(name="C_DEC", family="table-cell", datastylename="N_DEC"),
        "head": Style(name="C_HEAD", family="table-cell"),
        "wrap": Style(name="C_WRAP", family="table-cell"),
    }
    styles["head"].addElement(TextProperties(fontweight="bold"))
    styles["wrap"].addElement(TableCellProperties(wrapoption="wrap"))
    for element in (*numbers, *styles.values()):
        document.automaticstyles.addElement(element)
    return styles


ODS_COLUMN_STYLES = {"date": "date", "datetime": "datetime"} | dict.fromkeys(
    ("hours", "money", "distance"), "decimal"
)


def _ods_text_row(values: Sequence[str], style: Element | None = None) -> Element:
    row = TableRow()
    for value in values:
        cell = TableCell(valuetype="string", **({"stylename": style} if style else {}))
        cell.addElement(P(text=value))
        row.addElement(cell)
    return row


def _ods_skeleton(document: Document) -> tuple[bytes, bytes, bytes]:
    """The whole ODS with a marker row where the rows go: zip bytes and content around it."""
    ods = OpenDocumentSpreadsheet()
    styles = _ods_styles(ods)
    table = Table(name=document.title)
    for column in document.columns:
        style = styles.get(ODS_COLUMN_STYLES.get(column.kind, ""))
        table.addElement(TableColumn(defaultcellstylename=style) if style else TableColumn())
    table.addElement(_ods_text_row(document.headers, styles["head"]))
    marker = _ods_text_row([f"rows-go-here-{secrets.token_hex(16)}"])
    table.addElement(marker)
    ods.spreadsheet.addElement(table)
    about = Table(name=document.about_title)
    about.addElement(TableColumn())
    about.addElement(TableColumn(defaultcellstylename=styles["wrap"]))
    for label, value in document.about:
        about.addElement(_ods_text_row([label, value]))
    ods.spreadsheet.addElement(about)
    skeleton = io.BytesIO()
    ods.save(skeleton)
    content = ods.contentxml()
    written = io.StringIO()
    marker.toXml(1, written)
    before, found, after = content.partition(written.getvalue().encode("utf-8"))
    assert found, "the marker row is in content.xml"
    return skeleton.getvalue(), before, after


class _OdsCells:
    """One reusable odfpy cell per column, refilled for every row (no element per cell)."""

    def __init__(self, document: Document) -> None:
        self.kinds = [column.kind for column in document.columns]
        self.statuses = document.statuses
        self.empty = TableCell()
        self.row = TableRow()
        self.cells = []
        for _column in document.columns:
            cell = TableCell()
            paragraph = P(text="-")
            cell.addElement(paragraph)
            self.cells.append((cell, paragraph.childNodes[0]))

    def _fill(self, cell: Element, kind: str, value: Any) -> str:
        if kind in {"text", "status"}:
            cell.attributes = {(OFFICENS, "value-type"): "string"}
            return str(self.statuses.get(value, value) if kind == "status" else value)
        if kind == "date":
            text = value.isoformat()
            cell.attributes = {(OFFICENS, "value-type"): "date", (OFFICENS, "date-value"): text}
            return text
        if kind == "datetime":
            stamp = value.replace(tzinfo=None).isoformat(timespec="seconds")
            cell.attributes = {(OFFICENS, "value-type"): "date", (OFFICENS, "date-value"): stamp}
            return stamp.replace("T", " ")
        if kind == "hours":
            number = str(value / 60)
            text = hours_of(value)
        elif kind in {"money", "distance"}:
            number = text = euros(value) or ""
        else:
            number = text = str(value)
        cell.attributes = {(OFFICENS, "value-type"): "float", (OFFICENS, "value"): number}
        return text

    def write(self, out: IO[str], row: Sequence[Any]) -> None:
        """Serialise one row through odfpy."""
        self.row.write_open_tag(4, out)
        for (cell, text), kind, value in zip(self.cells, self.kinds, row, strict=True):
            if value is None or value == "":
                self.empty.toXml(5, out)
            elif kind == "text" and ("\n" in value or "\t" in value or "  " in value):
                _ods_lines(value).toXml(5, out)
            else:
                text.data = self._fill(cell, kind, value)
                cell.toXml(5, out)
        self.row.write_close_tag(4, out)


def _ods_lines(value: str) -> Element:
    """A text cell keeping line breaks, tabs and runs of spaces (odfpy's teletype)."""
    cell = TableCell(valuetype="string")
    paragraph = P()
    teletype.addTextToElement(paragraph, value)
    cell.addElement(paragraph)
    return cell


def _ods_zip(document: Document, batches: Rows, handle: IO[bytes]) -> None:
    skeleton, before, after = _ods_skeleton(document)
    cells = _OdsCells(document)
    with zipfile.ZipFile(io.BytesIO(skeleton)) as source, zipfile.ZipFile(handle, "w") as target:
        for info in source.infolist():
            if info.filename != "content.xml":
                target.writestr(info, source.read(info))
                continue
            member = zipfile.ZipInfo("content.xml", info.date_time)
            member.compress_type = zipfile.ZIP_DEFLATED
            with target.open(member, "w") as raw:
                raw.write(before)
                out = io.TextIOWrapper(raw, encoding="utf-8")
                for batch in batches:
                    for row in batch:
                        cells.write(out, row)
                    out.flush()
                raw.write(after)
                out.detach()


def write_ods(document: Document, batches: Rows) -> Iterator[bytes]:
    """An ODS spreadsheet (odfpy): the rows, then a "Method" sheet."""
    handle = _spooled()
    _ods_zip(document, batches, handle)
    yield from _send_back(handle)


WRITERS: dict[str, Callable[[Document, Rows], Iterator[bytes]]] = {
    "csv": write_csv,
    "json": write_json,
    "xlsx": write_xlsx,
    "ods": write_ods,
}
FORMATS = tuple(WRITERS)
