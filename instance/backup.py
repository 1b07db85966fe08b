"""Backups: a consistent snapshot of the whole database as gzipped JSON lines.

The file is portable between SQLite and PostgreSQL. Its first line is a header
(format, version, Alembic revision, creation time); then, for each table in
dependency order, a line ``{"table": name, "columns": [...]}`` followed by one
JSON array per row; a last line ``{"end": true, "rows": {table: count}}`` proves
the file is complete. Values JSON cannot hold carry a type tag, such as
``{"$datetime": "2025-01-31T12:00:00+00:00"}``.
"""

import base64
import gzip
import json
import os
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Table, func, inspect, literal, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from instance.errors import Conflict, Invalid, NotFound
from instance.migrations import alembic_config, current_revision
from schema.db import WRITE_OPTION, is_sqlite
from schema.tables._base import utcnow

FORMAT = "benefed-backup"
VERSION = 1
BATCH = 1000
COMPRESS_LEVEL = 6

_ENCODERS: tuple[tuple[type, str, Any], ...] = (
    (datetime, "$datetime", lambda v: v.isoformat()),
    (date, "$date", lambda v: v.isoformat()),
    (time, "$time", lambda v: v.isoformat()),
    (timedelta, "$timedelta", lambda v: v.total_seconds()),
    (Decimal, "$decimal", str),
    (bytes, "$bytes", lambda v: base64.b64encode(v).decode("ascii")),
    (memoryview, "$bytes", lambda v: base64.b64encode(bytes(v)).decode("ascii")),
    (uuid.UUID, "$uuid", str),
    (dict, "$json", lambda v: v),
)
_DECODERS: dict[str, Any] = {
    "$datetime": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$time": time.fromisoformat,
    "$timedelta": lambda v: timedelta(seconds=v),
    "$decimal": Decimal,
    "$bytes": lambda v: base64.b64decode(v, validate=True),
    "$uuid": uuid.UUID,
    "$json": lambda v: v,
}


@dataclass
class Summary:
    """What a backup or a restore went through: rows per table."""

    revision: str | None = None
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows in every table together."""
        return sum(self.rows.values())


def encode_value(value: Any) -> Any:
    """A column value as JSON, tagged when JSON has no such type."""
    for kind, tag, encode in _ENCODERS:
        if isinstance(value, kind):
            return {tag: encode(value)}
    return value


def decode_value(value: Any) -> Any:
    """The column value a JSON value stands for (the reverse of encode_value)."""
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError("a tagged value has exactly one key")
        ((tag, inner),) = value.items()
        if tag not in _DECODERS:
            raise ValueError(f"unknown type tag {tag!r}")
        return _DECODERS[tag](inner)
    return value


def tables(connection: Connection) -> list[Table]:
    """Every table the database holds, parents before the tables that point at them."""
    present = set(inspect(connection).get_table_names())
    return [table for table in SQLModel.metadata.sorted_tables if table.name in present]


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection inside one read-only transaction that sees a single moment."""
    with engine.connect() as connection:
        if not is_sqlite(engine):
            connection = connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        # SQLite (WAL): a read transaction keeps the snapshot of its first read.
        with connection.begin():
            yield connection


def dump_lines(connection: Connection, summary: Summary) -> Iterator[str]:
    """The lines of a backup, streamed table by table (counts go into the summary)."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "revision": summary.revision,
        "created_at": utcnow().isoformat(),
    }
    yield _line(header)
    for table in tables(connection):
        yield _line({"table": table.name, "columns": [column.name for column in table.columns]})
        query = select(table).order_by(*table.primary_key.columns)
        result = connection.execution_options(yield_per=BATCH).execute(query)
        count = 0
        for row in result:
            count += 1
            yield _line([encode_value(value) for value in row])
        summary.rows[table.name] = count
    yield _line({"end": True, "rows": summary.rows})


def _line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_backup(engine: Engine, path: Path) -> Summary:
    """Write a consistent snapshot of the whole database to a gzip file."""
    summary = Summary(revision=current_revision(engine))
    partial = path.with_name(path.name + ".partial")
    try:
        with (
            snapshot(engine) as connection,
            gzip.open(partial, "wt", encoding="utf-8", compresslevel=COMPRESS_LEVEL) as out,
        ):
            for line in dump_lines(connection, summary):
                out.write(line)
        os.replace(partial, path)
    except OSError as error:
        message = f"cannot write {path}: {error.strerror or error}"
        raise Invalid({"file": message}, message) from None
    except SQLAlchemyError as error:
        message = f"cannot read the database: {_first_line(error)}"
        raise Invalid({"file": message}, message) from None
    finally:
        partial.unlink(missing_ok=True)
    return summary


def _first_line(error: SQLAlchemyError) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _damaged(path: Path, reason: object) -> Invalid:
    message = f"{path} is damaged ({reason})"
    return Invalid({"file": message}, message)


def _not_a_backup(path: Path) -> Invalid:
    message = f"{path} is not a Benefed backup"
    return Invalid({"file": message}, message)


@contextmanager
def _reading(path: Path) -> Iterator[Iterator[str]]:
    """The lines of a backup file; reading problems become one-line errors."""
    if not path.is_file():
        raise NotFound(f"backup file not found: {path}")
    read = 0

    def counted(handle: Iterator[str]) -> Iterator[str]:
        nonlocal read
        for line in handle:
            read += 1
            yield line

    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            yield counted(handle)
    except gzip.BadGzipFile as error:
        raise (_damaged(path, error) if read else _not_a_backup(path)) from None
    except (EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _damaged(path, str(error).splitlines()[0] if str(error) else "cut short") from None
    except OSError as error:
        raise Invalid({"file": str(error)}, f"cannot read {path}: {error}") from None


def _parse_header(path: Path, line: str) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except json.JSONDecodeError:
        raise _not_a_backup(path) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _not_a_backup(path)
    if header.get("version") != VERSION:
        message = f"{path}: backup format version {header.get('version')!r} is not supported"
        raise Invalid({"file": message}, message)
    return header


def read_header(path: Path) -> dict[str, Any]:
    """The header of a backup file; raise NotFound or Invalid with a one-line message."""
    with _reading(path) as lines:
        return _parse_header(path, next(lines, ""))


def check_revision(engine: Engine, revision: str | None) -> None:
    """Refuse a backup made by a newer version (a schema revision unknown here)."""
    if revision is None:
        return
    scripts = ScriptDirectory.from_config(alembic_config(engine))
    try:
        known = scripts.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        message = (
            f"this backup comes from a newer version of Benefed (schema {revision}): "
            "upgrade Benefed first"
        )
        raise Invalid({"file": message}, message)


def is_empty(connection: Connection) -> bool:
    """True when no table holds any row."""
    for table in tables(connection):
        if connection.execute(select(literal(1)).select_from(table).limit(1)).first():
            return False
    return True


def clear(connection: Connection) -> None:
    """Delete every row, children first."""
    for table in reversed(tables(connection)):
        connection.execute(table.delete())


class _Loader:
    """Inserts the rows of a backup, table by table, in batches."""

    def __init__(self, connection: Connection, path: Path) -> None:
        self.connection = connection
        self.path = path
        self.known = {table.name: table for table in tables(connection)}
        self.table: Table | None = None
        self.columns: list[str] = []
        self.batch: list[dict[str, Any]] = []
        self.rows: dict[str, int] = {}
        self.ended = False

    def feed(self, line: str) -> None:
        """Take one line of the file."""
        if self.ended:
            raise _damaged(self.path, "data after the end")
        item = json.loads(line)
        if isinstance(item, list):
            self._row(item)
        elif isinstance(item, dict) and "table" in item:
            self._start(item)
        elif isinstance(item, dict) and item.get("end") is True:
            self._end(item)
        else:
            raise _damaged(self.path, "unexpected line")

    def _start(self, item: dict[str, Any]) -> None:
        self.flush()
        name, columns = item.get("table"), item.get("columns")
        if not isinstance(name, str) or name in self.rows or not isinstance(columns, list):
            raise _damaged(self.path, f"unexpected table {name!r}")
        if name not in self.known:
            message = f"the backup has a table this database does not have: {name}"
            raise Invalid({"file": message}, message)
        table = self.known[name]
        unknown = [column for column in columns if column not in table.columns]
        if unknown:
            raise _damaged(self.path, f"unknown columns {unknown} in table {name!r}")
        self.table, self.columns = table, columns
        self.rows[name] = 0

    def _row(self, values: list[Any]) -> None:
        if self.table is None or len(values) != len(self.columns):
            raise _damaged(self.path, "a row does not match its table")
        try:
            decoded = [decode_value(value) for value in values]
        except (ValueError, TypeError) as error:
            raise _damaged(self.path, error) from None
        self.batch.append(dict(zip(self.columns, decoded, strict=True)))
        self.rows[self.table.name] += 1
        if len(self.batch) >= BATCH:
            self.flush()

    def _end(self, item: dict[str, Any]) -> None:
        self.flush()
        if item.get("rows") != self.rows:
            raise _damaged(self.path, "row counts do not match")
        self.ended = True

    def flush(self) -> None:
        """Insert the rows waiting."""
        if self.table is not None and self.batch:
            self.connection.execute(self.table.insert(), self.batch)
        self.batch = []


def reset_sequences(connection: Connection) -> None:
    """PostgreSQL: move each id sequence past the highest id restored."""
    preparer = connection.dialect.identifier_preparer
    for table in tables(connection):
        column = table.autoincrement_column
        if column is None:
            continue
        current = select(
            func.setval(
                func.pg_get_serial_sequence(preparer.format_table(table), column.name),
                func.coalesce(func.max(column), 1),
                func.max(column).is_not(None),
            )
        )
        connection.execute(current)


def restore_backup(engine: Engine, path: Path, *, force: bool = False) -> Summary:
    """Load a backup in one transaction: into an empty database, or replacing all (force)."""
    header = read_header(path)
    check_revision(engine, header.get("revision"))
    writer = engine.execution_options(**{WRITE_OPTION: True})
    try:
        with writer.begin() as connection:
            if not force and not is_empty(connection):
                raise Conflict(
                    "the database is not empty: restore into an empty database, "
                    "or add --force to replace everything in it"
                )
            if force:
                clear(connection)
            loader = _Loader(connection, path)
            with _reading(path) as lines:
                next(lines)
                for line in lines:
                    loader.feed(line)
            if not loader.ended:
                raise _damaged(path, "cut short")
            if not is_sqlite(engine):
                reset_sequences(connection)
    except SQLAlchemyError as error:
        message = f"the backup does not fit this database: {_first_line(error)}"
        raise Invalid({"file": message}, message) from None
    return Summary(revision=header.get("revision"), rows=loader.rows)


def database_text(engine: Engine) -> str:
    """The database URL without its password, to tell the operator where data went."""
    return engine.url.render_as_string(hide_password=True)
