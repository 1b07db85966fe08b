"""Core statements run straight on the driver's cursor, for the few hottest queries.

SQLAlchemy's execution path costs about 50 µs a statement whatever the statement
(execution context, parameter processing, result metadata), several times what
SQLite takes to run a lookup by key. Recording an action runs a handful of fixed
statements, so they are compiled once per dialect here and run on the DBAPI cursor
of the session's connection, inside its transaction. Values still go through the
column types' own bind and result processors (dates, booleans, JSON), so rows read
or written this way are the same as through ``Connection.execute``.

Only plain statements qualify: no expanding ``IN`` parameters, every column typed.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import configure_mappers
from sqlalchemy.sql import ClauseElement

Processor = Callable[[Any], Any] | None
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class _Compiled:
    """One statement as one dialect's driver takes it."""

    sql: str
    positional: bool  # the driver takes a sequence in `names` order (else a dict)
    names: tuple[str, ...]  # every parameter, in the driver's order
    binders: tuple[tuple[int, Callable[[Any], Any]], ...]  # parameters a column type processes
    fixed: dict[str, Any]  # values the statement carries itself (literals turned parameters)
    read: tuple[tuple[int, Callable[[Any], Any]], ...]  # result columns with a processor

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters for one set of values (processed by their column types)."""
        if self.fixed:
            values = {**self.fixed, **values}
        found = [values[name] for name in self.names]
        for index, binder in self.binders:
            found[index] = binder(found[index])
        if self.positional:
            return found
        return dict(zip(self.names, found, strict=True))

    def row(self, found: tuple[Any, ...]) -> tuple[Any, ...]:
        """A driver row with each column's result processor applied."""
        if not self.read:
            return tuple(found)
        values = list(found)
        for index, reader in self.read:
            values[index] = reader(values[index])
        return tuple(values)


def _compile(statement: ClauseElement, dialect: Dialect) -> _Compiled:
    compiled: Any = statement.compile(dialect=dialect)
    binders: dict[str, Processor] = {}
    fixed: dict[str, Any] = {}
    for name, bind in compiled.binds.items():
        if bind.expanding:
            raise ValueError(f"expanding parameter {name!r}: run this statement through SQLAlchemy")
        binders[name] = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if not bind.required:
            fixed[name] = bind.effective_value
    columns = getattr(statement, "exported_columns", ())  # a select's, or an insert's RETURNING
    readers = [
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    ]
    read = tuple((index, reader) for index, reader in enumerate(readers) if reader is not None)
    positional = compiled.positiontup is not None
    names = tuple(compiled.positiontup if positional else binders)
    processed = tuple(
        (index, binder) for index, name in enumerate(names) if (binder := binders[name]) is not None
    )
    return _Compiled(compiled.string, positional, names, processed, fixed, read)


class DriverStatement:
    """A Core statement compiled once per dialect and run on the driver's cursor."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        #: The names of the result's columns (labels), in order.
        self.keys = tuple(column.key for column in getattr(statement, "exported_columns", ()))
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, connection: Connection) -> tuple[_Compiled, Any]:
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled.setdefault(dialect.name, _compile(self.statement, dialect))
        return compiled, connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def first_named(
        self, connection: Connection, values: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The first row of the result by column name (None: no row)."""
        found = self.first(connection, values)
        return dict(zip(self.keys, found, strict=True)) if found is not None else None

    def _execute(
        self, connection: Connection, values: Mapping[str, Any], result: Callable[[Any], R]
    ) -> tuple[_Compiled, R]:
        """Run the statement with one set of values; what `result` takes from the cursor."""
        compiled, cursor = self._for(connection)
        try:
            cursor.execute(compiled.sql, compiled.parameters(values))
            return compiled, result(cursor)
        finally:
            cursor.close()

    def first(self, connection: Connection, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of the statement's result (None: no row)."""
        compiled, found = self._execute(connection, values, lambda cursor: cursor.fetchone())
        return compiled.row(tuple(found)) if found is not None else None

    def all(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of the statement's result."""
        compiled, found = self._execute(connection, values, lambda cursor: cursor.fetchall())
        return [compiled.row(tuple(row)) for row in found]

    def run(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        return self._execute(connection, values, lambda cursor: int(cursor.rowcount))[1]

    def run_many(self, connection: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Run a statement once per set of values (one driver call)."""
        compiled, cursor = self._for(connection)
        try:
            cursor.executemany(compiled.sql, [compiled.parameters(row) for row in rows])
        finally:
            cursor.close()


def labelled(table: Any, prefix: str) -> list[Any]:
    """Every column of a table, labelled with a prefix (to read several tables in one row)."""
    return [column.label(f"{prefix}{column.name}") for column in table.c]


def plain_object(model: type[T], values: Mapping[str, Any], prefix: str) -> T | None:
    """A model object from the values named with a prefix (None when its id is NULL).

    No session tracks it and nothing is validated: the values were just read from
    its table. Read the row again through a session to change it.
    """
    if values[f"{prefix}id"] is None:
        return None
    start = len(prefix)
    fields = {name[start:]: value for name, value in values.items() if name.startswith(prefix)}
    return _construct(model, fields)


def _construct(model: type[T], fields: dict[str, Any]) -> T:
    """What ``model_construct`` makes of a whole row, without its per-field pass.

    pydantic's ``model_construct`` looks at every field for a default and an alias
    (~20 µs for an association, several per recording); a row read from the table
    has every field under its own name, so the values become the object's
    ``__dict__`` as they are. A row missing a field goes through ``model_construct``.
    """
    configure_mappers()  # the attributes need the mappers configured (a flag check once they are)
    names = model.model_fields  # type: ignore[attr-defined]
    if len(fields) != len(names) or not fields.keys() <= names.keys():
        return model.model_construct(**fields)  # type: ignore[attr-defined,no-any-return]
    made = model.__new__(model)  # SQLModel's __new__ sets pydantic's private slots
    made.__dict__.update(fields)
    object.__setattr__(made, "__pydantic_fields_set__", set(fields))
    return made
