"""Alembic environment: runs the migrations on the engine handed over by instance.migrations."""

from alembic import context
from sqlmodel import SQLModel

import schema.tables  # noqa: F401  (registers every table)

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    """Run against the connection given in the Alembic config attributes."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
