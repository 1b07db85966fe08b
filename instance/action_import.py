"""Actions imported from a spreadsheet: every row checked first, then all written or none.

Managers who may edit every action bring past actions in at once: a paper sheet
typed up, another tool's export, or one of our own exports (its columns import
back). A file is CSV (UTF-8, or Windows' cp1252 as French spreadsheets save it;
separated by semicolons, commas or tabs) or XLSX. Columns are found by their
header, in English or French, under the names of our export; other columns are
left aside. Each row goes through the checks of a recorded action
(``action_recording.prepare_action``: dates, durations, archived entries, the
association's rules), and a row identical to an action already recorded (same
volunteer, date, duration, category and title) is refused, so importing a file
twice records nothing twice. One problem anywhere and nothing is written.
"""

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from openpyxl import load_workbook
from sqlmodel import Session, col, select

from instance.action_recording import Prepared, prepare_action, record_prepared
from instance.errors import DomainError, Forbidden, Invalid
from instance.exports import ACTION_COLUMNS
from instance.i18n import _, ngettext, translations
from schema.tables import Action, Association, Category, Level, Membership, Project, User

#: Rows one file may hold (all are written in one transaction, which writers queue behind).
MAX_ROWS = 2000
#: Problems listed at most (the rest are counted).
MAX_PROBLEMS = 100
XLSX_SIGNATURE = b"PK\x03\x04"
#: The fields a row may give, each with the headers it is found under (besides the
#: export's own labels, English and French). Bénévalibre's exports of actions
#: (Prénom, Nom, Pseudo, Durée as H:MM:SS, Durée (en heures), Distance (en km)...)
#: are read as they are, for associations moving from it.
HEADERS: dict[str, tuple[str, ...]] = {
    "date": ("date", "day", "jour"),
    "end_date": ("end_date", "date de fin"),
    "volunteer": ("volunteer", "member", "bénévole", "membre", "username", "email", "pseudo"),
    "first_name": ("first name", "prénom"),
    "last_name": ("last name", "surname", "nom"),
    "title": ("title", "titre", "intitulé"),
    "description": ("description",),
    "category": ("category", "catégorie"),
    "project": ("project", "projet"),
    "level": ("level", "niveau", "qualification"),
    "minutes": ("minutes", "durée (minutes)"),
    "hours": ("hours", "heures", "durée (en heures)"),
    "duration": ("duration", "durée"),
    "travel_minutes": ("travel_minutes",),
    "distance_km": ("distance_km", "distance", "distance (en km)", "km"),
}
REQUIRED = ("date", "category")
#: The action fields of prepare_action's messages, as the columns that gave them.
FIELD_COLUMNS = {
    "volunteer_id": "volunteer",
    "category_id": "category",
    "project_id": "project",
    "level_id": "level",
}
#: Two or more members answer to this name.
AMBIGUOUS = -1


@dataclass(frozen=True)
class Problem:
    """Something to fix in the file: its line (the header is line 1), column and message."""

    line: int
    column: str  # a field of HEADERS, or "" for the whole file or row
    message: str


class ImportRefused(DomainError):
    """The file cannot be imported as it is; nothing was written."""

    status = 422

    def __init__(self, problems: list[Problem], total: int | None = None) -> None:
        total = total if total is not None else len(problems)
        super().__init__(
            ngettext(
                "Nothing was imported: {count} problem to fix in the file.",
                "Nothing was imported: {count} problems to fix in the file.",
                total,
            ).format(count=total)
        )
        self.problems = problems[:MAX_PROBLEMS]
        self.total = total


@dataclass(frozen=True)
class Sheet:
    """A file's rows, with the column each field was found in."""

    columns: dict[str, int]
    rows: list[tuple[int, list[Any]]]  # (line, cells)
    ignored: list[str]  # headers of the columns left aside


def _folded(text: str) -> str:
    """A header or name as compared: no case, accents, extra spaces or BOM."""
    text = unicodedata.normalize("NFKD", str(text).replace("\ufeff", ""))
    text = "".join(char for char in text if not unicodedata.combining(char))
    return " ".join(text.casefold().split())


def _header_names() -> dict[str, str]:
    """Every accepted header, folded, with its field."""
    names: dict[str, str] = {}
    french = translations("fr")
    for column in ACTION_COLUMNS:
        if column.key in HEADERS:
            for label in (column.key, column.label, french.gettext(column.label)):
                names[_folded(label)] = column.key
    for field, headers in HEADERS.items():
        for header in (field, *headers):
            names.setdefault(_folded(header), field)
    return names


def read_sheet(content: bytes) -> Sheet:
    """The rows of a CSV or XLSX file; raise ImportRefused when it cannot be read."""
    if not content.strip():
        raise ImportRefused([Problem(0, "", _("The file is empty."))])
    table = _xlsx_rows(content) if content.startswith(XLSX_SIGNATURE) else _csv_rows(content)
    lines = [(line, cells) for line, cells in table if any(_present(c) for c in cells)]
    if not lines:
        raise ImportRefused([Problem(0, "", _("The file is empty."))])
    (_header_line, header), rows = lines[0], lines[1:]
    names = _header_names()
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for index, cell in enumerate(header):
        field = names.get(_folded(cell)) if _present(cell) else None
        if field is None or field in columns:
            if _present(cell):
                ignored.append(str(cell).strip())
            continue
        columns[field] = index
    missing = [field for field in REQUIRED if field not in columns]
    if "volunteer" not in columns and not {"first_name", "last_name"} <= columns.keys():
        missing.insert(1, "volunteer")
    if not columns.keys() & {"minutes", "hours", "duration"}:
        missing.append("minutes")
    if missing:
        message = _("Columns missing from the first line: {names}.").format(
            names=", ".join(missing)
        )
        raise ImportRefused([Problem(1, "", message)])
    if not rows:
        raise ImportRefused([Problem(2, "", _("The file has no action under its first line."))])
    if len(rows) > MAX_ROWS:
        raise _too_many()
    return Sheet(columns, rows, ignored)


def _too_many() -> ImportRefused:
    message = _("Import at most {count} actions at once; split the file.").format(count=MAX_ROWS)
    return ImportRefused([Problem(0, "", message)])


def _present(cell: Any) -> bool:
    return cell is not None and str(cell).strip() != ""


def _csv_rows(content: bytes) -> list[tuple[int, list[Any]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")
    if "\x00" in text:
        raise ImportRefused([Problem(0, "", _("This is not a CSV or XLSX file."))])
    first = text.split("\n", 1)[0]
    separator = max((";", ",", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    try:
        return [(reader.line_num, row) for row in _limited(reader)]
    except csv.Error:
        raise ImportRefused([Problem(0, "", _("This is not a CSV or XLSX file."))]) from None


def _limited(rows: Iterable[list[Any]]) -> Iterator[list[Any]]:
    """The rows, refusing a file far past the limit before reading it all."""
    for count, row in enumerate(rows):
        if count > MAX_ROWS + 1000:
            raise _too_many()
        yield row


def _xlsx_rows(content: bytes) -> list[tuple[int, list[Any]]]:
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds on a damaged or foreign file
        raise ImportRefused([Problem(0, "", _("This is not a CSV or XLSX file."))]) from None
    try:
        sheet = book.worksheets[0]
        rows = _limited(list(row) for row in sheet.iter_rows(values_only=True))
        return [(line, row) for line, row in enumerate(rows, start=1)]
    finally:
        book.close()


# -- from cells to an action's fields ---------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """The association's members and entries by folded name (members: AMBIGUOUS when shared)."""

    members: dict[str, int]
    categories: dict[str, int]
    projects: dict[str, int]
    levels: dict[str, int]


def association_names(session: Session, association: Association) -> Names:
    """Who and what a row may name: active members, and every category, project and level."""
    members: dict[str, int] = {}
    query = (
        select(Membership, User)
        .join(User, col(Membership.user_id) == col(User.id), isouter=True)
        .where(Membership.association_id == association.id, Membership.status == "active")
    )
    for membership, user in session.exec(query):
        assert membership.id is not None
        known = [membership.label] if user is None else [user.display_name, user.username]
        if user is not None:
            known.append(user.email)
        for name in {_folded(n) for n in known if n}:
            previous = members.get(name)
            members[name] = membership.id if previous in (None, membership.id) else AMBIGUOUS
    entries = []
    for model in (Category, Project, Level):
        rows = session.exec(
            select(model.id, model.name).where(model.association_id == association.id)  # type: ignore[attr-defined]
        )
        entries.append({_folded(name): entry_id for entry_id, name in rows})
    return Names(members, *entries)


def row_data(cells: list[Any], columns: Mapping[str, int], names: Names) -> dict[str, Any]:
    """The fields of a new action from a row (as the API takes them); raise Invalid by column."""

    def cell(field: str) -> Any:
        index = columns.get(field)
        if index is None or index >= len(cells) or not _present(cells[index]):
            return None
        value = cells[index]
        return value.strip() if isinstance(value, str) else value

    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        "title": _text(cell("title")),
        "description": _text(cell("description")),
    }
    for field, read in (("date", _day), ("end_date", _day)):
        value = cell(field)
        if value is not None:
            data[field] = read(value)
        elif field == "date":
            errors["date"] = _("Enter a date like 2024-03-31.")
    try:
        data["minutes"] = _minutes(cell("minutes"), cell("hours"), cell("duration"))
    except Invalid as error:
        errors.update(error.errors)
    if (travel := cell("travel_minutes")) is not None:
        data["travel_minutes"] = _whole(travel)
    if (distance := cell("distance_km")) is not None:
        data["distance_km"] = str(distance)
    full_name = " ".join(_text(cell(part)) for part in ("first_name", "last_name")).strip()
    volunteer, member = None, None
    for candidate in (cell("volunteer"), full_name or None):  # a username, else first + last
        if candidate is not None and member is None:
            volunteer, member = str(candidate), names.members.get(_folded(candidate))
    if volunteer is None:
        errors["volunteer"] = _("Name the volunteer.")
    elif member is None:
        errors["volunteer"] = _("No active member of this association is called {name}.").format(
            name=volunteer
        )
    elif member == AMBIGUOUS:
        errors["volunteer"] = _(
            "Several members are called {name}: give their username or email instead."
        ).format(name=volunteer)
    else:
        data["volunteer_id"] = member
    for field, known in (
        ("category", names.categories),
        ("project", names.projects),
        ("level", names.levels),
    ):
        value = cell(field)
        if value is None:
            if field == "category":
                errors["category"] = _("Choose a category.")
            continue
        entry = known.get(_folded(value))
        if entry is None:
            errors[field] = _("This association has no entry called {name}.").format(name=value)
        else:
            data[f"{field}_id"] = entry
    if errors:
        raise Invalid(errors)
    return data


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _day(value: Any) -> Any:
    """A cell's date as 'YYYY-MM-DD' (XLSX dates, 31/03/2024 and 2024-03-31); else as it is."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    found = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if found:
        day, month, year = (int(part) for part in found.groups())
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            return text
    return text[:10] if re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T].*)?", text) else text


def _whole(value: Any) -> Any:
    """A whole number from a cell (XLSX numbers may come as 30.0); else as it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,9}", value):
        return int(value)
    return value


def _minutes(minutes: Any, hours: Any, duration: Any = None) -> Any:
    """The duration in minutes: the minutes column, else hours (1.5, 1,5, 1:30 or 1h30),
    else a duration as Bénévalibre writes it (1:30:00, or 1 day, 2:00:00)."""
    if minutes is not None:
        return _whole(minutes)
    field, value = ("hours", hours) if hours is not None else ("duration", duration)
    if value is None:
        raise Invalid({"minutes": _("Enter a duration.")})
    text = str(value).strip().lower()
    clock = re.fullmatch(r"(?:(\d{1,3}) days?, )?(\d{1,3})\s*[:h]\s*(\d{1,2})?(?::(\d{2}))?", text)
    if clock:
        days, whole, part, seconds = (int(group or 0) for group in clock.groups())
        return (days * 24 + whole) * 60 + part + (1 if seconds >= 30 else 0)
    try:
        amount = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise Invalid({field: _("Enter hours like 1.5 or 1:30.")}) from None
    if not amount.is_finite() or amount < 0:
        raise Invalid({field: _("Enter hours like 1.5 or 1:30.")})
    return int((amount * 60).to_integral_value())


# -- checking and writing ------------------------------------------------------------------


def _column(field: str) -> str:
    return FIELD_COLUMNS.get(field, field)


def _recorded(session: Session, association: Association, rows: list[dict[str, Any]]) -> set[Any]:
    """The (volunteer, date, minutes, category, title) of the actions already recorded that the
    rows could repeat (same volunteers, within the rows' dates)."""
    days = [row["date"] for row in rows if isinstance(row.get("date"), date)]
    volunteers = {row["membership_id"] for row in rows if row.get("membership_id")}
    if not days or not volunteers:
        return set()
    query = select(
        Action.membership_id, Action.date, Action.minutes, Action.category_id, Action.title
    ).where(
        Action.association_id == association.id,
        col(Action.date) >= min(days),
        col(Action.date) <= max(days),
        col(Action.membership_id).in_(volunteers),
    )
    return set(session.exec(query).all())


def prepare_import(
    session: Session,
    *,
    association: Association,
    user: User,
    sheet: Sheet,
    today: date,
) -> list[tuple[int, Prepared]]:
    """Check every row of a sheet (in a read); raise ImportRefused listing every problem."""
    names = association_names(session, association)
    problems: list[Problem] = []
    prepared: list[tuple[int, Prepared]] = []
    for line, cells in sheet.rows:
        try:
            data = row_data(cells, sheet.columns, names)
            prepared.append(
                (
                    line,
                    prepare_action(
                        session,
                        association=association,
                        user=user,
                        data=data,
                        today=today,
                        source="import",
                    ),
                )
            )
        except Invalid as error:
            problems += [Problem(line, _column(f), m) for f, m in error.errors.items()]
        except Forbidden as error:
            raise ImportRefused([Problem(line, "", error.message)]) from None
    recorded = _recorded(session, association, [p.row for _line, p in prepared])
    for line, ready in prepared:
        row = ready.row
        key = (row["membership_id"], row["date"], row["minutes"], row["category_id"], row["title"])
        if key in recorded:
            message = _("Already recorded: the same volunteer, date, duration, category and title.")
            problems.append(Problem(line, "", message))
    if problems:
        problems.sort(key=lambda problem: problem.line)
        raise ImportRefused(problems)
    return prepared


def record_import(session: Session, prepared: list[tuple[int, Prepared]]) -> list[Action]:
    """Write checked rows in the caller's write transaction (checked again where things changed)."""
    written = []
    for line, ready in prepared:
        try:
            written.append(record_prepared(session, ready))
        except Invalid as error:
            problems = [Problem(line, _column(f), m) for f, m in error.errors.items()]
            raise ImportRefused(problems) from None
    return written
