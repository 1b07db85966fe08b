"""year rows of the categories, projects and levels in the rollups; one index less

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 20:10:00

The rollups gain year rows of the categories, projects and levels
(instance/rollups.py YEAR_DIMENSIONS; the volunteers' came with 0002), added up from
the monthly rows already kept (a data step, written by hand), and lose the covering
index ix_action_rollup_key_hours; on SQLite the table becomes WITHOUT ROWID.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DIMENSIONS = ("category", "project", "level")
_COUNTERS = (
    "minutes_counted",
    "minutes_pending",
    "travel_minutes_counted",
    "travel_minutes_pending",
    "actions_counted",
    "actions_pending",
    "valued_actions",
    "valued_cents",
    "travel_valued_cents",
    "distance_hundredths",
)


_KEY_HOURS_COLUMNS = [
    "association_id",
    "dimension",
    "key_id",
    "month",
    "actions_counted",
    "minutes_counted",
    "travel_minutes_counted",
]


def upgrade() -> None:
    # Every recording changed 13 entries of this index (its counters move): the year rows
    # make it unneeded, and the writes lighter.
    with op.batch_alter_table("action_rollup", schema=None) as batch_op:
        batch_op.drop_index("ix_action_rollup_key_hours")
    if op.get_bind().dialect.name == "sqlite":
        # Rows kept in the primary key's B-tree (schema/tables/actions.py Rollup).
        with op.batch_alter_table(
            "action_rollup", recreate="always", table_kwargs={"sqlite_with_rowid": False}
        ):
            pass
    names = ", ".join(_COUNTERS)
    sums = ", ".join(f"SUM({name})" for name in _COUNTERS)
    dimensions = ", ".join(f"'{name}'" for name in _DIMENSIONS)
    op.execute(
        f"INSERT INTO action_rollup (association_id, dimension, month, key_id, {names}) "
        f"SELECT association_id, 'year_' || dimension, substr(month, 1, 4), key_id, {sums} "
        f"FROM action_rollup WHERE dimension IN ({dimensions}) "
        "GROUP BY association_id, dimension, substr(month, 1, 4), key_id"
    )


def downgrade() -> None:
    dimensions = ", ".join(f"'year_{name}'" for name in _DIMENSIONS)
    op.execute(f"DELETE FROM action_rollup WHERE dimension IN ({dimensions})")
    with op.batch_alter_table("action_rollup", schema=None) as batch_op:
        batch_op.create_index("ix_action_rollup_key_hours", _KEY_HOURS_COLUMNS, unique=False)
