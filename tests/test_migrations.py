"""The migrations build exactly the tables the models describe, on SQLite and PostgreSQL."""

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from instance import migrations
from schema.db import make_engine
from tests.conftest import TEST_DATABASE_URL


def test_migrations_match_the_models(tmp_path: Path) -> None:
    engine = make_engine(TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'migrated.db'}")
    if engine.dialect.name == "postgresql":
        SQLModel.metadata.drop_all(engine)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == [], "models changed without a migration: " + repr(differences[:5])
    migrations.upgrade(engine)  # running again changes nothing
    engine.dispose()
