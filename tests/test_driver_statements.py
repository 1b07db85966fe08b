"""Statements run on the driver's cursor read and write what SQLAlchemy's execution would."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import bindparam, func, insert, select

from schema.db import Database
from schema.driver_statements import DriverStatement, labelled, plain_object
from schema.tables import ActionEvent, Association, User

ASSOCIATION = Association.__table__  # type: ignore[attr-defined]
EVENT = ActionEvent.__table__  # type: ignore[attr-defined]
EVENT_COLUMNS = ("action_id", "association_id", "kind", "changes", "at")
LOG = DriverStatement(
    insert(EVENT)
    .values({name: bindparam(name) for name in EVENT_COLUMNS})
    .returning(EVENT.c.id, EVENT.c.at, EVENT.c.changes)
)
BY_SLUG = select(
    ASSOCIATION.c.id.label("the_id"),
    ASSOCIATION.c.is_hidden,
    ASSOCIATION.c.earliest_date,
    ASSOCIATION.c.created_at,
    ASSOCIATION.c.name,
).where(ASSOCIATION.c.slug == bindparam("slug"), ASSOCIATION.c.is_archived.is_(False))
READ = DriverStatement(BY_SLUG)
CHANGES = {"minutes": [30, 60], "title": "Répétition « générale »"}
AT = datetime(2026, 12, 1, 8, 0, 0, 0, tzinfo=UTC)


def _association(db: Database, slug: str, **values: object) -> int:
    with db.write() as session:
        association = Association(slug=slug, name=f"Les amis de {slug}", **values)
        session.add(association)
        session.flush()
        assert association.id is not None
        return association.id


def test_rows_read_on_the_driver_equal_sqlalchemys(db: Database) -> None:
    first = _association(db, "jardin", is_hidden=True, earliest_date=date(2024, 1, 31))
    _association(db, "velo")
    with db.read() as session:
        connection = session.connection()
        for slug in ("jardin", "velo"):
            expected = tuple(connection.execute(BY_SLUG, {"slug": slug}).one())
            found = READ.first(connection, {"slug": slug})
            assert found == expected
            assert [type(value) for value in found or ()] == [type(v) for v in expected]
        assert READ.first(connection, {"slug": "absent"}) is None
        jardin = READ.first(connection, {"slug": "jardin"})
    assert READ.keys == ("the_id", "is_hidden", "earliest_date", "created_at", "name")
    assert jardin is not None
    assert jardin[:3] == (first, True, date(2024, 1, 31))
    assert isinstance(jardin[3], datetime) and jardin[3].tzinfo is not None


def test_writes_take_the_column_types_processing(db: Database) -> None:
    association_id = _association(db, "chorale")
    rows = [
        {
            "action_id": n,
            "association_id": association_id,
            "kind": "edit",
            "changes": CHANGES,
            "at": AT,
        }
        for n in (1, 2)
    ]
    with db.write() as session:
        connection = session.connection()
        LOG.run_many(connection, rows)
        returned = LOG.first(connection, {**rows[0], "action_id": 3})
    # RETURNING goes through the column types too: JSON decoded, an aware datetime.
    assert returned is not None and returned[1:] == (AT, CHANGES)
    with db.read() as session:
        events = list(session.exec(select(ActionEvent).order_by(EVENT.c.action_id)).scalars())
    assert [(e.action_id, e.changes, e.at) for e in events] == [(n, CHANGES, AT) for n in (1, 2, 3)]
    assert events[-1].id == returned[0]


def test_a_failed_statement_rolls_back_with_the_session(db: Database) -> None:
    association_id = _association(db, "theatre")
    row = {
        "action_id": 1,
        "association_id": association_id,
        "kind": "create",
        "changes": {},
        "at": AT,
    }
    with pytest.raises(Exception, match="(?i)foreign key|violates"), db.write() as session:
        LOG.run(session.connection(), row)
        LOG.run(session.connection(), {**row, "association_id": association_id + 1000})
    with db.read() as session:
        assert session.exec(select(func.count()).select_from(EVENT)).scalar() == 0


def test_expanding_parameters_are_refused(db: Database) -> None:
    user = User.__table__  # type: ignore[attr-defined]
    statement = DriverStatement(
        select(user.c.id).where(user.c.id.in_(bindparam("ids", expanding=True)))
    )
    with db.read() as session, pytest.raises(ValueError, match="expanding parameter 'ids'"):
        statement.first(session.connection(), {"ids": [1, 2]})


def test_plain_objects_equal_what_the_orm_reads(db: Database) -> None:
    association_id = _association(db, "cirque", earliest_date=date(2025, 9, 1))
    labelled_read = DriverStatement(
        select(*labelled(ASSOCIATION, "a_")).where(ASSOCIATION.c.id == bindparam("id"))
    )
    with db.read() as session:
        row = labelled_read.first_named(session.connection(), {"id": association_id})
        orm = session.get(Association, association_id)
    assert row is not None and orm is not None
    plain = plain_object(Association, row, "a_")
    assert isinstance(plain, Association)
    assert plain.model_dump() == orm.model_dump()
    assert plain.model_fields_set == set(Association.model_fields)
    assert plain.earliest_date == date(2025, 9, 1) and plain.slug == "cirque"
    # A row missing some fields is made by pydantic's own path, defaults filled in.
    partial = plain_object(Association, {"a_id": 7, "a_slug": "x", "a_name": "X"}, "a_")
    assert partial is not None and partial.model_fields_set == {"id", "slug", "name"}
    assert partial.is_hidden is False
    assert plain_object(Association, {**row, "a_id": None}, "a_") is None
