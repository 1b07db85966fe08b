"""The migrations build exactly the tables the models describe, on SQLite and PostgreSQL,
and carry the data over."""

from datetime import timedelta
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from instance import migrations, rollups
from schema.db import Database, make_engine
from tests.conftest import TEST_DATABASE_URL
from tests.factories import make_user
from tests.network_support import add_member, add_report, make_network
from tests.test_actions_support import today
from tests.test_network_sums import stored
from tests.test_rollups_property import build_scene, run_step


def empty_engine(tmp_path: Path) -> Engine:
    """An empty test database (PostgreSQL's emptied, SQLite's new)."""
    engine = make_engine(TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'migrated.db'}")
    if engine.dialect.name == "postgresql":
        SQLModel.metadata.drop_all(engine)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    return engine


def test_migrations_match_the_models(tmp_path: Path) -> None:
    engine = empty_engine(tmp_path)
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == [], "models changed without a migration: " + repr(differences[:5])
    migrations.upgrade(engine)  # running again changes nothing
    engine.dispose()


def test_the_migration_sums_the_reports_already_received(tmp_path: Path) -> None:
    """Migration 0003 fills the network sums from the reports a network already holds."""
    engine = empty_engine(tmp_path)
    migrations.upgrade(engine)
    db = Database(engine)
    network = make_network(db, make_user(db))
    members = [add_member(db, network, name=f"Asso {n}") for n in range(3)]
    for number, member in enumerate(members):
        for month in ("2024-01", "2024-02"):
            add_report(
                db,
                network,
                member,
                month,
                minutes=100 + number,
                volunteers=None if number == 0 else 6,
                valued_cents=None if number == 1 else 1234,
                categories={} if number == 0 else {"other": 60, "x": 40},
                proof_status="invalid signature"
                if number == 2 and month == "2024-02"
                else "verified",
            )
    before = stored(db, network)
    assert before[0] and before[1] and before[2]
    config = migrations.alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    migrations.upgrade(engine)
    assert stored(db, network) == before
    engine.dispose()


def test_the_migration_adds_year_rows_to_the_rollups(tmp_path: Path) -> None:
    """Migration 0004 adds the categories', projects' and levels' year rows up from the months."""
    engine = empty_engine(tmp_path)
    migrations.upgrade(engine)
    db = Database(engine)
    scene = build_scene(db, {})
    for days, minutes, category, level in ((3, 60, 0, 0), (40, 90, 1, 1), (400, 45, 0, None)):
        step = {"op": "create", "member": days, "days": days, "minutes": minutes}
        run_step(scene, {**step, "category": category, "level": level, "project": days % 2})
    association_id = scene.association.id
    assert association_id is not None
    with db.read() as session:
        before = rollups.stored(session, association_id)
        assert before == rollups.recount(session, association_id)
    years = {key for key in before if key[1] in ("year_category", "year_project", "year_level")}
    assert {month for month, _dimension, _key in years} == {
        str((today() - timedelta(days=days)).year) for days in (3, 40, 400)
    }
    config = migrations.alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    with db.read() as session:
        assert set(rollups.stored(session, association_id)) == set(before) - years
    migrations.upgrade(engine)
    with db.read() as session:
        assert rollups.stored(session, association_id) == before
    engine.dispose()
